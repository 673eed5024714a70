import ClusterState

/// What the agent core asks its runner to do. The runner (the node shell, or the simulator's
/// fake executor) carries each action out and answers with an `AgentEvent`.
///
/// It exists so that every decision of the agent is a value a test can compare, and so that the
/// simulator and the node run the same decisions. Actions of one task must be carried out in the
/// order they were returned (the node runs them on one serial queue per task).
public enum AgentAction: Equatable, Sendable {
    /// Prepare a container for `task` (pull the image, build the bundle); answer `.prepared` or `.prepareFailed`.
    case prepare(SwarmTask)
    /// Start the prepared container; answer `.started` (or `.startFailed`), and `.exited` when it ends by itself.
    case start(taskID: String, container: String)
    /// Follow the container's health check; answer `.health` whenever the verdict changes.
    case watchHealth(taskID: String, container: String)
    /// Stop the container (stop signal, then SIGKILL after the grace period); answer `.stopped`.
    case stop(taskID: String, container: String)
    /// Delete the container of a task the agent forgot (stopping it first when `stopFirst`); no answer.
    case remove(taskID: String, container: String, stopFirst: Bool)
    /// Re-attach to a container that a previous run of this node started (logs, exit, health);
    /// answer `.adopted` or `.adoptionFailed`.
    case adopt(SwarmTask, container: String)
    /// The agent's records changed: write `AgentCore.records` (atomically).
    case persist
    /// A status changed: send `AgentCore.pendingReports()` to the managers.
    case report
    /// Call `AgentCore.tick(now:)` at (or after) this time: a draining task stops then.
    case wake(at: Timestamp)
}

/// What happened to a task, as the runner tells the agent core.
public enum AgentEvent: Equatable, Sendable {
    case prepared(taskID: String, container: String)
    case prepareFailed(taskID: String, reason: String)
    case started(taskID: String, pid: Int64?)
    case startFailed(taskID: String, reason: String)
    /// The container's health check verdict (true: healthy).
    case health(taskID: String, healthy: Bool)
    /// The container ended by itself.
    case exited(taskID: String, TaskExit)
    /// The stop asked for has finished (exit code when the container had run).
    case stopped(taskID: String, exitCode: Int64?)
    /// A container of a previous run is running and re-attached.
    case adopted(taskID: String, pid: Int64?)
    /// A container of a previous run is not running any more: `exit` says how it ended when the
    /// executor knows, nil when it is gone (e.g. the machine rebooted).
    case adoptionFailed(taskID: String, exit: TaskExit?)
}

/// How a container ended, in the terms the agent reports (Docker's exit code; 137 for OOM).
public struct TaskExit: Equatable, Sendable, Codable {
    public var code: Int64
    public var oomKilled: Bool

    public init(code: Int64, oomKilled: Bool = false) {
        self.code = code
        self.oomKilled = oomKilled
    }
}

/// One task as the agent persists it (`DATA/worker/tasks.json`), so that a restarted agent knows
/// which containers are its own and can re-adopt them.
public struct AgentRecord: Codable, Equatable, Sendable {
    /// The managers' view of the task when last seen (its spec is needed to re-attach health
    /// checks and logs). Absent in files written before re-adoption existed.
    public var task: SwarmTask?
    public var container: String?
    public var status: TaskStatus?
    public var pid: Int64?

    public init(task: SwarmTask?, container: String?, status: TaskStatus?, pid: Int64?) {
        self.task = task
        self.container = container
        self.status = status
        self.pid = pid
    }
}
