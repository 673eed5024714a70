import ClusterState
import Dispatcher
import Orchestration
import Platform
import Raft

/// What the dispatcher runner asks of its node, on the node's loop.
protocol DispatcherRunnerHost: AnyObject {
    /// The term this node leads in, once it has applied an entry of that term (its state then
    /// holds everything any earlier leader sent); nil when it may not dispatch.
    var dispatchingTerm: UInt64? { get }
    /// This node leads (whether or not it may dispatch yet).
    var isLeader: Bool { get }
    func proposeCommand(_ command: ClusterCommand, _ done: @escaping SwarmNode.Completion)
    /// Sends `message` to node `nodeID` on its session's connection `link` (nil: no session).
    func deliverAssignments(_ message: AssignmentMessage, to nodeID: String, link: UInt64?)
}

/// Runs the pure dispatcher on a manager: node liveness from heartbeats (`HeartbeatMonitor`),
/// every node's assignment stream (`AssignmentDispatcher`: a full set when a session starts or
/// a node fell out of step, versioned changes after), the `AcknowledgementGuard`, the nodes'
/// reported descriptions, and the agents' status reports batched into few Raft proposals.
///
/// It exists so the dispatcher's state (one stream and one guard per leadership, the proposals
/// in flight, the report buffer) has one owner with a small interface, instead of being fields
/// of `SwarmNode` (issue 15); the node keeps the wiring: heartbeats in and out, connections,
/// Raft membership. The state is passed in by each call (it is the node's applied state).
/// Confined to the node's loop.
final class DispatcherRunner: @unchecked Sendable {
    /// Longest a report waits in the buffer, so many agents' reports share one entry.
    static let reportFlushMillis = 10
    /// Most reports in one proposal; a bigger backlog is split.
    static let maxReportsPerProposal = 512

    private unowned let host: any DispatcherRunnerHost
    private let loop: EventLoop
    private let logger: NodeLogger
    private let localNodeID: String
    private let heartbeatPeriodMillis: UInt64
    private let acknowledgementTimeoutMillis: UInt64

    /// Repairs since the node started (shown by `swarmctl info` and `/metrics`).
    private(set) var totals = DispatcherTotals()
    /// Applied commands may have changed tasks: every session gets its changes after the batch.
    var assignmentsChanged = false
    private var heartbeatMonitor = HeartbeatMonitor()
    /// Nodes whose liveness, or reported description, is being proposed (one at a time each).
    private var statusProposals: Set<String> = []
    private var descriptionProposals: Set<String> = []
    /// This leadership's streams and guard (created on first use in a term, `isReady`).
    private var assignmentDispatcher: AssignmentDispatcher?
    private var acknowledgementGuard: AcknowledgementGuard?
    /// Agents' reports waiting to be proposed, newest per task.
    private var bufferedReports: [String: TaskStatusUpdate] = [:]
    private var reportFlushScheduled = false

    init(host: any DispatcherRunnerHost, loop: EventLoop, logger: NodeLogger, localNodeID: String,
         heartbeatPeriodMillis: UInt64, acknowledgementTimeoutMillis: UInt64) {
        self.host = host
        self.loop = loop
        self.logger = logger
        self.localNodeID = localNodeID
        self.heartbeatPeriodMillis = heartbeatPeriodMillis
        self.acknowledgementTimeoutMillis = acknowledgementTimeoutMillis
    }

    // MARK: - Leadership

    /// This node became leader: a fresh stream and guard for the term, every node's grace
    /// period starts now.
    func leadershipStarted() {
        heartbeatMonitor.leadershipStarted(at: Clock.now())
        leadershipEnded()
        assignmentsChanged = true
    }

    /// This node's role changed away from leader (or to it): the term's streams end.
    func leadershipEnded() {
        assignmentDispatcher = nil
        acknowledgementGuard = nil
    }

    /// Sessions the leader's dispatcher holds (0 on other nodes).
    var sessionCount: Int { assignmentDispatcher?.nodes.count ?? 0 }

    /// A hole this node's agent saw in its own assignment stream.
    func noteGapSeen() { totals.gapsSeen += 1 }

    /// Whether this node leads and has applied an entry of its own term: only then does it
    /// dispatch. Creates this leadership's dispatcher and guard on first use.
    func isReady() -> Bool {
        guard let term = host.dispatchingTerm else { return false }
        if assignmentDispatcher?.term != term {
            let inFlight = AssignmentDispatcher.inFlightMillis(heartbeatPeriodMillis: heartbeatPeriodMillis)
            assignmentDispatcher = AssignmentDispatcher(term: term, inFlightMillis: inFlight)
            acknowledgementGuard = AcknowledgementGuard(timeoutMillis: acknowledgementTimeoutMillis)
        }
        return true
    }

    // MARK: - Liveness

    func recordHeartbeat(nodeID: String) {
        heartbeatMonitor.recordHeartbeat(nodeID: nodeID, at: Clock.now())
    }

    /// Proposes READY or DOWN for nodes whose liveness changed (leader).
    func updateNodeStatuses(in state: ClusterState) {
        for command in heartbeatMonitor.evaluate(state, now: Clock.now()) {
            guard case let .setNodeStatus(id, wanted, _, _) = command, !statusProposals.contains(id) else { continue }
            statusProposals.insert(id)
            logger.info("node \(id.prefix(12)) is \(wanted.rawValue)")
            host.proposeCommand(command) { [self] _ in statusProposals.remove(id) }
        }
    }

    /// On the leader: proposes `reported` as node `nodeID`'s description when it differs from the
    /// state's (one proposal per node at a time; a failed one is retried at the next heartbeat).
    func recordReportedDescription(_ reported: NodeDescription?, of nodeID: String, in state: ClusterState) {
        guard let reported, host.isLeader, let node = state.nodes[nodeID], node.description != reported,
              !descriptionProposals.contains(nodeID) else { return }
        descriptionProposals.insert(nodeID)
        if node.runsTaskNetworking != reported.runsTaskNetworking {
            logger.info("node \(nodeID.prefix(12)) \(reported.runsTaskNetworking ? "runs" : "runs no") task networking: "
                + (reported.runsTaskNetworking ? "tasks with network attachments may go there" : "no task with network attachments goes there"))
        }
        host.proposeCommand(.setNodeDescription(id: nodeID, description: reported, at: Clock.now())) { [self] _ in
            descriptionProposals.remove(nodeID)
        }
    }

    // MARK: - Assignments

    /// A node heartbeated the leader (or the leader's own round, `link` 0): answer with what it
    /// misses, if anything.
    func dispatchHeartbeat(nodeID: String, link: UInt64, ack: AssignmentAck, in state: ClusterState) {
        guard isReady() else { return }
        let before = assignmentDispatcher!.resyncs
        let tasks = Self.assignedTasks(onNode: nodeID, in: state)
        let message = assignmentDispatcher!.heartbeat(node: nodeID, link: link, ack: ack, items: tasks,
                                                      extra: PayloadDelivery.payloads(for: tasks, in: state), now: Clock.now())
        if assignmentDispatcher!.resyncs > before {
            totals.resyncs += 1
            logger.info("assignments: node \(nodeID.prefix(12)) is out of step (has \(ack.session):\(ack.version)): sending its full set")
        }
        if let message { deliver(message, to: nodeID) }
    }

    /// After applying commands that touched tasks: send every session its changes. `ownAck` is
    /// what this node's own agent acknowledged (its session starts here if it has none).
    func pushAllAssignments(in state: ClusterState, ownAck: @autoclosure () -> AssignmentAck) {
        guard assignmentsChanged, isReady() else { return }
        assignmentsChanged = false
        if assignmentDispatcher!.link(of: localNodeID) == nil {
            dispatchHeartbeat(nodeID: localNodeID, link: 0, ack: ownAck(), in: state)
        }
        let now = Clock.now()
        for nodeID in assignmentDispatcher!.nodes {
            let tasks = Self.assignedTasks(onNode: nodeID, in: state)
            if let message = assignmentDispatcher!.changes(nodeID, items: tasks, extra: PayloadDelivery.payloads(for: tasks, in: state), now: now) {
                deliver(message, to: nodeID)
            }
        }
    }

    /// The tasks an agent acts on: placed on `nodeID` and past scheduling.
    static func assignedTasks(onNode nodeID: String, in state: ClusterState) -> [SwarmTask] {
        state.tasks(onNode: nodeID).filter { $0.status.state >= .assigned }
    }

    private func deliver(_ message: AssignmentMessage, to nodeID: String) {
        host.deliverAssignments(message, to: nodeID, link: assignmentDispatcher?.link(of: nodeID))
    }

    /// The acknowledgement guard, once per dispatcher round on the leader: resend the full set
    /// to nodes sitting on unacknowledged tasks, then fail the tasks that stay so.
    func guardAcknowledgements(in state: ClusterState) {
        guard isReady() else { return }
        let now = Clock.now()
        let before = (acknowledgementGuard!.resends, acknowledgementGuard!.failures)
        let decision = acknowledgementGuard!.evaluate(state, now: now)
        totals.unacknowledgedResends += acknowledgementGuard!.resends - before.0
        totals.unacknowledgedFailures += acknowledgementGuard!.failures - before.1
        for nodeID in decision.resendTo {
            logger.warn("assignments: node \(nodeID.prefix(12)) has not acknowledged tasks for \(acknowledgementGuard!.timeoutMillis) ms: resending its full set")
            let tasks = Self.assignedTasks(onNode: nodeID, in: state)
            if let message = assignmentDispatcher!.fullSet(nodeID, items: tasks, extra: PayloadDelivery.payloads(for: tasks, in: state), now: now) {
                deliver(message, to: nodeID)
            }
        }
        guard !decision.fail.isEmpty else { return }
        for update in decision.fail { logger.warn("assignments: task \(update.taskID) marked failed: \(update.status.err ?? "")") }
        host.proposeCommand(.updateTaskStatuses(updates: decision.fail)) { [logger] result in
            if case let .failure(failure) = result { logger.debug("unacknowledged tasks not marked failed yet: \(failure)") }
        }
    }

    // MARK: - Reports

    /// Agents' reports arriving at this manager: keep the newest per task and propose them
    /// together shortly (forwarded to the leader if this manager is not it).
    func bufferTaskReports(_ updates: [TaskStatusUpdate]) {
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
            host.proposeCommand(.updateTaskStatuses(updates: chunk)) { [logger] result in
                if case let .failure(failure) = result { logger.debug("task reports not recorded yet: \(failure)") }
                if case .success = result, let trace = StartTrace.shared {
                    for update in chunk where update.status.state == .running { trace.mark(update.taskID, .recorded) }
                }
            }
        }
    }
}

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
