import Wire
import Raft

/// A node's simulated disk: exactly what survives a crash. It follows the shell's persistence
/// order (snapshot, then entries, then hard state, then fsync); a crash in the middle of a write
/// keeps the snapshot and a prefix of the entries and loses the rest of that batch, and may leave
/// the last written entry damaged (a torn sector, a flipped bit). Every entry carries a CRC-32C,
/// as WAL records do, so recovery detects the damaged tail and drops it, never using it.
struct SimDisk {
    private(set) var hardState = HardState()
    private(set) var snapshot = Snapshot()
    private(set) var entries: [Entry] = []
    /// CRC-32C of each entry as written; a mismatch is a damaged record.
    private var checksums: [UInt32] = []
    /// Tail records found damaged and dropped at recovery.
    private(set) var repairedTails = 0

    init(_ initial: PersistentState) {
        hardState = initial.hardState
        snapshot = initial.snapshot
        entries = initial.entries
        checksums = initial.entries.map(Self.checksum)
    }

    static func checksum(_ entry: Entry) -> UInt32 {
        CRC32C.checksum(entry.wireBytes())
    }

    /// Persists a Ready batch; `tornAfter` cuts the batch after that many entries (a crash
    /// mid-write), and `damageLast` flips a bit in the last entry that reached the disk.
    mutating func persist(_ ready: Ready, tornAfter: Int? = nil, damageLast: Bool = false) {
        if let received = ready.snapshot { installSnapshot(received, keepEntries: false) }
        let kept = tornAfter.map { Array(ready.entries.prefix($0)) } ?? ready.entries
        append(kept)
        if tornAfter == nil, let hard = ready.hardState { hardState = hard }
        if damageLast, tornAfter != nil, !kept.isEmpty, var last = entries.popLast() {
            last.data = last.data.isEmpty ? [1] : [last.data[0] ^ 0x10] + last.data.dropFirst()
            entries.append(last)
        }
    }

    private mutating func append(_ incoming: [Entry]) {
        guard let first = incoming.first else { return }
        let lastDurable = snapshot.metadata.index + UInt64(entries.count)
        precondition(first.index <= lastDurable + 1, "disk gap: appending \(first.index) after \(lastDurable)")
        precondition(first.index > snapshot.metadata.index, "appending below the snapshot")
        let dropped = Int(lastDurable + 1 - first.index)
        entries.removeLast(dropped)
        checksums.removeLast(dropped)
        entries.append(contentsOf: incoming)
        checksums.append(contentsOf: incoming.map(Self.checksum))
    }

    /// A snapshot the node took itself keeps the entries after it; one received from a leader
    /// replaces the whole log.
    mutating func installSnapshot(_ newSnapshot: Snapshot, keepEntries: Bool) {
        guard newSnapshot.metadata.index > snapshot.metadata.index else { return }
        let keep = keepEntries ? entries.indices.filter { entries[$0].index > newSnapshot.metadata.index } : []
        entries = keep.map { entries[$0] }
        checksums = keep.map { checksums[$0] }
        snapshot = newSnapshot
        if hardState.commit < newSnapshot.metadata.index { hardState.commit = newSnapshot.metadata.index }
    }

    /// What a restarted node reads back. Damage is only ever possible in the last record (the
    /// write in flight at the crash); it is truncated like a torn WAL tail.
    mutating func recover() -> PersistentState {
        while let last = entries.last, Self.checksum(last) != checksums.last {
            entries.removeLast()
            checksums.removeLast()
            repairedTails += 1
        }
        precondition(zip(entries, checksums).allSatisfy { Self.checksum($0) == $1 }, "undetected damage before the tail")
        return PersistentState(hardState: hardState, snapshot: snapshot, entries: entries)
    }
}
