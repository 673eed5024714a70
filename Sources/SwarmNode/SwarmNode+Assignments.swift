import ClusterState
import Raft
import Transport

/// What the leader's dispatcher remembers about one node's session: where to push its
/// assignments and how much of them the node has.
struct WorkerSession {
    /// The node's own link to this manager; pushes go back on it.
    var connection: ConnectionID
    /// The applied index of the last update pushed (the node has everything up to it).
    var sentIndex: UInt64
    /// The task ids pushed last, so a removal is pushed even when nothing else changed.
    var sentTaskIDs: Set<String>?
}

// The dispatcher's task half (leader only): pushes each node the tasks assigned to it as
// incremental updates, and batches the agents' status reports into few Raft proposals.
extension SwarmNode {
    /// Longest a report waits in the buffer, so many agents' reports share one entry.
    static let reportFlushMillis = 10
    /// Most reports in one proposal; a bigger backlog is split.
    static let maxReportsPerProposal = 512

    /// A node heartbeated the leader: (re)open its session and push what it misses.
    func openWorkerSession(nodeID: String, connection: ConnectionID, acknowledged: UInt64) {
        var session = workerSessions[nodeID] ?? WorkerSession(connection: connection, sentIndex: acknowledged, sentTaskIDs: nil)
        if session.connection != connection || session.sentIndex != acknowledged {
            // A new link, a new leader or a lost update: resend from what the node says it has.
            session = WorkerSession(connection: connection, sentIndex: acknowledged, sentTaskIDs: nil)
        }
        workerSessions[nodeID] = session
        pushAssignments(to: nodeID)
    }

    /// After applying commands that touched tasks: push every session its changes.
    func pushAllAssignments() {
        guard assignmentsChanged, raft?.role == .leader else { return }
        assignmentsChanged = false
        for nodeID in workerSessions.keys.sorted() { pushAssignments(to: nodeID) }
        pushAssignmentsToSelf()
    }

    /// The tasks an agent acts on: placed on `nodeID` and past scheduling.
    func assignedTasks(onNode nodeID: String) -> [SwarmTask] {
        state.tasks(onNode: nodeID).filter { $0.status.state >= .assigned }
    }

    private func pushAssignments(to nodeID: String) {
        guard let session = workerSessions[nodeID], nodeID != identity.nodeID else { return }
        guard let update = assignmentUpdate(for: nodeID, since: session.sentIndex, sentTaskIDs: session.sentTaskIDs) else { return }
        transport.reply(application: ApplicationFrame(.assignments, update), on: session.connection)
        workerSessions[nodeID]?.sentIndex = update.index
        workerSessions[nodeID]?.sentTaskIDs = Set(update.taskIDs)
    }

    /// The leader's own agent gets its tasks without the network.
    func pushAssignmentsToSelf() {
        let tasks = assignedTasks(onNode: identity.nodeID)
        let versions = Dictionary(uniqueKeysWithValues: tasks.map { ($0.id, $0.version.index) })
        guard versions != selfAssignmentVersions else { return }
        selfAssignmentVersions = versions
        receiveAssignments(AssignmentUpdate(index: state.appliedIndex, changed: tasks, taskIDs: tasks.map(\.id)), from: identity.transportID)
    }

    /// The update for one node, or nil when it already has everything.
    private func assignmentUpdate(for nodeID: String, since index: UInt64, sentTaskIDs: Set<String>?) -> AssignmentUpdate? {
        let tasks = assignedTasks(onNode: nodeID)
        let changed = tasks.filter { $0.version.index > index }
        let ids = tasks.map(\.id)
        guard !changed.isEmpty || sentTaskIDs != Set(ids) else { return nil }
        return AssignmentUpdate(index: state.appliedIndex, changed: changed, taskIDs: ids)
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
            }
        }
    }
}
