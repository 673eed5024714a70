/// A read waiting for its quorum round: served at `index` once a quorum of voters has answered
/// a heartbeat of round `round` or later.
struct PendingRead: Sendable {
    var index: UInt64
    var context: [UInt8]
    var from: NodeID
    var round: UInt64
}

// Linearizable reads with ReadIndex (thesis §6.4): the leader records its commit index, confirms
// it still leads with a quorum round, and only then lets the read be served at that index.
extension RaftNode {
    /// Asks for a linearizable read point. The answer arrives as a `ReadState` with the same
    /// `context` in a later `Ready`. Returns false when no leader is known (try again later).
    @discardableResult
    public mutating func readIndex(context: [UInt8]) -> Bool {
        switch role {
        case .leader:
            handleReadRequest(from: id, context: context)
            return true
        case .follower where leader != noNode:
            var request = Message(kind: .readIndex, from: id, to: leader, term: term)
            request.context = context
            send(request)
            return true
        default:
            return false
        }
    }

    mutating func handleReadRequest(from requester: NodeID, context: [UInt8]) {
        // A new leader's commit index may lag until it commits an entry of its own term (etcd #7331).
        guard log.term(at: log.committed) == term else {
            readsAwaitingCommit.append((requester, context))
            return
        }
        let index = log.committed
        if confState.voters == [id] {
            releaseRead(PendingRead(index: index, context: context, from: requester, round: 0))
            return
        }
        readRound += 1
        pendingReads.append(PendingRead(index: index, context: context, from: requester, round: readRound))
        broadcastHeartbeat()
    }

    mutating func releaseReadsAwaitingCommit() {
        guard !readsAwaitingCommit.isEmpty, log.term(at: log.committed) == term else { return }
        let waiting = readsAwaitingCommit
        readsAwaitingCommit = []
        for read in waiting { handleReadRequest(from: read.from, context: read.context) }
    }

    /// A voter answered a heartbeat of `round`: serve every read whose round a quorum confirmed.
    mutating func acknowledgeReadRound(_ round: UInt64, from member: NodeID) {
        guard let peer = progress[member], !peer.isLearner else { return }
        progress[member]!.ackedReadRound = max(peer.ackedReadRound, round)
        while let oldest = pendingReads.first, readRoundConfirmed(oldest.round) {
            pendingReads.removeFirst()
            releaseRead(oldest)
        }
    }

    private func readRoundConfirmed(_ round: UInt64) -> Bool {
        var acknowledged = 0
        for voter in confState.voters {
            if voter == id || (progress[voter]?.ackedReadRound ?? 0) >= round { acknowledged += 1 }
        }
        return acknowledged >= confState.quorum
    }

    private mutating func releaseRead(_ read: PendingRead) {
        if read.from == id {
            readStates.append(ReadState(index: read.index, context: read.context))
        } else {
            var response = Message(kind: .readIndexResponse, from: id, to: read.from, term: term)
            response.index = read.index
            response.context = read.context
            send(response)
        }
    }
}
