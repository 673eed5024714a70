import Raft

/// The Raft log as the WAL's records describe it, rebuilt record by record at start-up.
///
/// The WAL is append-only, so a rewrite of the log's suffix shows up as a later record with a
/// lower index; replay applies the contract of `Ready.entries` literally: an entry at index i
/// replaces every entry at i or later.
struct LogReplay: Sendable {
    /// Index just before `entries[0]`: entries at or below it are unknown here (compacted away or
    /// covered by a snapshot that replaced the log).
    private(set) var base: UInt64
    private(set) var entries: [Entry] = []
    var hardState = HardState()
    /// Every snapshot marker seen, oldest first.
    private(set) var markers: [SnapshotMarker] = []

    init(base: UInt64) {
        self.base = base
    }

    var lastIndex: UInt64 { base + UInt64(entries.count) }

    /// Applies one entry record; returns why it does not fit, if it does not.
    mutating func apply(_ entry: Entry) -> String? {
        if entry.index == lastIndex + 1 {
            entries.append(entry)
        } else if entry.index > lastIndex + 1 {
            return "entry \(entry.index) leaves a gap after index \(lastIndex)"
        } else if entry.index > base {
            entries.removeLast(Int(lastIndex - entry.index + 1))
            entries.append(entry)
        } else {
            precondition(entry.index > 0, "entry index 0")
            entries.removeAll()
            base = entry.index - 1
            entries.append(entry)
        }
        return nil
    }

    mutating func apply(_ marker: SnapshotMarker) {
        markers.append(marker)
        if marker.replacesLog {
            entries.removeAll()
            base = marker.index
        }
    }

    /// The term of the entry at `index`, if replay knows it.
    func term(at index: UInt64) -> UInt64? {
        guard index > base, index <= lastIndex else { return nil }
        let entry = entries[Int(index - base - 1)]
        precondition(entry.index == index, "replayed log not contiguous")
        return entry.term
    }

    /// Why a snapshot at (`index`, `term`) cannot be the base of this log, or nil if it can.
    func objection(toSnapshotAt index: UInt64, term: UInt64) -> String? {
        if markers.contains(where: { $0.index == index && $0.term != term }) {
            return "the WAL records a different term for a snapshot at index \(index)"
        }
        let marked = markers.contains { $0.index == index && $0.term == term }
        let olderThanMarkers = markers.first.map { index < $0.index } ?? false
        if !marked && !olderThanMarkers { return "the WAL has no record that it became durable" }
        if index < base { return "the WAL only has entries after index \(base)" }
        if index > lastIndex { return "the WAL's log ends at index \(lastIndex)" }
        if let known = self.term(at: index), known != term { return "the WAL's entry \(index) has term \(known)" }
        return nil
    }

    /// Entries after a snapshot at `index`.
    func entries(after index: UInt64) -> [Entry] {
        precondition(index >= base && index <= lastIndex, "snapshot \(index) outside replayed log")
        return Array(entries[Int(index - base)...])
    }
}
