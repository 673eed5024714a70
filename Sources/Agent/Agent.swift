import ClusterState
import Executor

/// Placeholder with the agent's public API; the real agent lands from its own branch.
public final class Agent: Sendable {
    public init(dataDirectory: String, executor: any Executor, now: @escaping @Sendable () -> Timestamp,
                onReport: @escaping @Sendable () -> Void) throws {}
    public func setAssignments(_ tasks: [SwarmTask]) {}
    public func pendingReports() -> [TaskStatusUpdate] { [] }
    public func shutdown() {}
}
