import Platform
import Raft

/// Where the valid data of the last segment ends: the writer continues from exactly here.
struct WALTail: Sendable {
    let segment: SegmentFile
    /// Offset just after the last valid record.
    let end: Int
    /// Chain CRC of the last valid record.
    let chain: UInt32
    let fileSize: Int
    /// Non-zero bytes after `end` (a torn tail) that must be zeroed before anything is appended.
    let needsScrub: Bool
}

/// Everything recovery learned from the WAL.
struct WALScan: Sendable {
    var replay: LogReplay
    var segments: [SegmentFile]
    var tail: WALTail
}

/// Reads every segment in order, checks each record's CRC and the chain, replays the records, and
/// decides what damage is a torn tail (repairable) and what is corruption (refuse to start).
///
/// The rule: only the last segment can have a torn tail (earlier ones were fsynced before the next
/// was created). Damage there is a torn tail when it looks like a lost write (zeroed sectors, a
/// lost length word, a record cut short) and no later batch proves it had been fsynced; a complete
/// record whose bytes were changed (a bit flip) is refused even when it is the last one. Anything else is
/// refused, because dropping it could lose a record that was acknowledged as durable.
struct WALReader {
    let logger: StorageLogger
    /// Opens sealed records; nil when encryption at rest is disabled (plaintext segments only).
    let keys: DataKeyRing?

    func scan(_ segments: [SegmentFile]) throws -> WALScan {
        precondition(!segments.isEmpty, "scan of an empty WAL")
        try checkSequence(segments)
        var replay = LogReplay(base: segments[0].firstIndex == 0 ? 0 : segments[0].firstIndex - 1)
        var previousChain: UInt32?
        var tail: WALTail?
        for (position, segment) in segments.enumerated() {
            let isLast = position == segments.count - 1
            let bytes = try read(segment)
            let end = try scanSegment(segment, bytes, isLast: isLast, previousChain: previousChain, into: &replay)
            previousChain = end.chain
            if isLast {
                tail = WALTail(segment: segment, end: end.offset, chain: end.chain, fileSize: bytes.count,
                               needsScrub: end.torn)
            }
        }
        return WALScan(replay: replay, segments: segments, tail: tail!)
    }

    private func checkSequence(_ segments: [SegmentFile]) throws {
        for (previous, next) in zip(segments, segments.dropFirst()) where next.sequence != previous.sequence + 1 {
            throw StorageError.corruption(next.path, "WAL segment sequence jumps from \(previous.sequence) to \(next.sequence): a segment is missing")
        }
    }

    private func read(_ segment: SegmentFile) throws -> [UInt8] {
        do { return try File.openForReading(segment.path).readAll() } catch { throw ioError(error, segment.path) }
    }

    private struct SegmentEnd {
        var offset: Int
        var chain: UInt32
        var torn: Bool
    }

    /// Validates the header, then replays records until the clean end or the first defect.
    private func scanSegment(_ segment: SegmentFile, _ bytes: [UInt8], isLast: Bool, previousChain: UInt32?,
                             into replay: inout LogReplay) throws -> SegmentEnd {
        var chain = try checkHeader(segment, bytes, previousChain: previousChain)
        var offset = RecordLayout.size(payload: SegmentHeader.encodedSize)
        while true {
            switch RecordReader.probe(bytes, at: offset) {
            case .end:
                return SegmentEnd(offset: offset, chain: chain, torn: false)
            case let .record(view):
                guard view.chainCRC == RecordReader.chain(after: chain, recordCRC: view.recordCRC) else {
                    try handleDefect(.brokenChain, segment, bytes, at: offset, isLast: isLast)
                    return SegmentEnd(offset: offset, chain: chain, torn: true)
                }
                try apply(view, bytes, segment, into: &replay)
                chain = view.chainCRC
                offset = view.end
            case let .defect(defect):
                try handleDefect(defect, segment, bytes, at: offset, isLast: isLast)
                return SegmentEnd(offset: offset, chain: chain, torn: true)
            }
        }
    }

    /// Checks the segment's first record; returns the chain CRC after it.
    private func checkHeader(_ segment: SegmentFile, _ bytes: [UInt8], previousChain: UInt32?) throws -> UInt32 {
        func refuse(_ why: String) -> StorageError {
            StorageError.corruption(segment.path, at: 0, "bad WAL segment header: \(why)")
        }
        guard case let .record(view) = RecordReader.probe(bytes, at: 0), view.type == .segmentHeader,
              view.payload.count == SegmentHeader.encodedSize
        else { throw refuse("the first record is missing or damaged") }
        let header: SegmentHeader
        do { header = try SegmentHeader(decoding: Array(bytes[view.payload])) } catch { throw refuse("\(error)") }
        if header.isEncrypted != (keys != nil) {
            throw StorageError.corruption(segment.path, at: 0, header.isEncrypted
                ? "this WAL is encrypted at rest but the storage was opened with encryption disabled"
                : SegmentHeader.unencryptedRefusal)
        }
        guard header.sequence == segment.sequence, header.firstIndex == segment.firstIndex else {
            throw refuse("it names sequence \(header.sequence), first index \(header.firstIndex), unlike the file name")
        }
        if let previousChain, previousChain != header.previousChain {
            throw refuse("the CRC chain from the previous segment is broken")
        }
        guard view.chainCRC == RecordReader.chain(after: header.previousChain, recordCRC: view.recordCRC) else {
            throw refuse("its chain CRC does not match")
        }
        return view.chainCRC
    }

    private func apply(_ view: RecordView, _ bytes: [UInt8], _ segment: SegmentFile,
                       into replay: inout LogReplay) throws {
        let payload = try plaintext(view, bytes, segment)
        do {
            switch view.type {
            case .segmentHeader:
                throw StorageError.corruption(segment.path, at: view.offset, "a segment header inside a segment")
            case .entry:
                if let problem = replay.apply(try Entry(wireBytes: payload)) {
                    throw StorageError.corruption(segment.path, at: view.offset, problem)
                }
            case .hardState:
                replay.hardState = try HardState(wireBytes: payload)
            case .snapshotMarker:
                replay.apply(try SnapshotMarker(decoding: payload))
            }
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError.corruption(segment.path, at: view.offset, RecordDefect.undecodable("\(error)").description)
        }
    }

    /// The record's payload, opened if sealed. A sealed record that passed its CRC but not its
    /// authentication was altered or moved on purpose (or the keys do not belong to this WAL): it
    /// is never a torn tail, so it is refused wherever it is.
    private func plaintext(_ view: RecordView, _ bytes: [UInt8], _ segment: SegmentFile) throws -> [UInt8] {
        guard let keys else { return Array(bytes[view.payload]) }
        let word = RecordReader.loadUInt64(bytes, view.offset)
        do {
            return try bytes.withUnsafeBytes { raw throws(SealedPayload.Failure) in
                try SealedPayload.open(UnsafeRawBufferPointer(rebasing: raw[view.payload]), keys: keys) {
                    SealedPayload.recordContext(word: word, sequence: segment.sequence, offset: view.offset, keyID: $0)
                }
            }
        } catch {
            throw StorageError(.corruption, file: segment.path, offset: view.offset, "WAL record \(error)", failedAuthentication: true)
        }
    }

    /// Logs a torn tail, or throws for corruption.
    private func handleDefect(_ defect: RecordDefect, _ segment: SegmentFile, _ bytes: [UInt8], at offset: Int,
                              isLast: Bool) throws {
        guard isLast else {
            throw StorageError.corruption(segment.path, at: offset, "\(defect) in a segment that is not the last one")
        }
        let evidence = TailEvidence(bytes, after: offset)
        if let refusal = evidence.refusal(for: defect, at: offset, in: bytes) {
            throw StorageError.corruption(segment.path, at: offset, refusal)
        }
        logger.warn("""
            torn WAL tail in \(segment.path) at byte \(offset): \(defect); \
            discarding the \(bytes.count - offset) bytes from there (nothing in them shows they were \
            ever fsynced) and zeroing them
            """)
    }
}

/// What lies after a damaged record in the last segment, and whether it proves the damage was
/// once durable.
struct TailEvidence {
    /// Offset of the first record after the damage that is valid on its own.
    private(set) var firstValid: Int?
    /// Offset of a later batch that was written after an fsync covering the damaged bytes.
    private(set) var syncedBatch: Int?

    init(_ bytes: [UInt8], after offset: Int) {
        var position = offset + RecordLayout.alignment
        while let candidate = Self.nextNonZero(bytes, from: position) {
            guard case let .record(view) = RecordReader.probe(bytes, at: candidate) else {
                position = candidate + RecordLayout.alignment
                continue
            }
            if firstValid == nil { firstValid = candidate }
            if view.flags.contains([.batchStart, .precededBySync]) {
                syncedBatch = candidate
                return
            }
            position = view.end
        }
    }

    /// Why the damage must be refused, or nil if it is a torn tail.
    func refusal(for defect: RecordDefect, at offset: Int, in bytes: [UInt8]) -> String? {
        if let syncedBatch {
            return "\(defect), yet the batch at byte \(syncedBatch) was written after an fsync that covered it"
        }
        guard let firstValid else { return Self.alterationRefusal(defect, at: offset, in: bytes) }
        if defect == .zeroHeader || Self.looksTorn(bytes, at: offset, before: firstValid) { return nil }
        return "\(defect), followed by a valid record at byte \(firstValid): the log is damaged before its tail"
    }

    /// Why damage in the last record, with nothing valid after it, is not a torn tail: a crash
    /// loses whole sectors (they read as the preallocated zeros) or the length word, so a complete
    /// record with no zeroed sector that fails its CRC, its padding or the chain was altered after
    /// it was written (a bit flip, an edit). Nil when the damage can be a torn write.
    static func alterationRefusal(_ defect: RecordDefect, at offset: Int, in bytes: [UInt8]) -> String? {
        switch defect {
        case .brokenChain:
            return "\(defect), though the record passes its own CRC: it was altered after it was written, a crash does not do that"
        case .badHeader:
            // The 16-byte header never straddles a sector: a crash leaves it whole or zero. With
            // its length word or its CRC words zero it is no record (a flipped bit in the zeros after the data).
            guard offset + RecordLayout.headerSize <= bytes.count, RecordReader.loadUInt64(bytes, offset) != 0,
                  RecordReader.loadUInt64(bytes, offset + 8) != 0 else { return nil }
            return "\(defect): a crash leaves a record header whole or zero, so it was altered after it was written"
        case .crcMismatch, .badPadding:
            guard !looksTorn(bytes, at: offset, before: bytes.count), !endsInZeros(bytes, at: offset) else { return nil }
            return "\(defect) in a complete record with no lost sector: its bytes were altered after it was written "
                + "(a crash loses whole sectors or the length word, not single bytes)"
        default:
            return nil
        }
    }

    /// True when the last 4 bytes of the record's payload read as zeros: a write cut short (the
    /// end of a sealed payload is its GCM tag, which a flipped bit elsewhere leaves in place).
    static func endsInZeros(_ bytes: [UInt8], at offset: Int) -> Bool {
        let length = Int(RecordReader.loadUInt64(bytes, offset) & 0xffff_ffff)
        let end = offset + RecordLayout.headerSize + length
        guard length >= 4, end <= bytes.count else { return true }
        return RecordReader.isZero(bytes, (end - 4)..<end)
    }

    /// What a write cut short by a power loss leaves behind: the length word lost, or a whole
    /// 512-byte sector overlapping the record's payload still reading as zeros (the preallocated
    /// contents). A bit flip does neither. The record must also not contain a valid record (which
    /// would mean its length, not its contents, is what is wrong).
    static func looksTorn(_ bytes: [UInt8], at offset: Int, before nextValid: Int) -> Bool {
        let word = RecordReader.loadUInt64(bytes, offset)
        if word == 0 { return true }
        let length = Int(word & 0xffff_ffff)
        let start = offset + RecordLayout.headerSize
        guard length > 0, length <= RecordLayout.maxPayload, start + length <= nextValid else { return false }
        var sector = start / sectorSize * sectorSize
        while sector < start + length && sector + sectorSize <= bytes.count {
            if RecordReader.isZero(bytes, sector..<(sector + sectorSize)) { return true }
            sector += sectorSize
        }
        return false
    }

    /// The smallest unit a disk writes atomically; a lost write loses whole sectors.
    static let sectorSize = 512

    /// The next 8-byte aligned offset at or after `from` whose 16 bytes are not all zero.
    static func nextNonZero(_ bytes: [UInt8], from: Int) -> Int? {
        bytes.withUnsafeBytes { raw in
            var position = from
            while position + RecordLayout.headerSize <= raw.count {
                if raw.loadUnaligned(fromByteOffset: position, as: UInt64.self) != 0
                    || raw.loadUnaligned(fromByteOffset: position + 8, as: UInt64.self) != 0 {
                    return position
                }
                position += RecordLayout.alignment
            }
            return nil
        }
    }
}
