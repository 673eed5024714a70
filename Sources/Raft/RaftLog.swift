/// A node's view of the replicated log: the entries since the last compaction point, which of
/// them are durable, committed and applied.
///
/// Indexes `offsetIndex + 1 ... lastIndex` are held in memory; everything up to `offsetIndex`
/// has been folded into a snapshot. The shell's WAL holds the durable copy; this type is the
/// core's working copy and never touches a disk.
struct RaftLog: Sendable {
    /// Last index folded into a snapshot (0 for a fresh log) and its term.
    private(set) var offsetIndex: UInt64
    private(set) var offsetTerm: UInt64
    private(set) var entries: [Entry]
    /// Highest index known committed on a quorum.
    private(set) var committed: UInt64
    /// Highest index the state machine has applied (confirmed by `advance`).
    var applied: UInt64
    /// Highest index known durable on this node's disk (confirmed by `advance`).
    var stableIndex: UInt64
    /// Highest index handed to the shell for persistence in a `Ready` (≥ `stableIndex`): with
    /// several batches in flight, the next one starts after it.
    var handedOutIndex: UInt64

    init(snapshot: SnapshotMetadata, entries: [Entry], commit: UInt64) {
        offsetIndex = snapshot.index
        offsetTerm = snapshot.term
        self.entries = entries
        precondition(entries.isEmpty || entries[0].index == snapshot.index + 1, "recovered entries must follow the snapshot")
        for (position, entry) in entries.enumerated() {
            precondition(entry.index == snapshot.index + 1 + UInt64(position), "recovered entries must be contiguous")
        }
        stableIndex = snapshot.index + UInt64(entries.count)
        handedOutIndex = stableIndex
        committed = max(snapshot.index, min(commit, stableIndex))
        applied = snapshot.index
    }

    var firstIndex: UInt64 { offsetIndex + 1 }
    var lastIndex: UInt64 { offsetIndex + UInt64(entries.count) }
    var lastTerm: UInt64 { entries.last?.term ?? offsetTerm }

    /// The term of the entry at `index`, or nil when it is compacted away or not yet written.
    func term(at index: UInt64) -> UInt64? {
        if index == offsetIndex { return offsetTerm }
        guard index > offsetIndex, index <= lastIndex else { return nil }
        return entries[Int(index - offsetIndex - 1)].term
    }

    func entry(at index: UInt64) -> Entry? {
        guard index > offsetIndex, index <= lastIndex else { return nil }
        return entries[Int(index - offsetIndex - 1)]
    }

    func matchTerm(_ index: UInt64, _ term: UInt64) -> Bool { self.term(at: index) == term }

    /// §5.4.1: a candidate's log is at least as up to date as ours.
    func isUpToDate(lastIndex candidateIndex: UInt64, lastTerm candidateTerm: UInt64) -> Bool {
        candidateTerm > lastTerm || (candidateTerm == lastTerm && candidateIndex >= lastIndex)
    }

    /// Entries in `low ..< high`, cut after the first entry that pushes the total past `maxBytes`
    /// (at least one entry is always returned when the range is non-empty).
    func slice(_ low: UInt64, _ high: UInt64, maxBytes: Int = .max) -> [Entry] {
        precondition(low > offsetIndex && high <= lastIndex + 1, "slice outside the in-memory log")
        guard low < high else { return [] }
        let start = Int(low - offsetIndex - 1)
        var end = Int(high - offsetIndex - 1)
        if maxBytes != .max {
            var total = 0
            for position in start..<end {
                total += entries[position].byteSize
                if total > maxBytes && position > start {
                    end = position
                    break
                }
            }
        }
        return Array(entries[start..<end])
    }

    /// The first index where `incoming` disagrees with the log, or 0 if every entry matches.
    func findConflict(_ incoming: [Entry]) -> UInt64 {
        for entry in incoming where !matchTerm(entry.index, entry.term) {
            return entry.index
        }
        return 0
    }

    /// The largest index ≤ `index` whose term is ≤ `term`: where a rejected leader should probe
    /// next, skipping a whole term of conflicting entries in one round trip.
    func findConflictByTerm(_ index: UInt64, _ term: UInt64) -> (index: UInt64, term: UInt64) {
        var candidate = min(index, lastIndex)
        while candidate > offsetIndex {
            let candidateTerm = self.term(at: candidate)!
            if candidateTerm <= term { return (candidate, candidateTerm) }
            candidate -= 1
        }
        return (candidate, self.term(at: candidate) ?? 0)
    }

    /// Appends entries, replacing any existing suffix from the first entry's index on.
    mutating func append(_ incoming: [Entry]) {
        guard let first = incoming.first else { return }
        precondition(first.index > committed, "truncating committed entry \(first.index) (commit \(committed))")
        precondition(first.index <= lastIndex + 1, "gap before appended entry \(first.index)")
        let keep = Int(first.index - offsetIndex - 1)
        if keep < entries.count { entries.removeSubrange(keep...) }
        entries.append(contentsOf: incoming)
        stableIndex = min(stableIndex, first.index - 1)
        handedOutIndex = min(handedOutIndex, first.index - 1)
    }

    /// The follower side of AppendEntries: appends if the log matches at (prevIndex, prevTerm)
    /// and returns the index of the last entry now known to match the leader's, or nil.
    mutating func maybeAppend(prevIndex: UInt64, prevTerm: UInt64, leaderCommit: UInt64, entries incoming: [Entry]) -> UInt64? {
        guard matchTerm(prevIndex, prevTerm) else { return nil }
        let lastNew = prevIndex + UInt64(incoming.count)
        let conflict = findConflict(incoming)
        if conflict != 0 {
            append(Array(incoming[Int(conflict - prevIndex - 1)...]))
        }
        commit(to: min(leaderCommit, lastNew))
        return lastNew
    }

    mutating func commit(to index: UInt64) {
        guard index > committed else { return }
        precondition(index <= lastIndex, "commit \(index) beyond last index \(lastIndex)")
        committed = index
    }

    /// Replaces the whole log with a snapshot's position (the snapshot supersedes every entry).
    mutating func restore(_ metadata: SnapshotMetadata) {
        offsetIndex = metadata.index
        offsetTerm = metadata.term
        entries = []
        committed = metadata.index
        applied = max(applied, metadata.index)
        stableIndex = metadata.index
        handedOutIndex = metadata.index
    }

    /// Drops entries up to `index` (which must be applied), keeping its term as the new offset.
    mutating func compact(through index: UInt64) {
        guard index > offsetIndex else { return }
        precondition(index <= applied, "compacting unapplied entry \(index)")
        offsetTerm = term(at: index)!
        entries.removeFirst(Int(index - offsetIndex))
        offsetIndex = index
    }
}
