/// When a manager snapshots its state: every `snapshot-every` applied entries (Docker's
/// `Raft.SnapshotInterval`), and, once the state is large, only after the log since the last
/// snapshot holds `logBytesPerSnapshotByte` times as many bytes as that snapshot.
///
/// It exists because a snapshot encodes the whole state: at a fixed entry interval its cost per
/// write grows with the state, and the write rate fell run after run as services accumulated
/// (issue 15: encoding 20,000 services every 10,000 writes took a fifth of the managers' CPU).
/// Tying the interval to the snapshot's size keeps that cost per written byte constant. At one
/// log byte per snapshot byte, snapshots were still 10% of the managers' CPU under 64-client
/// service creates (perf, every manager encoding about one extra service per write); at two it
/// is half that. The price: the log since the last snapshot, in memory and in the WAL, grows
/// to up to twice the state's encoded size (plus `snapshot-retain-entries`) before it is
/// compacted, and a restart replays up to that much. Below `largeSnapshotBytes` the entry
/// count alone decides, as before.
struct SnapshotPolicy {
    /// Snapshots smaller than this are taken on the entry count alone.
    static let largeSnapshotBytes = 8 << 20
    /// Once the state is large: bytes of log applied since the last snapshot, per byte of that
    /// snapshot, before the next one is due.
    static let logBytesPerSnapshotByte: UInt64 = 2

    /// The size of the last snapshot taken or installed (0 before the first).
    private(set) var lastSnapshotBytes = 0
    /// Bytes of the entries applied since the last snapshot was captured.
    private(set) var appliedBytes: UInt64 = 0

    mutating func applied(byteCount: Int) { appliedBytes += UInt64(byteCount) }

    /// Whether to capture a snapshot with `appliedEntries` entries applied since the last one,
    /// `every` being `snapshot-every`.
    func isDue(appliedEntries: UInt64, every: UInt64) -> Bool {
        precondition(every > 0, "snapshot-every must be positive")
        guard appliedEntries >= every else { return false }
        return lastSnapshotBytes < Self.largeSnapshotBytes || appliedBytes >= Self.logBytesPerSnapshotByte * UInt64(lastSnapshotBytes)
    }

    /// A snapshot was captured: the bytes count again from here.
    mutating func captured() { appliedBytes = 0 }

    /// A snapshot of `byteCount` bytes was encoded, or installed from the leader, or loaded at start.
    mutating func sized(_ byteCount: Int) { lastSnapshotBytes = byteCount }
}
