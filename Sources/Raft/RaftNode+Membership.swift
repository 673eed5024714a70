import Wire

// Membership changes, one server at a time (thesis §4.1), and snapshots the application takes.
extension RaftNode {
    /// Proposes adding or removing one member. Refused until this leader has committed an entry
    /// of its own term (the single-server change bug, raft-dev 2015) and while an earlier change
    /// is unapplied. The change takes effect on every node when the entry is applied.
    @discardableResult
    public mutating func proposeConfChange(_ change: ConfChange) throws(ProposalError) -> LogPosition {
        try checkCanPropose()
        guard log.term(at: log.committed) == term else { throw .leaderNotReady }
        guard pendingConfIndex <= log.applied else { throw .confChangePending }
        try validate(change)
        let index = log.lastIndex + 1
        appendAsLeader([Entry(term: term, index: index, kind: .confChange, data: change.wireBytes())])
        pendingConfIndex = index
        return LogPosition(index: index, term: term)
    }

    private func validate(_ change: ConfChange) throws(ProposalError) {
        switch change.kind {
        case .addVoter where confState.voters.contains(change.nodeID):
            throw .invalidConfChange("node \(change.nodeID) is already a voter")
        case .addLearner where confState.contains(change.nodeID):
            throw .invalidConfChange("node \(change.nodeID) is already a member")
        case .removeNode where !confState.contains(change.nodeID):
            throw .invalidConfChange("node \(change.nodeID) is not a member")
        case .removeNode where confState.voters == [change.nodeID]:
            throw .invalidConfChange("cannot remove the last voter")
        default:
            break
        }
    }

    /// Applies a committed membership change (called from `advance` in log order).
    mutating func applyConfChange(_ change: ConfChange) {
        confState = confState.applying(change)
        guard role == .leader else { return }
        switch change.kind {
        case .removeNode:
            progress[change.nodeID] = nil
        case .addLearner:
            addProgress(change.nodeID, isLearner: true)
        case .addVoter:
            if progress[change.nodeID] == nil {
                addProgress(change.nodeID, isLearner: false)
            } else {
                progress[change.nodeID]!.isLearner = false
            }
        }
        if !confState.voters.contains(id) {
            stepDownAfterRemoval()
            return
        }
        if leadTransferee != noNode && !confState.voters.contains(leadTransferee) { leadTransferee = noNode }
        if maybeCommit() { broadcastAppend() }
    }

    /// A leader removed (or demoted) by a committed change hands over to the most up-to-date
    /// voter at once rather than leaving the cluster to wait out an election timeout.
    private mutating func stepDownAfterRemoval() {
        let successor = confState.voters
            .compactMap { voter in progress[voter].map { (voter, $0.match) } }
            .max { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 > $1.0) }
        if let (voter, match) = successor, match == log.lastIndex {
            send(Message(kind: .timeoutNow, from: id, to: voter, term: term))
        }
        becomeFollower(term: term, leader: noNode)
    }

    /// Records the application's snapshot of its state at the applied index and drops log
    /// entries before `appliedIndex - retainEntries` (kept for slow followers). The shell must
    /// have made the snapshot durable first.
    @discardableResult
    public mutating func takeSnapshot(data: [UInt8], retainEntries: UInt64) -> Snapshot {
        takeSnapshot(data: data, index: log.applied, confState: confState, retainEntries: retainEntries)
    }

    /// `takeSnapshot` of a state captured earlier, at applied index `index` with the membership
    /// `confState` of that moment: the shell encodes large states off its loop thread while
    /// entries keep being applied. `index` must be applied; the caller skips a capture that a
    /// newer snapshot (e.g. one installed from the leader) has overtaken.
    @discardableResult
    public mutating func takeSnapshot(data: [UInt8], index: UInt64, confState: ConfState, retainEntries: UInt64) -> Snapshot {
        precondition(index <= log.applied, "snapshot at \(index) beyond the applied index \(log.applied)")
        guard let term = log.term(at: index) else {
            preconditionFailure("snapshot at \(index): the log no longer holds its term (compacted through \(snapshotIndex))")
        }
        let metadata = SnapshotMetadata(index: index, term: term, confState: confState)
        let snapshot = Snapshot(metadata: metadata, data: data)
        latestSnapshot = snapshot
        if index > retainEntries { log.compact(through: index - retainEntries) }
        return snapshot
    }
}
