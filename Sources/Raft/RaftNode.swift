/// Why the core refused a proposal. The shell turns these into client errors or retries.
public enum ProposalError: Error, Equatable, Sendable {
    /// Only the leader appends; `leaderHint` is who this node believes leads (0 if unknown).
    case notLeader(leaderHint: NodeID)
    /// The leader is handing over and takes no new entries until it finishes or gives up.
    case leadershipTransferInProgress
    /// A membership change is still unapplied; one change at a time.
    case confChangePending
    /// A new leader must commit an entry of its own term before changing membership.
    case leaderNotReady
    case invalidConfChange(String)
}

/// Where an accepted proposal landed in the log; it is committed once an entry with this
/// index and term is applied.
public struct LogPosition: Sendable, Equatable {
    public var index: UInt64
    public var term: UInt64
}

/// One Raft member: the consensus core, pure and deterministic.
///
/// Driven only by `tick()`, `step(_:)`, `propose(_:)`, `readIndex(context:)` and the other
/// calls below; it never reads a clock, touches a disk or a socket, or starts a thread. Every
/// effect comes out of `ready()` and is acknowledged with `advance(_:)`. The same inputs always
/// produce the same outputs, which is what lets the simulator replay a seed exactly.
public struct RaftNode: Sendable {
    public let id: NodeID
    let config: RaftConfig

    public internal(set) var term: UInt64
    public internal(set) var vote: NodeID
    public internal(set) var leader: NodeID = noNode
    public internal(set) var role: RaftRole = .follower
    public internal(set) var confState: ConfState

    var log: RaftLog
    var progress: [NodeID: PeerProgress] = [:]
    var votes: [NodeID: Bool] = [:]
    var messages: [Message] = []

    var electionElapsed = 0
    var heartbeatElapsed = 0
    var randomizedElectionTimeout = 0
    var random: SplitMix64

    /// Index of the newest membership change in the log; no new one until it is applied.
    var pendingConfIndex: UInt64 = 0
    var leadTransferee: NodeID = noNode
    /// Set when the shell reported the leader's connection dropped: retry PreVote quickly.
    var leaderLostFastRetry = false

    // Linearizable reads (ReadIndex).
    var readRound: UInt64 = 0
    var pendingReads: [PendingRead] = []
    var readsAwaitingCommit: [(from: NodeID, context: [UInt8])] = []
    var readStates: [ReadState] = []

    // Snapshots: the newest one this node can send, one being received, one to hand out.
    var latestSnapshot: Snapshot?
    var incomingSnapshot: (metadata: SnapshotMetadata, data: [UInt8])?
    var pendingSnapshot: Snapshot?

    // What the shell has confirmed (see `advance`).
    var persistedHardState: HardState
    /// The hard state of the last batch handed out (equal to `persistedHardState` when none is
    /// outstanding).
    var handedOutHardState: HardState
    var reportedSoftState: SoftState
    /// Batches handed out by `ready()` and not yet confirmed by `advance`, oldest first.
    var outstandingReadies: [OutstandingReady] = []
    var readyOutstanding: Bool { !outstandingReadies.isEmpty }

    public init(config: RaftConfig, state: PersistentState) {
        config.validate()
        id = config.id
        self.config = config
        term = state.hardState.term
        vote = state.hardState.vote
        confState = state.snapshot.metadata.confState
        log = RaftLog(snapshot: state.snapshot.metadata, entries: state.entries, commit: state.hardState.commit)
        random = SplitMix64(seed: config.randomSeed)
        persistedHardState = state.hardState
        handedOutHardState = state.hardState
        reportedSoftState = SoftState(leader: noNode, role: .follower)
        if !state.snapshot.isEmpty { latestSnapshot = state.snapshot }
        becomeFollower(term: term, leader: noNode)
    }

    // MARK: - Read-only views

    public var commitIndex: UInt64 { log.committed }
    public var appliedIndex: UInt64 { log.applied }
    public var lastIndex: UInt64 { log.lastIndex }
    public var lastTerm: UInt64 { log.lastTerm }
    public var firstIndex: UInt64 { log.firstIndex }
    public var hardState: HardState { HardState(term: term, vote: vote, commit: log.committed) }
    public var softState: SoftState { SoftState(leader: leader, role: role) }
    public func term(at index: UInt64) -> UInt64? { log.term(at: index) }
    public func entry(at index: UInt64) -> Entry? { log.entry(at: index) }
    /// The leader's view of a member's replication (nil on non-leaders or for non-members).
    public func progress(of member: NodeID) -> PeerProgress? { role == .leader ? progress[member] : nil }
    /// This node may stand for election: it is a voter in its current configuration.
    public var isPromotable: Bool { confState.voters.contains(id) }
    public var snapshotIndex: UInt64 { latestSnapshot?.metadata.index ?? 0 }

    // MARK: - Inputs

    /// One logical clock tick.
    public mutating func tick() {
        if role == .leader {
            tickLeader()
        } else {
            tickElection()
        }
    }

    private mutating func tickElection() {
        electionElapsed += 1
        if isPromotable && electionElapsed >= randomizedElectionTimeout {
            electionElapsed = 0
            campaign(config.preVote ? .preVote : .election)
        }
    }

    private mutating func tickLeader() {
        heartbeatElapsed += 1
        electionElapsed += 1
        if electionElapsed >= config.electionTicks {
            electionElapsed = 0
            if config.checkQuorum {
                guard quorumRecentlyActive() else {
                    becomeFollower(term: term, leader: noNode)
                    return
                }
            }
            if leadTransferee != noNode { leadTransferee = noNode }
        }
        if heartbeatElapsed >= config.heartbeatTicks {
            heartbeatElapsed = 0
            broadcastHeartbeat()
        }
    }

    /// The shell's report that the connection to the leader broke (its process most likely
    /// died): drop the leader and campaign within a tick or two instead of waiting out the
    /// election timeout. Every follower hears of the crash at the same moment, so they take
    /// turns by rank (their place among the remaining voters): rank 0 starts a PreVote at once,
    /// rank r after r ticks, which avoids split votes. Safe: PreVote changes no term, and voters
    /// that still hear from a live leader refuse it.
    public mutating func reportLeaderUnreachable() {
        guard role == .follower, leader != noNode, isPromotable else { return }
        let lostLeader = leader
        leader = noNode
        leaderLostFastRetry = true
        let rank = confState.voters.filter { $0 != lostLeader }.firstIndex(of: id) ?? 0
        if rank == 0 {
            electionElapsed = 0
            campaign(config.preVote ? .preVote : .election)
        } else {
            electionElapsed = max(0, randomizedElectionTimeout - rank)
        }
    }

    /// The shell's report that sending to `peer` failed: stop pipelining to it.
    public mutating func reportUnreachable(_ peer: NodeID) {
        guard role == .leader, var peerProgress = progress[peer] else { return }
        if peerProgress.state == .replicate { peerProgress.becomeProbe() }
        progress[peer] = peerProgress
    }

    /// Appends `data` as a new entry if this node leads.
    @discardableResult
    public mutating func propose(_ data: [UInt8]) throws(ProposalError) -> LogPosition {
        try propose(batch: [data])
    }

    /// Appends several entries in one go (one broadcast for the whole batch). Returns the
    /// position of the last one.
    @discardableResult
    public mutating func propose(batch: [[UInt8]]) throws(ProposalError) -> LogPosition {
        try checkCanPropose()
        precondition(!batch.isEmpty, "empty proposal batch")
        var index = log.lastIndex
        let appended = batch.map { data in
            index += 1
            return Entry(term: term, index: index, kind: .normal, data: data)
        }
        appendAsLeader(appended)
        return LogPosition(index: index, term: term)
    }

    func checkCanPropose() throws(ProposalError) {
        guard role == .leader else { throw .notLeader(leaderHint: leader) }
        guard leadTransferee == noNode else { throw .leadershipTransferInProgress }
    }

    /// Feeds one message from another node.
    public mutating func step(_ message: Message) {
        guard message.to == id, message.from != id else { return }
        guard reconcileTerm(with: message) else { return }
        switch message.kind {
        case .vote, .preVote:
            handleVoteRequest(message)
        default:
            switch role {
            case .leader: stepLeader(message)
            case .candidate, .preCandidate: stepCandidate(message)
            case .follower: stepFollower(message)
            }
        }
    }

    /// Applies the term rules of §5.1 (and their PreVote and lease refinements) before a message
    /// reaches the role's handler; returns false when the message must be dropped.
    private mutating func reconcileTerm(with message: Message) -> Bool {
        if message.term > term {
            if message.isVoteRequest {
                let inLease = config.checkQuorum && leader != noNode && electionElapsed < config.electionTicks
                if inLease && !message.isTransfer { return false }
            }
            switch message.kind {
            case .preVote:
                return true
            case .preVoteResponse where !message.reject:
                return true
            case .append, .heartbeat, .snapshotChunk:
                becomeFollower(term: message.term, leader: message.from)
            default:
                becomeFollower(term: message.term, leader: noNode)
            }
            return true
        }
        if message.term < term {
            if (config.checkQuorum || config.preVote) && (message.kind == .heartbeat || message.kind == .append) {
                // A stale leader (or a node cut off and back) learns our term and steps down.
                send(Message(kind: .appendResponse, from: id, to: message.from, term: term))
            } else if message.kind == .preVote {
                var response = Message(kind: .preVoteResponse, from: id, to: message.from, term: term)
                response.reject = true
                send(response)
            }
            return false
        }
        return true
    }

    private mutating func stepFollower(_ message: Message) {
        switch message.kind {
        case .append:
            heardFromLeader(message.from)
            handleAppend(message)
        case .heartbeat:
            heardFromLeader(message.from)
            handleHeartbeat(message)
        case .snapshotChunk:
            heardFromLeader(message.from)
            handleSnapshotChunk(message)
        case .timeoutNow:
            if isPromotable { campaign(.transfer) }
        case .readIndexResponse:
            readStates.append(ReadState(index: message.index, context: message.context))
        default:
            break
        }
    }

    private mutating func stepCandidate(_ message: Message) {
        switch message.kind {
        case .append, .heartbeat, .snapshotChunk:
            // Someone won this term (§5.2): concede and process the message as a follower.
            becomeFollower(term: message.term, leader: message.from)
            stepFollower(message)
        case .voteResponse where role == .candidate, .preVoteResponse where role == .preCandidate:
            recordVote(from: message.from, granted: !message.reject)
            tallyVotes()
        default:
            break
        }
    }

    private mutating func heardFromLeader(_ from: NodeID) {
        electionElapsed = 0
        leader = from
        leaderLostFastRetry = false
    }

    mutating func send(_ message: Message) {
        precondition(message.to != id, "a node never sends to itself")
        messages.append(message)
    }
}
