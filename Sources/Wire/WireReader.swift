/// Why a byte string could not be decoded. Decoding never traps on bad input: malformed frames
/// from the network or a damaged disk surface as one of these.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(needed: Int, remaining: Int)
    case varintTooLong
    case lengthTooLarge(Int, limit: Int)
    case unknownTag(String, UInt64)
    case invalidValue(String)

    public var description: String {
        switch self {
        case let .truncated(needed, remaining): "truncated input: needed \(needed) bytes, \(remaining) left"
        case .varintTooLong: "malformed varint (more than 10 bytes)"
        case let .lengthTooLarge(length, limit): "length \(length) exceeds the limit of \(limit) bytes"
        case let .unknownTag(what, tag): "unknown \(what) tag \(tag)"
        case let .invalidValue(what): "invalid value: \(what)"
        }
    }
}

/// Reads values written by `WireWriter` from a byte slice, checking every length against what is
/// left before allocating anything.
public struct WireReader: Sendable {
    private let bytes: [UInt8]
    public private(set) var offset: Int
    private let end: Int

    public init(_ bytes: [UInt8], offset: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        self.offset = offset
        self.end = end ?? bytes.count
        precondition(offset >= 0 && self.end <= bytes.count && offset <= self.end, "reader bounds outside buffer")
    }

    public var remaining: Int { end - offset }
    public var isAtEnd: Bool { offset == end }

    private mutating func need(_ count: Int) throws {
        guard count <= remaining else { throw WireError.truncated(needed: count, remaining: remaining) }
    }

    public mutating func readUInt8() throws -> UInt8 {
        try need(1)
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func readBool() throws -> Bool {
        switch try readUInt8() {
        case 0: return false
        case 1: return true
        case let other: throw WireError.invalidValue("bool byte \(other)")
        }
    }

    public mutating func readUInt32() throws -> UInt32 {
        try need(4)
        var value: UInt32 = 0
        for shift in 0..<4 { value |= UInt32(bytes[offset + shift]) << (8 * UInt32(shift)) }
        offset += 4
        return value
    }

    public mutating func readUInt64() throws -> UInt64 {
        try need(8)
        var value: UInt64 = 0
        for shift in 0..<8 { value |= UInt64(bytes[offset + shift]) << (8 * UInt64(shift)) }
        offset += 8
        return value
    }

    public mutating func readVarint() throws -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        for _ in 0..<10 {
            let byte = try readUInt8()
            value |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
        throw WireError.varintTooLong
    }

    /// A varint length, bounded by `limit` and by the bytes actually left.
    public mutating func readLength(limit: Int = Int(Int32.max)) throws -> Int {
        let raw = try readVarint()
        guard raw <= UInt64(limit) else { throw WireError.lengthTooLarge(Int(clamping: raw), limit: limit) }
        let length = Int(raw)
        try need(length)
        return length
    }

    public mutating func readBytes(limit: Int = Int(Int32.max)) throws -> [UInt8] {
        let length = try readLength(limit: limit)
        defer { offset += length }
        return Array(bytes[offset..<offset + length])
    }

    public mutating func readString(limit: Int = 1 << 20) throws -> String {
        let raw = try readBytes(limit: limit)
        return String(decoding: raw, as: UTF8.self)
    }

    public mutating func readRaw(count: Int) throws -> ArraySlice<UInt8> {
        try need(count)
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    /// A count of following items, each at least `minimumItemSize` bytes, so a hostile count
    /// cannot make the caller reserve more memory than the input could hold.
    public mutating func readCount(minimumItemSize: Int = 1) throws -> Int {
        let raw = try readVarint()
        let bound = remaining / max(minimumItemSize, 1)
        guard raw <= UInt64(bound) else { throw WireError.lengthTooLarge(Int(clamping: raw), limit: bound) }
        return Int(raw)
    }
}

/// A value with a binary wire form.
public protocol WireCodable: Sendable {
    func encode(to writer: inout WireWriter)
    init(from reader: inout WireReader) throws
}

extension WireCodable {
    public func wireBytes() -> [UInt8] {
        var writer = WireWriter()
        encode(to: &writer)
        return writer.bytes
    }

    /// Decodes a whole buffer; trailing bytes are an error.
    public init(wireBytes: [UInt8]) throws {
        var reader = WireReader(wireBytes)
        self = try Self(from: &reader)
        guard reader.isAtEnd else { throw WireError.invalidValue("\(reader.remaining) trailing bytes") }
    }
}
