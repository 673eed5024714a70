// The byte layout shared by `WireEncoder` and `WireDecoder`.
//
// A document is one format-version byte followed by one *slot*. A slot is a varint header and a
// body: header 0 means nil (no body); header n + 1 means a body of exactly n bytes. Every value —
// a struct field, an array element, the top-level value — lives in its own slot, so a reader
// always knows where a value ends without knowing its type, which is what makes the format
// versionable: unknown fields are skipped by length, missing ones are simply absent.
//
// Bodies:
// - keyed container (struct, enum case, [String: V]): entries until the body ends, each entry a
//   varint key length, the key's UTF-8, then the value's slot. No count: the slot bounds it.
// - unkeyed container (array, set): the element slots until the body ends.
// - signed integers: zigzag varint; unsigned integers: varint; Bool: one byte 0 or 1;
//   Float/Double: 4/8 bytes little-endian IEEE 754 bit pattern; String: its UTF-8 (the slot
//   header is the length prefix); [UInt8]: its raw bytes.
// Dictionaries with String or Int keys are written in sorted key order so equal values encode
// to equal bytes on every node.

/// Limits and constants of the slot format.
enum WireCoding {
    /// Bumped only if the slot layout itself changes; schema changes never need it.
    static let formatVersion: UInt8 = 1
    static let defaultMaxDepth = 64
}

/// One value's place in the input: a body range, or nil.
struct WireSlot {
    let start: Int
    let end: Int
    let isNil: Bool

    var count: Int { end - start }
}

/// One keyed-container entry: where its key bytes are and the slot of its value.
struct WireEntry {
    let keyStart: Int
    let keyEnd: Int
    let value: WireSlot

    /// Offset just past this entry, where the next one starts.
    var next: Int { value.isNil ? value.start : value.end }
}

/// A `CodingKey` for positions in unkeyed containers, `super`, and dictionary keys.
struct WireKey: CodingKey {
    let stringValue: String
    let intValue: Int?

    init(stringValue: String) {
        self.stringValue = stringValue
        intValue = Int(stringValue)
    }

    init(intValue: Int) {
        stringValue = String(intValue)
        self.intValue = intValue
    }

    init(index: Int) {
        stringValue = "Index \(index)"
        intValue = index
    }

    static let superKey = WireKey(stringValue: "super")
}

// MARK: - Varints

enum WireVarint {
    static func size(_ value: UInt64) -> Int {
        value == 0 ? 1 : (64 - value.leadingZeroBitCount + 6) / 7
    }

    static func append(_ value: UInt64, to out: inout [UInt8]) {
        var remaining = value
        while remaining >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        out.append(UInt8(remaining))
    }

    static func zigzag(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value << 1) ^ (value >> 63))
    }

    static func unzigzag(_ value: UInt64) -> Int64 {
        Int64(bitPattern: (value >> 1) ^ (0 &- (value & 1)))
    }
}

/// Why a byte string does not follow the slot format; the decoder turns it into a
/// `DecodingError.dataCorrupted` carrying the coding path where it happened.
struct WireFormatIssue: Error {
    let reason: String
}

/// Bounds-checked parsing of slot headers, keys and varints within `[position, end)`.
struct WireCursor {
    let bytes: [UInt8]
    var position: Int
    let end: Int

    var isAtEnd: Bool { position >= end }

    /// Unsigned LEB128 of at most 10 bytes whose bits all fit in 64.
    mutating func readVarint() throws(WireFormatIssue) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else {
                throw WireFormatIssue(reason: "varint runs past the end of its slot at byte \(position)")
            }
            let byte = bytes[position]
            position += 1
            if shift == 63 && byte > 1 {
                throw WireFormatIssue(reason: "varint overflows 64 bits at byte \(position - 1)")
            }
            value |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
    }

    /// A varint length that must fit in what is left, checked before anything is allocated.
    mutating func readLength(of what: String) throws(WireFormatIssue) -> Int {
        let at = position
        let raw = try readVarint()
        guard raw <= UInt64(end - position) else {
            throw WireFormatIssue(reason: "\(what) at byte \(at) claims \(raw) bytes, only \(end - position) remain")
        }
        return Int(raw)
    }

    mutating func readSlot() throws(WireFormatIssue) -> WireSlot {
        let at = position
        let header = try readVarint()
        if header == 0 { return WireSlot(start: position, end: position, isNil: true) }
        let length = header - 1
        guard length <= UInt64(end - position) else {
            throw WireFormatIssue(reason: "slot at byte \(at) claims \(length) bytes, only \(end - position) remain")
        }
        let start = position
        position += Int(length)
        return WireSlot(start: start, end: position, isNil: false)
    }

    mutating func readEntry() throws(WireFormatIssue) -> WireEntry {
        let keyLength = try readLength(of: "key")
        let keyStart = position
        position += keyLength
        let value = try readSlot()
        return WireEntry(keyStart: keyStart, keyEnd: keyStart + keyLength, value: value)
    }
}

/// How a value is reached from its container, kept unformatted so that building an index key
/// (a string) costs nothing unless an error or a caller actually asks for the coding path.
enum WirePathKey {
    case none
    case key(any CodingKey)
    case index(Int)

    var codingKey: (any CodingKey)? {
        switch self {
        case .none: nil
        case let .key(key): key
        case let .index(index): WireKey(index: index)
        }
    }

    func appended(to path: [any CodingKey]) -> [any CodingKey] {
        guard let key = codingKey else { return path }
        return path + [key]
    }
}

extension WireCursor {
    /// Whether `bytes[start..<end]` is exactly `utf8`: a plain byte loop over contiguous storage,
    /// where `elementsEqual` between the two collection types walks them generically.
    static func bytes(_ bytes: [UInt8], _ start: Int, _ end: Int, equal utf8: String.UTF8View) -> Bool {
        guard utf8.count == end - start else { return false }
        let equal = utf8.withContiguousStorageIfAvailable { target in
            bytes.withUnsafeBufferPointer { all in
                for index in 0..<target.count where all[start + index] != target[index] { return false }
                return true
            }
        }
        return equal ?? utf8.elementsEqual(bytes[start..<end])
    }
}
