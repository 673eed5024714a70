import Raft

/// Picks the snapshot the node restarts from and the entries after it.
///
/// Tries snapshot files newest first. A file newer than anything the WAL recorded as durable is an
/// orphan of a crash between the file and its marker, and is deleted; a file the WAL's log cannot
/// continue from is skipped. A recorded snapshot that fails its CRC or its authentication refuses
/// start-up, naming the file and offset: it was durable (its marker was written after its fsync),
/// so its damage is an alteration, and falling back to an older snapshot would hide it. If
/// nothing fits, start-up is refused.
struct Recovery {
    let logger: StorageLogger
    let snapshots: SnapshotStore
    let replay: LogReplay

    struct Choice {
        var state: PersistentState
        var latestMarker: SnapshotMarker?
    }

    func choose() throws -> Choice {
        let latestMarker = replay.markers.last.map { SnapshotMarker(index: $0.index, term: $0.term, replacesLog: false) }
        if let snapshot = try newestUsableSnapshot() {
            let state = PersistentState(hardState: replay.hardState, snapshot: snapshot,
                                        entries: replay.entries(after: snapshot.metadata.index))
            return Choice(state: state, latestMarker: latestMarker)
        }
        guard replay.markers.isEmpty, replay.base == 0 else {
            let wanted = replay.markers.last.map { "snapshot at index \($0.index), term \($0.term)" }
                ?? "snapshot covering the entries up to index \(replay.base)"
            throw StorageError.corruption(snapshots.directory, "no usable snapshot file; the WAL needs a \(wanted)")
        }
        return Choice(state: PersistentState(hardState: replay.hardState, entries: replay.entries(after: 0)),
                      latestMarker: nil)
    }

    private func newestUsableSnapshot() throws -> Snapshot? {
        let newestMarked = replay.markers.map(\.index).max()
        for file in snapshots.files.reversed() {
            if newestMarked.map({ file.index > $0 }) ?? true {
                logger.warn("snapshot \(file.path) was never recorded in the WAL (crash before its marker); deleting it")
                try snapshots.remove(file)
                continue
            }
            if let objection = replay.objection(toSnapshotAt: file.index, term: file.term) {
                logger.warn("snapshot \(file.path) does not fit the WAL (\(objection)); trying an older one")
                continue
            }
            return try snapshots.load(file)
        }
        return nil
    }
}
