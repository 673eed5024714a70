import ClusterState
import Dispatcher
import Raft
import Transport

/// Totals of the dispatcher's repairs on this node since it started (shown by `swarmctl info`).
struct DispatcherTotals {
    /// Full sets the leader sent because a node had a hole, another stream or lagged.
    var resyncs: UInt64 = 0
    /// Nodes sent their full set again by the acknowledgement guard.
    var unacknowledgedResends: UInt64 = 0
    /// Tasks the acknowledgement guard marked failed.
    var unacknowledgedFailures: UInt64 = 0
    /// Holes this node's agent saw in its own assignment stream.
    var gapsSeen: UInt64 = 0
}

// The node as the host of its dispatcher runner: the Raft view it dispatches under and the
// connections its assignment messages go out on.
extension SwarmNode: DispatcherRunnerHost {
    var dispatchingTerm: UInt64? {
        guard let log = replicatedLog, log.raft.role == .leader, log.raft.appliedIndex > 0,
              log.raft.term(at: log.raft.appliedIndex) == log.raft.term else { return nil }
        return log.raft.term
    }

    var isLeader: Bool { replicatedLog?.raft.role == .leader }

    /// After applying commands that touched tasks: send every session its changes.
    func pushAllAssignments() {
        dispatcherRunner.pushAllAssignments(in: state, ownAck: assignmentReceiver.ack)
    }

    /// The leader's own agent gets its messages without the network; others on the connection
    /// their heartbeats arrive on, in parts when the payloads would not fit one frame.
    func deliverAssignments(_ message: AssignmentMessage, to nodeID: String, link: UInt64?) {
        if nodeID == identity.nodeID { return receiveAssignments(message, from: identity.transportID) }
        guard let link, let connection = nodeConnections[nodeID], connection.rawValue == link else { return }
        for part in message.split(maxPayloadBytes: AssignmentMessage.defaultMaxPayloadBytesPerPart) {
            guard let frame = ApplicationFrame(assignments: part) else {
                return logger.error("assignments: message \(message.session):\(message.version) for node \(nodeID.prefix(12)) does not encode: not sent")
            }
            // A part not sent leaves the message incomplete on the node: it asks for the full set.
            guard transport.reply(application: frame, on: connection) else { return }
        }
    }

    /// Agents' reports arriving at this manager (`DispatcherRunner.bufferTaskReports`).
    func bufferTaskReports(_ updates: [TaskStatusUpdate]) {
        guard raft != nil else { return }
        dispatcherRunner.bufferTaskReports(updates)
    }
}
