import ClusterState
import Platform
import Raft

/// The client requests a manager holds until Raft answers them: writes queued for this loop
/// iteration's batch, writes proposed and waiting to commit (by log index), writes forwarded to
/// the leader (by request id), linearizable reads waiting for their read index and then for the
/// apply to reach it, and requests parked while no leader is known.
///
/// It exists so that each of these has one home with its bound (`maxPendingWrites`) and its
/// deadline, and so that every way a request ends (committed, expired, the leader changed, the
/// node stopped) is written once, here, instead of spread over the node (issue 15). It decides
/// nothing about Raft: the node proposes, forwards and asks for read indexes, and tells this
/// table what happened. Answers produced while a Ready is applied are collected and run by
/// `runDeferred`, once the Ready is done with. Confined to the node's loop.
final class PendingRequests {
    typealias Completion = SwarmNode.Completion

    static let requestTimeoutMillis: UInt64 = 5_000
    /// How long a request waits for a leader when none is known (an election, or a follower's
    /// pre-vote after a late heartbeat, usually ends well within it).
    static let leaderWaitMillis: UInt64 = 2_000
    static let noLeader = RequestFailure.noQuorum("no leader is elected: a majority of managers must be up and connected")
    /// Writes a manager holds at once (proposed, queued or forwarded); more are refused so a
    /// flood cannot grow its memory without bound.
    static let maxPendingWrites = 10_000

    private var nextRequestID: UInt64 = 1
    private var proposals: [UInt64: (term: UInt64, done: Completion)] = [:]
    private var proposalDeadlines: [UInt64: UInt64] = [:]
    /// Proposal times of the writes this leader has in flight, by log index (`/metrics`).
    private var proposedAtNanos: [UInt64: UInt64] = [:]
    /// Writes forwarded to the leader `leader` of term `term`, awaiting its answer.
    private var forwards: [UInt64: (deadline: UInt64, leader: NodeID, term: UInt64, done: Completion)] = [:]
    private var reads: [UInt64: (deadline: UInt64, done: Completion)] = [:]
    /// Requests that came while no leader was known: retried once one is (`settle`), failed at
    /// `deadline` (`leaderWaitMillis`).
    private var awaitingLeader: [(deadline: UInt64, retry: () -> Void, fail: (RequestFailure) -> Void)] = []
    /// The deadline of the parked request being retried, so that parking it again keeps its first
    /// deadline: while leadership flaps, a request still waits at most `leaderWaitMillis` in all.
    private var retriedRequestDeadline: UInt64?
    /// Reads whose read index is known, waiting for the apply to reach it.
    private var waitingReads: [(index: UInt64, done: Completion)] = []
    /// Writes accepted on the leader in this loop iteration, proposed together; `command` is the
    /// decoded form when the write started here (nil for a forwarded write's bytes).
    private var queued: [(encoded: [UInt8], command: ClusterCommand?, done: Completion)] = []
    /// Completions collected while a Ready is processed, run right after it.
    private var deferredCallbacks: [() -> Void] = []

    /// A fresh id for a forwarded write, a read or another request answered by id.
    func makeRequestID() -> UInt64 {
        let id = nextRequestID
        nextRequestID += 1
        return id
    }

    // MARK: - Writes

    /// Whether another write may be held (proposed, queued or forwarded) within the bound.
    var hasRoomForWrite: Bool {
        proposals.count + queued.count + forwards.count < Self.maxPendingWrites
    }

    static var tooManyWrites: RequestFailure {
        .noQuorum("\(maxPendingWrites) writes are already waiting to commit on this manager; retry")
    }

    /// Queues a write for this loop iteration's batch (leader).
    func queue(encoded: [UInt8], command: ClusterCommand?, done: @escaping Completion) {
        queued.append((encoded, command, done))
    }

    var hasQueuedWrites: Bool { !queued.isEmpty }

    /// The writes queued since the last call, oldest first.
    func takeQueued() -> [(encoded: [UInt8], command: ClusterCommand?, done: Completion)] {
        let taken = queued
        queued = []
        return taken
    }

    /// A write proposed at `index` in `term`, failed unless it commits by `deadline`.
    func addProposal(index: UInt64, term: UInt64, deadline: UInt64, proposedAtNanos proposedAt: UInt64? = nil, done: @escaping Completion) {
        if let proposedAt { proposedAtNanos[index] = proposedAt }
        proposals[index] = (term, done)
        proposalDeadlines[index] = deadline
    }

    /// The entry at `index` of `term` was applied with `result`: answers the write proposed
    /// there (a write proposed in another term lost its place and must be retried). Returns how
    /// long ago it was proposed, when known.
    func complete(index: UInt64, term: UInt64, result: Result<Void, ClusterError>) -> UInt64? {
        guard let pending = proposals.removeValue(forKey: index) else { return nil }
        proposalDeadlines[index] = nil
        let proposedAt = proposedAtNanos.removeValue(forKey: index)
        let outcome: Result<Void, RequestFailure> = pending.term != term
            ? .failure(.noQuorum("leadership changed before the write committed; retry"))
            : result.mapError { .rejected($0) }
        deferredCallbacks.append { pending.done(outcome) }
        return proposedAt.map { Clock.monotonicNanos() &- $0 }
    }

    /// Leadership ended: no write proposed here can be answered by this node any more.
    func failProposals() {
        for (index, pending) in proposals {
            pending.done(.failure(.noQuorum("lost leadership before the write committed; retry")))
            proposalDeadlines[index] = nil
        }
        proposals = [:]
        proposedAtNanos = [:]
    }

    /// A write forwarded to `leader` in `term`; returns its request id.
    func addForward(leader: NodeID, term: UInt64, done: @escaping Completion) -> UInt64 {
        let requestID = makeRequestID()
        forwards[requestID] = (Clock.monotonicMillis() + Self.requestTimeoutMillis, leader, term, done)
        return requestID
    }

    /// The leader answered forwarded write `requestID` (nil if it expired or failed already).
    func takeForward(_ requestID: UInt64) -> Completion? {
        forwards.removeValue(forKey: requestID)?.done
    }

    // MARK: - Reads

    /// A read whose read index was asked for with `requestID` as its context.
    func addRead(_ requestID: UInt64, done: @escaping Completion) {
        reads[requestID] = (Clock.monotonicMillis() + Self.requestTimeoutMillis, done)
    }

    /// Raft confirmed a read index: the read waits for the apply to reach it.
    func readIsReady(_ readState: ReadState) {
        guard let requestID = WireBytes.readUInt64(readState.context),
              let pending = reads.removeValue(forKey: requestID) else { return }
        waitingReads.append((readState.index, pending.done))
    }

    /// Answers the reads whose index the apply has reached.
    func serveWaitingReads(appliedIndex applied: UInt64) {
        guard !waitingReads.isEmpty else { return }
        let ready = waitingReads.filter { $0.index <= applied }
        waitingReads.removeAll { $0.index <= applied }
        for read in ready { deferredCallbacks.append { read.done(.success(())) } }
    }

    /// Runs the completions collected while applying (client answers, forwarded results).
    func runDeferred() {
        let callbacks = deferredCallbacks
        deferredCallbacks = []
        for callback in callbacks { callback() }
    }

    // MARK: - Waiting for a leader, deadlines, leader changes

    /// Parks a request until a leader is known, at most `leaderWaitMillis`; bounded with the
    /// other requests in flight by `maxPendingWrites`.
    func awaitLeader(retry: @escaping () -> Void, fail: @escaping Completion) {
        guard awaitingLeader.count < Self.maxPendingWrites else { return fail(.failure(Self.noLeader)) }
        let deadline = retriedRequestDeadline ?? Clock.monotonicMillis() + Self.leaderWaitMillis
        awaitingLeader.append((deadline, retry, { fail(.failure($0)) }))
    }

    /// Fails every request whose deadline has passed.
    func expire() {
        let now = Clock.monotonicMillis()
        let expired = awaitingLeader.filter { $0.deadline < now }
        awaitingLeader.removeAll { $0.deadline < now }
        for request in expired { request.fail(Self.noLeader) }
        let message = "the cluster did not answer within \(Self.requestTimeoutMillis / 1000)s: is a majority of managers up?"
        for (index, deadline) in proposalDeadlines where deadline < now {
            proposalDeadlines[index] = nil
            proposedAtNanos[index] = nil
            proposals.removeValue(forKey: index)?.done(.failure(.noQuorum(message)))
        }
        for (id, pending) in forwards where pending.deadline < now {
            forwards[id] = nil
            pending.done(.failure(.noQuorum(message)))
        }
        for (id, pending) in reads where pending.deadline < now {
            reads[id] = nil
            pending.done(.failure(.noQuorum(message)))
        }
    }

    /// After a change of role or leader: writes forwarded to a leader that is no longer the one
    /// (another node, another term, or this node leads now) may never be answered, so they fail
    /// at once and clients retry against the new one. Writes forwarded to the leader this node
    /// follows again, in the same term, stay: it only lost sight of it for a moment (a pre-vote
    /// after heartbeats came late on a loaded machine), and failing them failed writes the leader
    /// went on to commit. While no leader is known they wait, bounded by their deadline. Reads
    /// are asked again of the current leader (`askReadIndex` returns false if it cannot be): any
    /// leader's read index serves them. Requests that came while no leader was known go now.
    /// Returns whether Raft has new work (reads asked again, requests retried).
    func settle(_ soft: SoftState, term: UInt64, askReadIndex: (_ requestID: UInt64) -> Bool) -> Bool {
        guard soft.role == .leader || soft.leader != noNode else { return false }
        let retry = RequestFailure.noQuorum("the leader changed while the request was in flight; retry")
        for (id, pending) in forwards where soft.role == .leader || pending.leader != soft.leader || pending.term != term {
            forwards[id] = nil
            pending.done(.failure(retry))
        }
        for id in reads.keys.sorted() where !askReadIndex(id) {
            reads.removeValue(forKey: id)?.done(.failure(retry))
        }
        let awaiting = awaitingLeader
        awaitingLeader = []
        for request in awaiting {
            retriedRequestDeadline = request.deadline
            request.retry()
            retriedRequestDeadline = nil
        }
        return !reads.isEmpty || !awaiting.isEmpty
    }

    /// Fails every request held (the node stops, or stops being a manager).
    func failAll(_ failure: RequestFailure) {
        let awaiting = awaitingLeader
        awaitingLeader = []
        for request in awaiting { request.fail(failure) }
        for write in queued { write.done(.failure(failure)) }
        queued = []
        for pending in proposals.values { pending.done(.failure(failure)) }
        for pending in forwards.values { pending.done(.failure(failure)) }
        for pending in reads.values { pending.done(.failure(failure)) }
        for read in waitingReads { read.done(.failure(failure)) }
        proposals = [:]
        proposedAtNanos = [:]
        forwards = [:]
        reads = [:]
        waitingReads = []
        proposalDeadlines = [:]
    }
}
