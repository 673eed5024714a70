import ClusterState

/// Node liveness as the leader's dispatcher sees it: a node that has not sent a heartbeat for
/// five heartbeat periods is DOWN (its tasks are then replaced), and a DOWN or unknown node that
/// heartbeats again is READY. Pure, so the shell and the simulator drive it with their own clocks.
///
/// After a leader change nobody has heartbeats on record yet: `leadershipStarted(at:)` starts
/// every node's clock then and doubles its first grace period, so healthy workers have time to
/// find the new leader before they are declared down.
public struct HeartbeatMonitor: Sendable {
    /// Missed periods before a node is declared down.
    public static let missedPeriods: UInt64 = 5
    public static let downMessage = "heartbeat failure"

    private var lastHeartbeat: [String: Timestamp] = [:]
    private var leadershipStart: Timestamp?
    /// Status changes proposed but not yet seen in the state, with when they were proposed.
    private var proposed: [String: (state: NodeState, at: Timestamp)] = [:]

    public init() {}

    public mutating func recordHeartbeat(nodeID: String, at time: Timestamp) {
        if let known = lastHeartbeat[nodeID], known > time { return }
        lastHeartbeat[nodeID] = time
    }

    /// This manager became leader at `time`: forget what a previous term knew and grant grace.
    public mutating func leadershipStarted(at time: Timestamp) {
        leadershipStart = time
        lastHeartbeat.removeAll()
        proposed.removeAll()
    }

    /// The `setNodeStatus` commands for nodes whose liveness changed, in node id order. A change
    /// is proposed again only if it has not shown up in the state after one period.
    public mutating func evaluate(_ state: ClusterState, now: Timestamp) -> [ClusterCommand] {
        let period = Self.periodMillis(state)
        let grace = period * Self.missedPeriods
        if leadershipStart == nil { leadershipStart = now }
        var commands: [ClusterCommand] = []
        for node in state.sortedNodes {
            let wanted: NodeState
            if let seen = lastHeartbeat[node.id], now.millisecondsSinceEpoch <= seen.millisecondsSinceEpoch + grace {
                wanted = .ready
            } else if now.millisecondsSinceEpoch > deadline(of: node.id, grace: grace) {
                wanted = .down
            } else {
                continue
            }
            if node.status.state == wanted {
                proposed[node.id] = nil
                continue
            }
            if let pending = proposed[node.id], pending.state == wanted,
               now.millisecondsSinceEpoch < pending.at.millisecondsSinceEpoch + period { continue }
            proposed[node.id] = (wanted, now)
            commands.append(.setNodeStatus(id: node.id, state: wanted, message: wanted == .down ? Self.downMessage : nil, at: now))
        }
        return commands
    }

    /// The last moment a node may stay silent: grace after its last heartbeat, or twice the grace
    /// after this leadership started if it has not heartbeated since.
    private func deadline(of nodeID: String, grace: UInt64) -> UInt64 {
        if let seen = lastHeartbeat[nodeID] { return seen.millisecondsSinceEpoch + grace }
        return leadershipStart!.millisecondsSinceEpoch + 2 * grace
    }

    static func periodMillis(_ state: ClusterState) -> UInt64 {
        let nanos = state.cluster?.spec.dispatcher.heartbeatPeriod ?? 1_000_000_000
        return max(1, UInt64(max(nanos, 0)) / 1_000_000)
    }
}
