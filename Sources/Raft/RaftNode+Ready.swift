import Wire

/// What a handed-out `Ready` promised, checked when the shell acknowledges it.
struct ReadyMarker: Sendable {
    var lastEntry: (index: UInt64, term: UInt64)?
}

// The persistence contract: everything the core changed, handed to the shell in one batch.
extension RaftNode {
    public var hasReady: Bool {
        softState != reportedSoftState || hardState != persistedHardState || pendingSnapshot != nil
            || log.lastIndex > log.stableIndex || !messages.isEmpty || log.committed > log.applied
            || !readStates.isEmpty
    }

    /// The next batch of effects. Must be followed by `advance(_:)` before the next `ready()`;
    /// `step`, `tick` and proposals may come in between.
    public mutating func ready() -> Ready {
        precondition(!readyOutstanding, "ready() called twice without advance()")
        readyOutstanding = true
        var batch = Ready()
        if softState != reportedSoftState {
            batch.softState = softState
            reportedSoftState = softState
        }
        let current = hardState
        if current != persistedHardState { batch.hardState = current }
        batch.snapshot = pendingSnapshot
        batch.entries = log.slice(log.stableIndex + 1, log.lastIndex + 1)
        let applyFrom = max(log.applied, pendingSnapshot?.metadata.index ?? 0) + 1
        if log.committed >= applyFrom {
            batch.committedEntries = log.slice(applyFrom, log.committed + 1)
        }
        batch.messages = messages
        messages = []
        batch.readStates = readStates
        readStates = []
        batch.mustSync = !batch.entries.isEmpty || batch.snapshot != nil
            || current.term != persistedHardState.term || current.vote != persistedHardState.vote
        return batch
    }

    /// The shell has persisted, sent and applied `batch` as `Ready` describes.
    public mutating func advance(_ batch: Ready) {
        precondition(readyOutstanding, "advance() without ready()")
        readyOutstanding = false
        if let hard = batch.hardState { persistedHardState = hard }
        if let snapshot = batch.snapshot, pendingSnapshot?.metadata == snapshot.metadata { pendingSnapshot = nil }
        // Entries count as durable only if the log still holds them (a truncation may have
        // replaced them while the batch was being written).
        if let last = batch.entries.last, log.term(at: last.index) == last.term {
            log.stableIndex = max(log.stableIndex, last.index)
        }
        if appliedEarly {
            appliedEarly = false
        } else {
            markApplied(batch.committedEntries)
        }
        if role == .leader, progress[id] != nil {
            _ = progress[id]!.maybeUpdate(log.stableIndex)
            if maybeCommit() { broadcastAppend() }
        }
    }

    /// The shell applied `batch.committedEntries` (and installed `batch.snapshot`) before
    /// persisting the batch. Raft allows it: an entry is committed only once a quorum holds it
    /// durably (this node's own entries count only after `advance`), so applying it does not
    /// depend on this node's write. `advance(batch)` still follows once the batch is persisted.
    public mutating func advanceApplied(_ batch: Ready) {
        precondition(readyOutstanding && !appliedEarly, "advanceApplied() needs an outstanding ready() and is called once")
        appliedEarly = true
        markApplied(batch.committedEntries)
    }

    /// Entries committed since the last `ready()` (or call of this), for a shell that applies
    /// them while a batch is still being persisted. The caller must apply them, in order, before
    /// anything else; they count as applied. Empty while a snapshot from the leader waits to be
    /// applied, and while an outstanding batch's own committed entries are not applied yet.
    public mutating func takeCommittedEntries() -> [Entry] {
        guard pendingSnapshot == nil, !readyOutstanding || appliedEarly, log.committed > log.applied else { return [] }
        let entries = log.slice(log.applied + 1, log.committed + 1)
        markApplied(entries)
        return entries
    }

    private mutating func markApplied(_ entries: [Entry]) {
        guard let last = entries.last else { return }
        log.applied = max(log.applied, last.index)
        for entry in entries where entry.kind == .confChange {
            if let change = try? ConfChange(wireBytes: entry.data) { applyConfChange(change) }
        }
    }

    /// A leader's queued messages, for a shell that sends them while a batch is still being
    /// persisted instead of waiting for the next `ready()`: nothing a leader sends depends on its
    /// own disk (appends may race its own write; its entries count toward a commit only after
    /// `advance`). Empty for any other role, whose messages must follow its write.
    public mutating func takeLeaderMessages() -> [Message] {
        guard role == .leader, softState == reportedSoftState, !messages.isEmpty else { return [] }
        defer { messages = [] }
        return messages
    }
}
