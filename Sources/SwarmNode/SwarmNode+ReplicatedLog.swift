import ClusterState
import Foundation
import Orchestration
import Platform
import Raft
import Storage

// The node as the host of its replicated log (managers): what a committed entry, a snapshot or
// a change of role does to the rest of the node.
extension SwarmNode: ReplicatedLogHost {
    /// Opens the WAL and starts Raft on it, rebuilding the state from what it holds.
    func startRaft(bootstrap: PersistentState?) throws {
        let (storage, persistent) = try ReplicatedLog.openStorage(
            dataDirectory: dataDirectory, configuration: configuration, encryption: try raftEncryption(),
            bootstrap: bootstrap, logger: logger)
        managerKeys.followFromIndex = persistent.hardState.commit
        // The state is rebuilt from exactly what Raft hands back (snapshot, then entries from its
        // index): applying a log onto a state built from another would break `apply`'s order.
        state = ClusterState()
        if !persistent.snapshot.isEmpty {
            state = try CommandCodec.decodeState(persistent.snapshot.data)
        }
        noteNetworkTablesChanged()
        let log = try ReplicatedLog(host: self, loop: loop, logger: logger, configuration: configuration, storage: storage,
                                    persistent: persistent, raftID: identity.transportID,
                                    maxForwardedCommands: PendingRequests.maxPendingWrites)
        replicatedLog = log
        nodeMetrics.sawTerm(log.raft.term)
        processReady()
    }

    /// Stops the replicated log (a demotion): what is in flight is dropped with it.
    func closeRaft() {
        replicatedLog?.close()
        replicatedLog = nil
    }

    /// Carries out the pending Ready (`ReplicatedLog.processReady`).
    func processReady() {
        replicatedLog?.processReady()
    }

    func send(_ messages: [Message]) {
        for message in messages { transport.send(message, to: message.to) }
    }

    func apply(_ entry: Entry, command: Result<ClusterCommand, any Error>?) {
        guard let command else { return complete(index: entry.index, term: entry.term, result: .success(())) }
        let result: Result<Void, ClusterError>
        var tablesMayChange = true
        switch command {
        case let .success(command):
            result = applyRecordingEvents(command, index: entry.index)
            tablesMayChange = NetworkTableRelevance.mayChange(command, appliedTo: state)
        case let .failure(error):
            result = .failure(.invalid("undecodable command at index \(entry.index): \(error)"))
        }
        complete(index: entry.index, term: entry.term, result: result)
        appliedCommandsSinceConnect = true
        dispatcherRunner.assignmentsChanged = true
        if tablesMayChange { noteNetworkTablesChanged() }
    }

    func installState(from snapshot: Snapshot) throws {
        state = try CommandCodec.decodeState(snapshot.data)
        noteNetworkTablesChanged()
        connectToManagers()
    }

    func stateForSnapshot() -> ClusterState { state }

    func readIsReady(_ readState: ReadState) {
        pendingRequests.readIsReady(readState)
    }

    func answerClients() {
        if let applied = replicatedLog?.raft.appliedIndex { pendingRequests.serveWaitingReads(appliedIndex: applied) }
        pendingRequests.runDeferred()
    }

    func readyAdvanced(softState: SoftState?) {
        if let softState { roleChanged(softState) }
        if let term = replicatedLog?.raft.term { nodeMetrics.sawTerm(term) }
    }

    /// Work that follows applied batches (role, assignments, orchestration, peers).
    func afterReadyBatches() {
        followOwnRole()
        followAutoLock()
        if raft?.role == .leader { pushAllNetworkTables() }
        if raft?.role == .leader && dispatcherRunner.assignmentsChanged {
            pushAllAssignments()
            scheduleOrchestration()
        }
        // Once per batch, not per entry: the managers' addresses may have changed.
        if appliedCommandsSinceConnect {
            appliedCommandsSinceConnect = false
            connectToManagers()
        }
    }

    func storageFailed(_ error: any Error) {
        logger.error("storage failed, stopping the node so no unpersisted state is acknowledged: \(error)")
        fatalStop()
    }

    private func fatalStop() {
        isStopped = true
        transport.shutdown()
        failAllPending(.failed("storage failure"))
        exit(1)
    }

    func observeSave(nanoseconds: UInt64, entries: Int, completionDelayNanos: UInt64?) {
        if let completionDelayNanos { nodeMetrics.saveCompletionDelay.observe(Double(completionDelayNanos) / 1e9) }
        nodeMetrics.storageSave.observe(Double(nanoseconds) / 1e9)
        if entries > 0 { nodeMetrics.entriesPerSave.observe(Double(entries)) }
    }

    func roleChanged(_ soft: SoftState) {
        nodeMetrics.sawSoftState(soft)
        let term = replicatedLog?.raft.term ?? 0
        switch soft.role {
        case .leader:
            dispatcherRunner.leadershipStarted()
            orchestrationRunner.leadershipStarted(term: term)
            logger.info("became leader in term \(term)")
        case .follower where soft.leader != noNode:
            logger.info("following leader \(soft.leader) in term \(term)")
        case .candidate:
            logger.info("election: campaigning in term \(term)")
        case .preCandidate:
            logger.info("election: pre-vote in term \(term): the leader was not heard from")
        default:
            break
        }
        settleRequestsInFlight(soft)
        if soft.role != .leader {
            dispatcherRunner.leadershipEnded()
            pendingRequests.failProposals()
        }
    }
}
