import Raft
import Wire

// On-disk record format of the write-ahead log.
//
// A segment is a sequence of records, each starting at an 8-byte aligned offset:
//
//   0..<4   payload length (UInt32 LE, > 0)      | the first 8 bytes are one aligned word, so a
//   4       record type                          | torn write cannot leave half a length
//   5       flags (batch start, preceded by sync)|
//   6..<8   reserved, zero                       |
//   8..<12  record CRC: CRC-32C of bytes 0..<8 and the payload
//   12..<16 chain CRC: CRC-32C of the record CRC, continuing the previous record's chain CRC
//   16...   payload, then zero padding to the next multiple of 8
//
// The chain starts in each segment's header record from the previous segment's final chain CRC,
// so the chain spans files. An all-zero header is the end of the data (segments are preallocated
// with zeros). The record CRC lets recovery recognise a valid record on its own, which is how it
// tells a torn tail (nothing valid after the damage) from corruption before the tail.

/// What a WAL record holds.
enum RecordType: UInt8, Sendable {
    /// First record of every segment: identity and the chain link to the previous segment.
    case segmentHeader = 1
    case entry = 2
    case hardState = 3
    /// A snapshot file with this index and term is durable (written after the file, etcd order).
    case snapshotMarker = 4
}

/// Per-record facts recovery uses to decide whether damaged bytes had ever been fsynced.
struct RecordFlags: OptionSet, Sendable {
    let rawValue: UInt8
    /// The first record of one `append`/`save` batch.
    static let batchStart = RecordFlags(rawValue: 1)
    /// Set on a batch start when every byte before it had been fdatasynced when it was written.
    static let precededBySync = RecordFlags(rawValue: 2)
}

enum RecordLayout {
    static let headerSize = 16
    static let alignment = 8
    /// Largest payload accepted: one maximal entry plus its encoding and encryption overhead.
    static let maxPayload = maxEntryDataBytes + 64 + SealedPayload.overhead

    static func size(payload: Int) -> Int {
        headerSize + (payload + alignment - 1) / alignment * alignment
    }
}

/// A record that passed its own checks (header, bounds, padding, record CRC).
struct RecordView: Sendable {
    let offset: Int
    let type: RecordType
    let flags: RecordFlags
    let payload: Range<Int>
    let recordCRC: UInt32
    let chainCRC: UInt32

    var end: Int { offset + RecordLayout.size(payload: payload.count) }
}

/// Why the bytes at an offset are not a valid record.
enum RecordDefect: Sendable, Equatable, CustomStringConvertible {
    /// A zero header, but non-zero bytes follow somewhere in the file.
    case zeroHeader
    /// Fewer bytes left in the file than the header or the record needs.
    case truncated
    case badHeader(String)
    case badPadding
    case crcMismatch
    case brokenChain
    case undecodable(String)

    var description: String {
        switch self {
        case .zeroHeader: "zeroed record header followed by non-zero bytes"
        case .truncated: "record runs past the end of the file"
        case let .badHeader(why): "invalid record header (\(why))"
        case .badPadding: "non-zero record padding"
        case .crcMismatch: "record CRC mismatch"
        case .brokenChain: "record does not continue the CRC chain"
        case let .undecodable(why): "record passes its CRC but cannot be decoded (\(why))"
        }
    }
}

/// The outcome of looking at the bytes at one offset.
enum RecordProbe: Sendable {
    case record(RecordView)
    /// Only zeros from here to the end of the file (or nothing at all): the clean end of the data.
    case end
    case defect(RecordDefect)
}

/// Builds the bytes of a batch of records, carrying the chain CRC from one record to the next.
///
/// With a key ring, every record but the segment header stores its payload sealed
/// (`SealedPayload`) with the record's header word, segment sequence and offset as associated
/// data; the CRCs then cover the stored (encrypted) bytes, so torn-tail detection is unchanged.
struct RecordEncoder {
    private(set) var bytes: [UInt8] = []
    private(set) var chain: UInt32
    private var startsBatch = true
    private var batchFlags: RecordFlags = []
    /// Seals payloads when set (encryption at rest); plaintext records otherwise.
    let keys: DataKeyRing?
    /// Segment and byte offset the batch will be written at (part of each record's associated data).
    private var sequence: UInt64 = 0
    private var baseOffset = 0
    /// Associated data of the record being sealed (reused).
    private var context = [UInt8](repeating: 0, count: SealedPayload.recordContextSize)

    init(chain: UInt32, keys: DataKeyRing?) {
        self.chain = chain
        self.keys = keys
        bytes.reserveCapacity(1 << 16)
    }

    /// Starts a new batch continuing `chain`, to be written at `offset` of segment `sequence`;
    /// `precededBySync` says everything already in the segment is durable.
    mutating func beginBatch(chain: UInt32, precededBySync: Bool, sequence: UInt64, offset: Int) {
        bytes.removeAll(keepingCapacity: true)
        self.chain = chain
        self.sequence = sequence
        baseOffset = offset
        startsBatch = true
        batchFlags = precededBySync ? [.batchStart, .precededBySync] : [.batchStart]
    }

    mutating func append(_ type: RecordType, payload: [UInt8]) throws {
        try payload.withUnsafeBytes { try append(type, payload: $0) }
    }

    mutating func append(_ type: RecordType, payload: UnsafeRawBufferPointer) throws {
        let sealing = type == .segmentHeader ? nil : keys
        let stored = payload.count + (sealing == nil ? 0 : SealedPayload.overhead)
        precondition(payload.count > 0 && stored <= RecordLayout.maxPayload, "record payload size \(payload.count)")
        let flags: RecordFlags = startsBatch ? batchFlags : []
        startsBatch = false
        let word = UInt64(stored) | UInt64(type.rawValue) << 32 | UInt64(flags.rawValue) << 40
        let start = bytes.count
        withUnsafeBytes(of: word.littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: repeatElement(0, count: 8))
        if let sealing {
            SealedPayload.fillRecordContext(&context, word: word, sequence: sequence, offset: baseOffset + start, keyID: sealing.currentID)
            try SealedPayload.seal(payload, keys: sealing, associatedData: context, appendingTo: &bytes)
        } else {
            bytes.append(contentsOf: payload)
        }
        let recordCRC = bytes.withUnsafeBytes { raw in
            CRC32C.update(CRC32C.update(0, UnsafeRawBufferPointer(rebasing: raw[start..<(start + 8)])),
                          UnsafeRawBufferPointer(rebasing: raw[(start + 16)...]))
        }
        chain = RecordReader.chain(after: chain, recordCRC: recordCRC)
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: recordCRC.littleEndian, toByteOffset: start + 8, as: UInt32.self)
            raw.storeBytes(of: chain.littleEndian, toByteOffset: start + 12, as: UInt32.self)
        }
        let padding = RecordLayout.size(payload: stored) - RecordLayout.headerSize - stored
        if padding > 0 { bytes.append(contentsOf: repeatElement(0, count: padding)) }
    }
}

/// Reads records out of a segment's bytes without trusting any of them.
enum RecordReader {
    /// Inspects the bytes at `offset` on their own (no chain check).
    static func probe(_ bytes: [UInt8], at offset: Int) -> RecordProbe {
        precondition(offset % RecordLayout.alignment == 0, "unaligned record offset \(offset)")
        if offset >= bytes.count { return .end }
        let available = bytes.count - offset
        if available < RecordLayout.headerSize {
            return isZero(bytes, offset..<bytes.count) ? .end : .defect(.truncated)
        }
        let word = loadUInt64(bytes, offset)
        if word == 0 && loadUInt64(bytes, offset + 8) == 0 {
            return isZero(bytes, offset..<bytes.count) ? .end : .defect(.zeroHeader)
        }
        return probeHeader(bytes, at: offset, word: word)
    }

    private static func probeHeader(_ bytes: [UInt8], at offset: Int, word: UInt64) -> RecordProbe {
        let length = Int(word & 0xffff_ffff)
        guard let type = RecordType(rawValue: UInt8(truncatingIfNeeded: word >> 32)) else {
            return .defect(.badHeader("type \(UInt8(truncatingIfNeeded: word >> 32))"))
        }
        let flags = RecordFlags(rawValue: UInt8(truncatingIfNeeded: word >> 40))
        guard flags.rawValue & ~0b11 == 0, word >> 48 == 0 else { return .defect(.badHeader("reserved bits set")) }
        guard length > 0, length <= RecordLayout.maxPayload else { return .defect(.badHeader("length \(length)")) }
        let size = RecordLayout.size(payload: length)
        guard size <= bytes.count - offset else { return .defect(.truncated) }
        let payload = (offset + RecordLayout.headerSize)..<(offset + RecordLayout.headerSize + length)
        guard isZero(bytes, payload.upperBound..<(offset + size)) else { return .defect(.badPadding) }
        let stored = loadUInt32(bytes, offset + 8)
        let computed = bytes.withUnsafeBytes { raw in
            CRC32C.update(CRC32C.update(0, UnsafeRawBufferPointer(rebasing: raw[offset..<offset + 8])),
                          UnsafeRawBufferPointer(rebasing: raw[payload]))
        }
        guard stored == computed else { return .defect(.crcMismatch) }
        let view = RecordView(offset: offset, type: type, flags: flags, payload: payload,
                              recordCRC: stored, chainCRC: loadUInt32(bytes, offset + 12))
        return .record(view)
    }

    /// The chain CRC a record must carry after `previous`.
    static func chain(after previous: UInt32, recordCRC: UInt32) -> UInt32 {
        var link = recordCRC.littleEndian
        return withUnsafeBytes(of: &link) { CRC32C.update(previous, $0) }
    }

    static func isZero(_ bytes: [UInt8], _ range: Range<Int>) -> Bool {
        bytes.withUnsafeBytes { raw in
            var index = range.lowerBound
            while index + 8 <= range.upperBound {
                if raw.loadUnaligned(fromByteOffset: index, as: UInt64.self) != 0 { return false }
                index += 8
            }
            while index < range.upperBound {
                if raw[index] != 0 { return false }
                index += 1
            }
            return true
        }
    }

    static func loadUInt64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
    }

    static func loadUInt32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
    }
}

/// Payload of a segment's first record.
struct SegmentHeader: Equatable, Sendable {
    static let magic: UInt32 = 0x4C41_5753  // "SWAL"
    /// Version 1: plaintext records (written only with encryption at rest disabled, e.g. by the
    /// benchmark's baseline). Version 2: every record after the header is sealed.
    static let plaintextVersion: UInt32 = 1
    static let encryptedVersion: UInt32 = 2
    /// What an encrypting storage says about a plaintext WAL (decision: refuse, do not migrate).
    static let unencryptedRefusal = "this WAL was written without encryption at rest (segment format 1, an older swarmctl). "
        + "This version refuses unencrypted Raft data: remove DATA/raft and DATA/keys and rejoin the node "
        + "(it receives an encrypted snapshot from the leader), or restore a backup taken by this version"
    static let encodedSize = 32

    var sequence: UInt64
    var firstIndex: UInt64
    /// Chain CRC at the end of the previous segment (0 for the first segment ever).
    var previousChain: UInt32
    var isEncrypted: Bool

    func encoded() -> [UInt8] {
        var writer = WireWriter(capacity: 32)
        writer.writeUInt32(Self.magic)
        writer.writeUInt32(isEncrypted ? Self.encryptedVersion : Self.plaintextVersion)
        writer.writeUInt64(sequence)
        writer.writeUInt64(firstIndex)
        writer.writeUInt32(previousChain)
        writer.writeUInt32(0)
        return writer.bytes
    }

    init(sequence: UInt64, firstIndex: UInt64, previousChain: UInt32, isEncrypted: Bool) {
        self.sequence = sequence
        self.firstIndex = firstIndex
        self.previousChain = previousChain
        self.isEncrypted = isEncrypted
    }

    init(decoding bytes: [UInt8]) throws {
        var reader = WireReader(bytes)
        guard try reader.readUInt32() == Self.magic else { throw WireError.invalidValue("segment magic") }
        let version = try reader.readUInt32()
        guard version == Self.plaintextVersion || version == Self.encryptedVersion else {
            throw WireError.invalidValue("segment version \(version)")
        }
        isEncrypted = version == Self.encryptedVersion
        sequence = try reader.readUInt64()
        firstIndex = try reader.readUInt64()
        previousChain = try reader.readUInt32()
        _ = try reader.readUInt32()
        guard reader.isAtEnd else { throw WireError.invalidValue("trailing bytes in segment header") }
    }
}

/// Payload of a snapshot marker record.
struct SnapshotMarker: Equatable, Sendable {
    var index: UInt64
    var term: UInt64
    /// The snapshot came from the leader and replaced the whole log (entries after it are gone).
    var replacesLog: Bool

    func encoded() -> [UInt8] {
        var writer = WireWriter(capacity: 17)
        writer.writeUInt64(index)
        writer.writeUInt64(term)
        writer.writeBool(replacesLog)
        return writer.bytes
    }

    init(index: UInt64, term: UInt64, replacesLog: Bool) {
        self.index = index
        self.term = term
        self.replacesLog = replacesLog
    }

    init(decoding bytes: [UInt8]) throws {
        var reader = WireReader(bytes)
        index = try reader.readUInt64()
        term = try reader.readUInt64()
        replacesLog = try reader.readBool()
        guard reader.isAtEnd else { throw WireError.invalidValue("trailing bytes in snapshot marker") }
    }
}
