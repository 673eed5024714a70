import ClusterState
import Executor

/// Placeholder: the worker-side agent (see the issue on orchestration).
public final class Agent {}
