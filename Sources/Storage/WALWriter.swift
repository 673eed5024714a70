import Glibc
import Platform
import Raft

/// Appends batches of records to the current segment with one `pwrite` and at most one
/// `fdatasync` per batch, and cuts a new segment when the current one is full.
///
/// It owns the chain CRC and the "everything written so far is durable" flag that each batch
/// start records for recovery.
final class WALWriter {
    let directory: String
    let segmentSize: Int
    private(set) var segments: [SegmentFile]
    private var file: File
    private var offset: Int
    private var chain: UInt32
    /// Every byte written to the WAL has been fdatasynced.
    private(set) var isSynced: Bool
    /// Last index of the log as written (after any suffix replacement or log-replacing snapshot).
    private(set) var lastIndex: UInt64
    private(set) var hardState: HardState
    /// The newest snapshot marker, repeated at the start of each new segment.
    private(set) var latestMarker: SnapshotMarker?
    /// Offset where the current segment's own records start (after header, hard state, marker).
    private var segmentDataStart: Int
    private var encoder: RecordEncoder
    private let preallocator = SegmentPreallocator()
    /// fdatasync calls made on segments by `sync()` (observable by tests: one per synced batch).
    private(set) var batchSyncCount = 0

    /// Continues the log found by recovery, scrubbing a torn tail first.
    init(directory: String, segmentSize: Int, scan: WALScan, lastIndex: UInt64, latestMarker: SnapshotMarker?,
         keys: DataKeyRing?) throws {
        let tail = scan.tail
        encoder = RecordEncoder(chain: 0, keys: keys)
        self.directory = directory
        self.segmentSize = segmentSize
        segments = scan.segments
        file = try File.openForUpdate(tail.segment.path)
        offset = tail.end
        chain = tail.chain
        self.lastIndex = lastIndex
        hardState = scan.replay.hardState
        self.latestMarker = latestMarker
        segmentDataStart = RecordLayout.size(payload: SegmentHeader.encodedSize)
        isSynced = false
        try scrub(tail)
        try file.syncData()
        isSynced = true
    }

    /// Creates the first segment of a brand-new WAL.
    init(creatingIn directory: String, segmentSize: Int, keys: DataKeyRing?) throws {
        encoder = RecordEncoder(chain: 0, keys: keys)
        self.directory = directory
        self.segmentSize = segmentSize
        let segment = SegmentFile(sequence: 0, firstIndex: 1, path: directory + "/" + SegmentFile.name(sequence: 0, firstIndex: 1))
        let temporary = directory + "/" + hex16(0) + ".tmp"
        try SegmentPreallocator.prepare(temporary, size: segmentSize)
        file = try File.openForUpdate(temporary)
        segments = []
        offset = 0
        chain = 0
        lastIndex = 0
        hardState = HardState()
        latestMarker = nil
        segmentDataStart = 0
        isSynced = true
        try install(segment, from: temporary, previousChain: 0)
    }

    deinit {
        _ = try? preallocator.take()
        for name in (try? FileSystem.list(directory)) ?? [] where name.hasSuffix(".tmp") {
            try? FileSystem.remove(directory + "/" + name)
        }
    }

    /// Zeroes whatever follows the valid data, and makes sure the segment has its full size.
    private func scrub(_ tail: WALTail) throws {
        if tail.needsScrub { try file.writeZeros(at: tail.end, count: tail.fileSize - tail.end) }
        if tail.fileSize < segmentSize { try file.writeZeros(at: tail.fileSize, count: segmentSize - tail.fileSize) }
    }

    // MARK: Appending

    /// Writes entries (replacing any at or after the first one's index), then the hard state, as
    /// one batch; fdatasyncs once if `sync`.
    func append(entries: [Entry], hardState newState: HardState?, sync: Bool) throws {
        guard !entries.isEmpty || newState != nil else {
            if sync { try self.sync() }
            return
        }
        checkContiguous(entries)
        let firstIndex = min(lastIndex + 1, entries.first?.index ?? lastIndex + 1)
        try writeBatch(sync: sync, nextSegmentFirstIndex: firstIndex) { encoder in
            for entry in entries { try encoder.append(.entry, payload: entry.wireBytes()) }
            if let newState { try encoder.append(.hardState, payload: newState.wireBytes()) }
        }
        if let last = entries.last { lastIndex = last.index }
        if let newState { hardState = newState }
    }

    /// Records that a snapshot file is durable; always fdatasynced.
    func appendMarker(_ marker: SnapshotMarker) throws {
        precondition(marker.replacesLog || marker.index <= lastIndex,
                     "local snapshot at \(marker.index) is beyond the log's last index \(lastIndex)")
        try writeBatch(sync: true, nextSegmentFirstIndex: lastIndex + 1) { encoder in
            try encoder.append(.snapshotMarker, payload: marker.encoded())
        }
        latestMarker = SnapshotMarker(index: marker.index, term: marker.term, replacesLog: false)
        if marker.replacesLog { lastIndex = marker.index }
    }

    func sync() throws {
        guard !isSynced else { return }
        do { try file.syncData() } catch { throw ioError(error, file.path) }
        batchSyncCount += 1
        isSynced = true
    }

    private func checkContiguous(_ entries: [Entry]) {
        guard let first = entries.first else { return }
        precondition(first.index >= 1 && first.index <= lastIndex + 1,
                     "entry \(first.index) would leave a gap after index \(lastIndex)")
        for (previous, next) in zip(entries, entries.dropFirst()) {
            precondition(next.index == previous.index + 1, "batch entries not contiguous at \(next.index)")
        }
    }

    /// Encodes a batch, cutting first if it does not fit, then writes and optionally syncs it.
    private func writeBatch(sync: Bool, nextSegmentFirstIndex: UInt64, _ build: (inout RecordEncoder) throws -> Void) throws {
        try encode(build)
        if offset + encoder.bytes.count > segmentSize && offset > segmentDataStart {
            try cut(firstIndex: nextSegmentFirstIndex)
            try encode(build)
        }
        do {
            try file.write(encoder.bytes, at: offset)
            offset += encoder.bytes.count
            chain = encoder.chain
            isSynced = false
            if sync { try self.sync() }
        } catch {
            throw ioError(error, file.path)
        }
        prepareNextSegmentIfDue()
    }

    private func encode(_ build: (inout RecordEncoder) throws -> Void) throws {
        encoder.beginBatch(chain: chain, precededBySync: isSynced, sequence: currentSequence, offset: offset)
        try build(&encoder)
    }

    // MARK: Segments

    private func prepareNextSegmentIfDue() {
        guard offset >= segmentSize / 2, !preallocator.isPending else { return }
        preallocator.start(temporaryPath(for: currentSequence + 1), size: segmentSize)
    }

    private var currentSequence: UInt64 { segments.last!.sequence }

    private func temporaryPath(for sequence: UInt64) -> String { directory + "/" + hex16(sequence) + ".tmp" }

    /// Seals the current segment (truncated to its data, fsynced) and switches to a new one.
    private func cut(firstIndex: UInt64) throws {
        let sequence = currentSequence + 1
        let segment = SegmentFile(sequence: sequence, firstIndex: firstIndex,
                                  path: directory + "/" + SegmentFile.name(sequence: sequence, firstIndex: firstIndex))
        do {
            try file.truncate(to: offset)
            try file.syncData()
            isSynced = true
            var temporary = try preallocator.take()
            if temporary != temporaryPath(for: sequence) {
                if let stale = temporary { try FileSystem.remove(stale) }
                temporary = temporaryPath(for: sequence)
                try SegmentPreallocator.prepare(temporary!, size: segmentSize)
            }
            file = try File.openForUpdate(temporary!)
            try install(segment, from: temporary!, previousChain: chain)
        } catch {
            throw ioError(error, segment.path)
        }
    }

    /// Writes the opening records into the open (zero-filled, temporary) file, syncs it, renames it
    /// to `segment` and syncs the directory. The segment appears complete or not at all.
    private func install(_ segment: SegmentFile, from temporary: String, previousChain: UInt32) throws {
        encoder.beginBatch(chain: previousChain, precededBySync: true, sequence: segment.sequence, offset: 0)
        let header = SegmentHeader(sequence: segment.sequence, firstIndex: segment.firstIndex, previousChain: previousChain,
                                   isEncrypted: encoder.keys != nil)
        try encoder.append(.segmentHeader, payload: header.encoded())
        try encoder.append(.hardState, payload: hardState.wireBytes())
        if let latestMarker { try encoder.append(.snapshotMarker, payload: latestMarker.encoded()) }
        try file.write(encoder.bytes, at: 0)
        try file.syncData()
        try FileSystem.rename(temporary, to: segment.path)
        try FileSystem.syncDirectory(directory)
        segments.append(segment)
        offset = encoder.bytes.count
        segmentDataStart = offset
        chain = encoder.chain
        isSynced = true
    }

    /// Deletes sealed segments none of whose entries at or after `floor + 1` are needed; the
    /// current segment is never deleted. Syncs the hard state first (etcd #10219).
    func removeSegments(keepingFrom floor: UInt64) throws -> [SegmentFile] {
        try sync()
        var removed: [SegmentFile] = []
        while segments.count > 1, segments[1].firstIndex <= floor + 1 {
            do { try FileSystem.remove(segments[0].path) } catch { throw ioError(error, segments[0].path) }
            removed.append(segments.removeFirst())
        }
        if !removed.isEmpty {
            do { try FileSystem.syncDirectory(directory) } catch { throw ioError(error, directory) }
        }
        return removed
    }
}
