import Raft

/// A node's simulated disk: exactly what survives a crash. It follows the shell's persistence
/// order (snapshot, then entries, then hard state, then fsync); a crash in the middle of a write
/// keeps the snapshot and a prefix of the entries and loses the rest of that batch.
struct SimDisk {
    private(set) var hardState = HardState()
    private(set) var snapshot = Snapshot()
    private(set) var entries: [Entry] = []

    init(_ initial: PersistentState) {
        hardState = initial.hardState
        snapshot = initial.snapshot
        entries = initial.entries
    }

    /// Persists a Ready batch; `tornAfter` cuts the batch after that many entries (a crash mid-write).
    mutating func persist(_ ready: Ready, tornAfter: Int? = nil) {
        if let received = ready.snapshot { installSnapshot(received, keepEntries: false) }
        let kept = tornAfter.map { Array(ready.entries.prefix($0)) } ?? ready.entries
        append(kept)
        if tornAfter == nil, let hard = ready.hardState { hardState = hard }
    }

    private mutating func append(_ incoming: [Entry]) {
        guard let first = incoming.first else { return }
        let lastDurable = snapshot.metadata.index + UInt64(entries.count)
        precondition(first.index <= lastDurable + 1, "disk gap: appending \(first.index) after \(lastDurable)")
        precondition(first.index > snapshot.metadata.index, "appending below the snapshot")
        entries.removeLast(Int(lastDurable + 1 - first.index))
        entries.append(contentsOf: incoming)
    }

    /// A snapshot the node took itself keeps the entries after it; one received from a leader
    /// replaces the whole log.
    mutating func installSnapshot(_ newSnapshot: Snapshot, keepEntries: Bool) {
        guard newSnapshot.metadata.index > snapshot.metadata.index else { return }
        entries = keepEntries ? entries.filter { $0.index > newSnapshot.metadata.index } : []
        snapshot = newSnapshot
        if hardState.commit < newSnapshot.metadata.index { hardState.commit = newSnapshot.metadata.index }
    }

    func recover() -> PersistentState {
        PersistentState(hardState: hardState, snapshot: snapshot, entries: entries)
    }
}
