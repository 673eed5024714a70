import ClusterState
import Dispatcher
import Raft
import Transport

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
