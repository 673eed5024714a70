import Wire

/// What the core remembers of a batch it handed out until the shell confirms it (`advance`).
struct OutstandingReady: Sendable {
    /// Its committed entries were applied before it was persisted (`advanceApplied`).
    var appliedEarly = false
    /// It reports a role or leader change, or carries a snapshot: nothing is handed out after it
    /// until it is confirmed (the shell acts on those only once persisted).
    var isBarrier = false
}

// The persistence contract: everything the core changed, handed to the shell in one batch.
extension RaftNode {
    /// Batches a shell may have in flight at once (`acceptsAnotherReady`).
    public static let maxOutstandingReadies = 8

    public var hasReady: Bool {
        softState != reportedSoftState || hardState != handedOutHardState || pendingSnapshot != nil
            || log.lastIndex > log.handedOutIndex || !messages.isEmpty || log.committed > log.applied
            || !readStates.isEmpty
    }

    /// Whether `ready()` may be called now: no batch is outstanding, or (pipelined persistence,
    /// as etcd-raft's asynchronous storage writes) fewer than `maxOutstandingReadies` are, each
    /// was applied early (`advanceApplied`), none reports a role change or carries a snapshot,
    /// and no role change or snapshot waits to be reported. A shell that persists batches in
    /// order (one writer, first in first out) may then write the next batch while the previous
    /// one is still being made durable; the contract of each batch is unchanged (its messages
    /// leave after its own write, which follows every earlier one).
    public var acceptsAnotherReady: Bool {
        guard readyOutstanding else { return true }
        return outstandingReadies.count < Self.maxOutstandingReadies && pendingSnapshot == nil && softState == reportedSoftState
            && outstandingReadies.allSatisfy { $0.appliedEarly && !$0.isBarrier }
    }

    /// The next batch of effects. Must be followed by `advance(_:)` before the next `ready()`,
    /// unless `acceptsAnotherReady` (batches are then advanced in the order they were handed
    /// out); `step`, `tick` and proposals may come in between.
    public mutating func ready() -> Ready {
        precondition(acceptsAnotherReady, "ready() called with a batch outstanding that does not allow another")
        var batch = Ready()
        var outstanding = OutstandingReady()
        if softState != reportedSoftState {
            batch.softState = softState
            reportedSoftState = softState
            outstanding.isBarrier = true
        }
        let current = hardState
        if current != handedOutHardState { batch.hardState = current }
        batch.snapshot = pendingSnapshot
        if pendingSnapshot != nil { outstanding.isBarrier = true }
        batch.entries = log.slice(log.handedOutIndex + 1, log.lastIndex + 1)
        let applyFrom = max(log.applied, pendingSnapshot?.metadata.index ?? 0) + 1
        if log.committed >= applyFrom {
            batch.committedEntries = log.slice(applyFrom, log.committed + 1)
        }
        batch.messages = messages
        messages = []
        batch.readStates = readStates
        readStates = []
        batch.mustSync = !batch.entries.isEmpty || batch.snapshot != nil
            || current.term != handedOutHardState.term || current.vote != handedOutHardState.vote
        log.handedOutIndex = log.lastIndex
        handedOutHardState = current
        outstandingReadies.append(outstanding)
        return batch
    }

    /// The shell has persisted, sent and applied `batch` as `Ready` describes. Batches are
    /// advanced in the order `ready()` handed them out.
    public mutating func advance(_ batch: Ready) {
        precondition(readyOutstanding, "advance() without ready()")
        let outstanding = outstandingReadies.removeFirst()
        if let hard = batch.hardState { persistedHardState = hard }
        if let snapshot = batch.snapshot, pendingSnapshot?.metadata == snapshot.metadata { pendingSnapshot = nil }
        // Entries count as durable only if the log still holds them (a truncation may have
        // replaced them while the batch was being written).
        if let last = batch.entries.last, log.term(at: last.index) == last.term {
            log.stableIndex = max(log.stableIndex, last.index)
        }
        if !outstanding.appliedEarly {
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
        precondition(readyOutstanding && !outstandingReadies[outstandingReadies.count - 1].appliedEarly,
                     "advanceApplied() needs an outstanding ready() and is called once, for the latest batch")
        outstandingReadies[outstandingReadies.count - 1].appliedEarly = true
        markApplied(batch.committedEntries)
    }

    /// Entries committed since the last `ready()` (or call of this), for a shell that applies
    /// them while a batch is still being persisted. The caller must apply them, in order, before
    /// anything else; they count as applied. Empty while a snapshot from the leader waits to be
    /// applied, and while an outstanding batch's own committed entries are not applied yet.
    public mutating func takeCommittedEntries() -> [Entry] {
        guard pendingSnapshot == nil, outstandingReadies.allSatisfy(\.appliedEarly), log.committed > log.applied else { return [] }
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
