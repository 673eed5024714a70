import ClusterState
import Orchestration

/// The leader's control loops as the control-plane simulator drives them: one value per
/// leadership term, fed heartbeats, asked for commands every round. A protocol so tests can run
/// the simulator against a deliberately broken orchestrator.
public protocol LeaderControlLoops {
    /// This manager just became leader and has applied every entry committed before its term.
    mutating func leadershipStarted(at now: Timestamp)
    mutating func recordHeartbeat(nodeID: String, at now: Timestamp)
    /// One round: node liveness, then orchestration. The caller proposes the commands and calls
    /// again once they are applied (or after a timeout).
    mutating func round(_ state: ClusterState, now: Timestamp) -> [ClusterCommand]
}

/// The production loops: the dispatcher's heartbeat monitor and the orchestrator.
public struct StandardControlLoops: LeaderControlLoops {
    var heartbeats = HeartbeatMonitor()
    var orchestrator: Orchestrator

    public init(seed: UInt64) {
        orchestrator = Orchestrator(seed: seed)
    }

    public mutating func leadershipStarted(at now: Timestamp) {
        heartbeats.leadershipStarted(at: now)
    }

    public mutating func recordHeartbeat(nodeID: String, at now: Timestamp) {
        heartbeats.recordHeartbeat(nodeID: nodeID, at: now)
    }

    public mutating func round(_ state: ClusterState, now: Timestamp) -> [ClusterCommand] {
        heartbeats.evaluate(state, now: now) + orchestrator.reconcile(state, now: now)
    }
}
