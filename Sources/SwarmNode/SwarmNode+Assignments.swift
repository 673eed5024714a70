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

// The dispatcher's task half (leader only): runs the pure `AssignmentDispatcher` (a full set
// when a node's session starts or it fell out of step, versioned increments after) and the
// `AcknowledgementGuard`, and batches the agents' status reports into few Raft proposals.
extension SwarmNode {
    /// Longest a report waits in the buffer, so many agents' reports share one entry.
    static let reportFlushMillis = 10
    /// Most reports in one proposal; a bigger backlog is split.
    static let maxReportsPerProposal = 512

    /// Whether this node leads and has applied an entry of its own term (its state then holds
    /// everything any earlier leader sent): only then does it dispatch. Creates this
    /// leadership's dispatcher and guard on first use.
    func dispatcherIsReady() -> Bool {
        guard let current = raft, current.role == .leader, current.appliedIndex > 0,
              current.term(at: current.appliedIndex) == current.term else { return false }
        if assignmentDispatcher?.term != current.term {
            let inFlight = AssignmentDispatcher.inFlightMillis(heartbeatPeriodMillis: UInt64(configuration.dispatcherHeartbeatMillis))
            assignmentDispatcher = AssignmentDispatcher(term: current.term, inFlightMillis: inFlight)
            acknowledgementGuard = AcknowledgementGuard(timeoutMillis: UInt64(configuration.effectiveDispatcherAckTimeoutMillis))
        }
        return true
    }

    /// A node heartbeated the leader (or the leader's own round, `link` 0): answer with what it
    /// misses, if anything.
    func dispatchHeartbeat(nodeID: String, link: UInt64, ack: AssignmentAck) {
        guard dispatcherIsReady() else { return }
        let before = assignmentDispatcher!.resyncs
        let tasks = assignedTasks(onNode: nodeID)
        let message = assignmentDispatcher!.heartbeat(node: nodeID, link: link, ack: ack, items: tasks,
                                                      extra: PayloadDelivery.payloads(for: tasks, in: state), now: Clock.now())
        if assignmentDispatcher!.resyncs > before {
            dispatcherTotals.resyncs += 1
            logger.info("assignments: node \(nodeID.prefix(12)) is out of step (has \(ack.session):\(ack.version)): sending its full set")
        }
        if let message { deliverAssignments(message, to: nodeID) }
    }

    /// After applying commands that touched tasks: send every session its changes.
    func pushAllAssignments() {
        guard assignmentsChanged, dispatcherIsReady() else { return }
        assignmentsChanged = false
        if assignmentDispatcher!.link(of: identity.nodeID) == nil {
            dispatchHeartbeat(nodeID: identity.nodeID, link: 0, ack: assignmentReceiver.ack)
        }
        let now = Clock.now()
        for nodeID in assignmentDispatcher!.nodes {
            let tasks = assignedTasks(onNode: nodeID)
            if let message = assignmentDispatcher!.changes(nodeID, items: tasks, extra: PayloadDelivery.payloads(for: tasks, in: state), now: now) {
                deliverAssignments(message, to: nodeID)
            }
        }
    }

    /// The tasks an agent acts on: placed on `nodeID` and past scheduling.
    func assignedTasks(onNode nodeID: String) -> [SwarmTask] {
        state.tasks(onNode: nodeID).filter { $0.status.state >= .assigned }
    }

    /// The leader's own agent gets its messages without the network; others on the connection
    /// their heartbeats arrive on, in parts when the payloads would not fit one frame.
    private func deliverAssignments(_ message: AssignmentMessage, to nodeID: String) {
        if nodeID == identity.nodeID { return receiveAssignments(message, from: identity.transportID) }
        guard let link = assignmentDispatcher?.link(of: nodeID), let connection = nodeConnections[nodeID],
              connection.rawValue == link else { return }
        for part in message.split(maxPayloadBytes: AssignmentMessage.defaultMaxPayloadBytesPerPart) {
            guard let frame = ApplicationFrame(assignments: part) else {
                return logger.error("assignments: message \(message.session):\(message.version) for node \(nodeID.prefix(12)) does not encode: not sent")
            }
            // A part not sent leaves the message incomplete on the node: it asks for the full set.
            guard transport.reply(application: frame, on: connection) else { return }
        }
    }

    /// The acknowledgement guard, once per dispatcher round on the leader: resend the full set
    /// to nodes sitting on unacknowledged tasks, then fail the tasks that stay so.
    func guardAcknowledgements() {
        guard dispatcherIsReady() else { return }
        let now = Clock.now()
        let before = (acknowledgementGuard!.resends, acknowledgementGuard!.failures)
        let decision = acknowledgementGuard!.evaluate(state, now: now)
        dispatcherTotals.unacknowledgedResends += acknowledgementGuard!.resends - before.0
        dispatcherTotals.unacknowledgedFailures += acknowledgementGuard!.failures - before.1
        for nodeID in decision.resendTo {
            logger.warn("assignments: node \(nodeID.prefix(12)) has not acknowledged tasks for \(acknowledgementGuard!.timeoutMillis) ms: resending its full set")
            let tasks = assignedTasks(onNode: nodeID)
            if let message = assignmentDispatcher!.fullSet(nodeID, items: tasks, extra: PayloadDelivery.payloads(for: tasks, in: state), now: now) {
                deliverAssignments(message, to: nodeID)
            }
        }
        guard !decision.fail.isEmpty else { return }
        for update in decision.fail { logger.warn("assignments: task \(update.taskID) marked failed: \(update.status.err ?? "")") }
        proposeCommand(.updateTaskStatuses(updates: decision.fail)) { [logger] result in
            if case let .failure(failure) = result { logger.debug("unacknowledged tasks not marked failed yet: \(failure)") }
        }
    }

    /// Agents' reports arriving at this manager: keep the newest per task and propose them
    /// together shortly (forwarded to the leader if this manager is not it).
    func bufferTaskReports(_ updates: [TaskStatusUpdate]) {
        guard raft != nil else { return }
        for update in updates {
            if let buffered = bufferedReports[update.taskID], buffered.status.state > update.status.state { continue }
            bufferedReports[update.taskID] = update
        }
        guard !reportFlushScheduled, !bufferedReports.isEmpty else { return }
        reportFlushScheduled = true
        _ = loop.schedule(afterMillis: Self.reportFlushMillis) { [self] in flushTaskReports() }
    }

    private func flushTaskReports() {
        reportFlushScheduled = false
        let updates = bufferedReports.keys.sorted().map { bufferedReports[$0]! }
        bufferedReports = [:]
        var start = 0
        while start < updates.count {
            let chunk = Array(updates[start..<min(start + Self.maxReportsPerProposal, updates.count)])
            start += chunk.count
            // A failed proposal is not retried here: agents repeat unrecorded reports every heartbeat.
            proposeCommand(.updateTaskStatuses(updates: chunk)) { [logger] result in
                if case let .failure(failure) = result { logger.debug("task reports not recorded yet: \(failure)") }
                if case .success = result, let trace = StartTrace.shared {
                    for update in chunk where update.status.state == .running { trace.mark(update.taskID, .recorded) }
                }
            }
        }
    }
}
