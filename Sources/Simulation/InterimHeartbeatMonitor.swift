import ClusterState

/// Stand-in for Orchestration's `HeartbeatMonitor` until it lands on this branch (same calls):
/// a node not heard from for `missedPeriods` heartbeat periods is DOWN, a node heard from again
/// is READY; a new leader gives every node a full grace period.
struct InterimHeartbeatMonitor {
    var periodMillis: UInt64 = 1_000
    var missedPeriods: UInt64 = 5
    private var lastHeard: [String: Timestamp] = [:]
    private var leaderSince: Timestamp?

    mutating func leadershipStarted(at now: Timestamp) {
        leaderSince = now
        lastHeard = [:]
    }

    mutating func recordHeartbeat(nodeID: String, at now: Timestamp) {
        lastHeard[nodeID] = now
    }

    func evaluate(_ state: ClusterState, now: Timestamp) -> [ClusterCommand] {
        var commands: [ClusterCommand] = []
        let grace = periodMillis * missedPeriods
        for node in state.sortedNodes {
            let heard = lastHeard[node.id] ?? leaderSince ?? now
            let silent = now.millisecondsSinceEpoch - min(heard.millisecondsSinceEpoch, now.millisecondsSinceEpoch)
            if silent > grace {
                if node.status.state != .down {
                    commands.append(.setNodeStatus(id: node.id, state: .down, message: "heartbeat failure", at: now))
                }
            } else if lastHeard[node.id] != nil && node.status.state != .ready {
                commands.append(.setNodeStatus(id: node.id, state: .ready, message: nil, at: now))
            }
        }
        return commands
    }
}
