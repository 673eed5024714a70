import ClusterState
import Platform
import Raft

// Writes and reads on a manager: propose on the leader (batched per loop iteration), forward
// from a follower, linearizable reads through ReadIndex. What is waiting, and how it ends, is
// `PendingRequests`; the Raft side is `ReplicatedLog`.
extension SwarmNode {
    /// Proposes a command; completes once it is committed and applied (or failed). Forwards to
    /// the leader from a follower manager.
    func proposeCommand(_ command: ClusterCommand, _ done: @escaping Completion) {
        guard replicatedLog != nil else { return done(.failure(.notManager)) }
        let encoded = CommandCodec.encode(command)
        // The leader applies `command` itself and the followers its decoded bytes: they must agree.
        assert((try? CommandCodec.decode(encoded)) == command, "command does not survive its log encoding: \(command)")
        proposeEncoded(encoded, command: command, done)
    }

    /// `proposeCommand` for a command already in its log encoding (a forwarded write): the
    /// bytes are proposed (or forwarded) as they are.
    func proposeEncoded(_ encoded: [UInt8], command: ClusterCommand? = nil, _ done: @escaping Completion) {
        guard let log = replicatedLog else { return done(.failure(.notManager)) }
        if let refusal = ClusterLimits.entryRefusal(byteCount: encoded.count) { return done(.failure(.rejected(refusal))) }
        guard pendingRequests.hasRoomForWrite else { return done(.failure(PendingRequests.tooManyWrites)) }
        if log.raft.role == .leader {
            // Proposed together at the end of this loop iteration: one append per follower
            // for the whole batch instead of one per write.
            pendingRequests.queue(encoded: encoded, command: command, done: done)
            scheduleProcessReady()
            return
        }
        let leader = log.raft.leader
        guard leader != noNode else {
            return pendingRequests.awaitLeader(retry: { [unowned self] in proposeEncoded(encoded, command: command, done) }, fail: done)
        }
        let forwardedAt = Clock.monotonicNanos()
        let requestID = pendingRequests.addForward(leader: leader, term: log.raft.term) { [self] result in
            nodeMetrics.forwardRoundTrip.observe(Double(Clock.monotonicNanos() &- forwardedAt) / 1e9)
            done(result)
        }
        if let command { log.rememberForwarded(command, encoded: encoded) }
        transport.send(application: ForwardFrames.command(requestID: requestID, encoded: encoded), to: leader)
    }

    /// Proposes the writes queued by `proposeEncoded` as one batch.
    func proposeQueuedWrites() {
        guard pendingRequests.hasQueuedWrites, let log = replicatedLog else { return }
        let queued = pendingRequests.takeQueued()
        let position: LogPosition
        do {
            position = try log.raft.propose(batch: queued.map(\.encoded))
        } catch {
            for write in queued { write.done(.failure(.noQuorum("the leader refused the write (\(error)); retry"))) }
            return
        }
        nodeMetrics.proposals += UInt64(queued.count)
        let deadline = Clock.monotonicMillis() + PendingRequests.requestTimeoutMillis
        let proposedAt = Clock.monotonicNanos()
        var index = position.index - UInt64(queued.count)
        var forwarded: [Entry] = []
        for write in queued {
            index += 1
            pendingRequests.addProposal(index: index, term: position.term, deadline: deadline, proposedAtNanos: proposedAt, done: write.done)
            if let command = write.command {
                log.rememberProposed(command, index: index, term: position.term)
            } else {
                forwarded.append(Entry(term: position.term, index: index, data: write.encoded))
            }
        }
        // Forwarded writes arrive as log bytes: decoded on the predecoder's thread while they
        // commit, instead of on the loop when they are applied.
        log.decodeAhead(proposed: forwarded)
    }

    /// Proposes several commands as one batch (one append, one fsync) on the leader; `done`
    /// gets every command's result, in order, once all have completed.
    func proposeCommands(_ commands: [ClusterCommand], _ done: @escaping ([Result<Void, RequestFailure>]) -> Void) {
        precondition(!commands.isEmpty, "empty command batch")
        guard let log = replicatedLog, log.raft.role == .leader else {
            return done(commands.map { _ in .failure(.noQuorum("this manager is no longer the leader")) })
        }
        let entries = commands.map(CommandCodec.encode)
        // Control loops chunk what they propose; an oversized command here is a bug in a loop.
        // Refusing the batch (never proposing it) keeps the cluster writable instead of wedged.
        if let oversized = entries.first(where: { ClusterLimits.entryRefusal(byteCount: $0.count) != nil }),
           let refusal = ClusterLimits.entryRefusal(byteCount: oversized.count) {
            logger.error("a control loop proposed an oversized entry; batch of \(commands.count) refused: \(refusal)")
            return done(commands.map { _ in .failure(.rejected(refusal)) })
        }
        let position: LogPosition
        do {
            position = try log.raft.propose(batch: entries)
            nodeMetrics.proposals += UInt64(entries.count)
        } catch {
            return done(commands.map { _ in .failure(.noQuorum("the leader refused the write (\(error)); retry")) })
        }
        var results = [Result<Void, RequestFailure>?](repeating: nil, count: commands.count)
        var remaining = commands.count
        let first = position.index - UInt64(commands.count) + 1
        let deadline = Clock.monotonicMillis() + PendingRequests.requestTimeoutMillis
        for offset in 0..<commands.count {
            let index = first + UInt64(offset)
            assert((try? CommandCodec.decode(entries[offset])) == commands[offset], "command does not survive its log encoding")
            log.rememberProposed(commands[offset], index: index, term: position.term)
            pendingRequests.addProposal(index: index, term: position.term, deadline: deadline) { result in
                results[offset] = result
                remaining -= 1
                if remaining == 0 { done(results.map { $0! }) }
            }
        }
        scheduleProcessReady()
    }

    /// A linearizable read point: completes once this node has applied everything committed
    /// before the call, confirmed by a quorum round (ReadIndex).
    func linearizableRead(_ done: @escaping Completion) {
        guard let log = replicatedLog else { return done(.failure(.notManager)) }
        let requestID = pendingRequests.makeRequestID()
        guard log.raft.readIndex(context: WireBytes.uint64(requestID)) else {
            return pendingRequests.awaitLeader(retry: { [unowned self] in linearizableRead(done) }, fail: done)
        }
        pendingRequests.addRead(requestID, done: done)
        scheduleProcessReady()
    }

    /// Writes forwarded, reads and parked requests after a change of role or leader
    /// (`PendingRequests.settle`).
    func settleRequestsInFlight(_ soft: SoftState) {
        guard let log = replicatedLog else { return }
        let hasWork = pendingRequests.settle(soft, term: log.raft.term) { requestID in
            log.raft.readIndex(context: WireBytes.uint64(requestID))
        }
        if hasWork { scheduleProcessReady() }
    }

    /// Fails every request in flight (the node stops, or stops being a manager).
    func failAllPending(_ failure: RequestFailure) {
        pendingRequests.failAll(failure)
        replicatedLog?.forgetProposedCommands()
    }

    /// Answers the entry at `index` (a write proposed there, if any), recording its latency.
    func complete(index: UInt64, term: UInt64, result: Result<Void, ClusterError>) {
        if let nanoseconds = pendingRequests.complete(index: index, term: term, result: result) {
            nodeMetrics.proposalToCommit.observe(Double(nanoseconds) / 1e9)
        }
    }

    /// Processes Ready at the end of this loop iteration (`ReplicatedLog.scheduleProcessReady`).
    func scheduleProcessReady() {
        replicatedLog?.scheduleProcessReady()
    }
}
