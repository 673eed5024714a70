#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A type that writes its own Wire form, byte for byte what its `encode(to:)` gives through
/// `WireEncoder`, without the `Encoder` machinery.
///
/// It exists because the generic path was about a third of a write's CPU: every field goes
/// through a generic container call, a metatype comparison, an open-slot stack and, for
/// dictionaries, a re-parse and re-sort of the entries on close. The hot cluster types (the
/// commands of the write path and the state written into snapshots) write themselves instead.
/// The format is unchanged, so nodes with and without a fast path read each other; tests check
/// the bytes against the `Codable` path (`WireEncoder.usesFastPaths = false`).
public protocol WireFastEncodable: Encodable {
    /// Appends the body of this value's slot: the keyed entries of a struct or enum case, or the
    /// body a single-value container would write. The writer has already opened the slot.
    func wireEncode(to writer: inout WireSlotWriter) throws
}

/// Appends keyed entries, unkeyed elements and primitive bodies in the slot format
/// (`WireCoderFormat.swift`) for `WireFastEncodable` conformances.
///
/// A nested slot reserves one header byte and patches it when its body is done (shifting the
/// body when it is 127 bytes or longer), as `WireEncoder` does, so the bytes are the same.
/// Values without a fast path go through the `Codable` path on the same bytes
/// (`encodeCodable(_:forKey:)`, `encodeBodyWithCodable(_:)`).
public struct WireSlotWriter {
    @usableFromInline var bytes: [UInt8]
    @usableFromInline let maxDepth: Int
    /// The depth of the slot whose body is being written (the top-level value is at depth 1).
    @usableFromInline var depth: Int
    /// Whether values met through the `Codable` fallback may take their fast paths again.
    let usesFastPaths: Bool

    init(bytes: [UInt8], maxDepth: Int, depth: Int, usesFastPaths: Bool) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        self.depth = depth
        self.usesFastPaths = usesFastPaths
    }

    // MARK: Slots

    /// A nested slot opened by `openSlot()`: where its header byte is and the depth to return to.
    public struct OpenSlot {
        @usableFromInline let headerAt: Int
        @usableFromInline let parentDepth: Int

        @usableFromInline
        init(headerAt: Int, parentDepth: Int) {
            self.headerAt = headerAt
            self.parentDepth = parentDepth
        }
    }

    /// Opens a slot for a value one level down; its body follows until `closeSlot`.
    @inlinable
    public mutating func openSlot() throws -> OpenSlot {
        guard depth < maxDepth else { throw tooDeep() }
        let slot = OpenSlot(headerAt: bytes.count, parentDepth: depth)
        bytes.append(0)
        depth += 1
        return slot
    }

    @inlinable
    public mutating func closeSlot(_ slot: OpenSlot) {
        depth = slot.parentDepth
        let header = UInt64(bytes.count - slot.headerAt)
        if header < 0x80 {
            bytes[slot.headerAt] = UInt8(truncatingIfNeeded: header)
        } else {
            patchLongHeader(header, at: slot.headerAt)
        }
    }

    @usableFromInline
    mutating func patchLongHeader(_ header: UInt64, at offset: Int) {
        let size = WireFastVarint.size(header)
        bytes.insert(contentsOf: repeatElement(0, count: size - 1), at: offset + 1)
        var remaining = header
        for index in 0..<size {
            bytes[offset + index] = UInt8(truncatingIfNeeded: remaining) | (index < size - 1 ? 0x80 : 0)
            remaining >>= 7
        }
    }

    @usableFromInline
    func tooDeep() -> EncodingError {
        EncodingError.invalidValue((), .init(codingPath: [],
            debugDescription: "nested deeper than \(maxDepth) levels, WireDecoder would refuse it"))
    }

    /// The value's slot: header and body.
    @inlinable
    public mutating func writeSlot<T: WireFastEncodable>(_ value: T) throws {
        let slot = try openSlot()
        try value.wireEncode(to: &self)
        closeSlot(slot)
    }

    // MARK: Raw body bytes (for single-value types)

    @inlinable
    public mutating func appendByte(_ byte: UInt8) { bytes.append(byte) }

    /// A string's UTF-8 as (part of) a body, with no length: the slot header is the length.
    @inlinable
    public mutating func appendUTF8(_ value: String) {
        var value = value
        value.withUTF8 { bytes.append(contentsOf: $0) }
    }

    // MARK: Keys

    @inlinable
    public mutating func writeKey(_ key: StaticString) {
        key.withUTF8Buffer { utf8 in
            if utf8.count < 0x80 { bytes.append(UInt8(truncatingIfNeeded: utf8.count)) } else { WireFastVarint.append(UInt64(utf8.count), to: &bytes) }
            bytes.append(contentsOf: utf8)
        }
    }

    @usableFromInline
    mutating func writeKey(_ key: String) {
        var key = key
        key.withUTF8 { utf8 in
            WireFastVarint.append(UInt64(utf8.count), to: &bytes)
            bytes.append(contentsOf: utf8)
        }
    }

    // MARK: Primitive slots

    @inlinable
    public mutating func writeSlot(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            WireFastVarint.append(UInt64(utf8.count) + 1, to: &bytes)
            bytes.append(contentsOf: utf8)
        }
    }

    @inlinable
    public mutating func writeSlot(_ value: Bool) {
        bytes.append(2)
        bytes.append(value ? 1 : 0)
    }

    @inlinable
    public mutating func writeSlot(_ value: UInt64) {
        WireFastVarint.append(UInt64(WireFastVarint.size(value)) + 1, to: &bytes)
        WireFastVarint.append(value, to: &bytes)
    }

    @inlinable
    public mutating func writeSlot(_ value: Int64) { writeSlot(zigzag: WireFastVarint.zigzag(value)) }

    @inlinable
    public mutating func writeSlot(_ value: Int) { writeSlot(zigzag: WireFastVarint.zigzag(Int64(value))) }

    @inlinable
    public mutating func writeSlot(_ value: UInt32) { writeSlot(UInt64(value)) }

    @inlinable
    mutating func writeSlot(zigzag: UInt64) {
        WireFastVarint.append(UInt64(WireFastVarint.size(zigzag)) + 1, to: &bytes)
        WireFastVarint.append(zigzag, to: &bytes)
    }

    @inlinable
    public mutating func writeSlot(_ value: Double) {
        bytes.append(9)
        let pattern = value.bitPattern
        for index in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: pattern >> UInt64(8 * index))) }
    }

    /// A raw byte string (`[UInt8]` is a primitive, not a list of numbers).
    @inlinable
    public mutating func writeSlot(bytes value: [UInt8]) {
        WireFastVarint.append(UInt64(value.count) + 1, to: &bytes)
        bytes.append(contentsOf: value)
    }

    /// An unkeyed container of strings (`[String]`).
    @inlinable
    public mutating func writeSlot(_ value: [String]) throws {
        let slot = try openSlot()
        for element in value { writeSlot(element) }
        closeSlot(slot)
    }

    /// An unkeyed container of fast values (`[T]`).
    @inlinable
    public mutating func writeSlot<T: WireFastEncodable>(_ value: [T]) throws {
        let slot = try openSlot()
        for element in value { try writeSlot(element) }
        closeSlot(slot)
    }

    /// `[String: String]` as `Dictionary` writes it, entries in byte order of the key.
    public mutating func writeSlot(_ value: [String: String]) throws {
        let slot = try openSlot()
        if value.count == 1, let (key, element) = value.first {
            writeKey(key)
            writeSlot(element)
        } else if !value.isEmpty {
            for (key, element) in value.sorted(by: { WireByteOrder.precedes($0.key, $1.key) }) {
                writeKey(key)
                writeSlot(element)
            }
        }
        closeSlot(slot)
    }

    /// `[String: V]` as `Dictionary` writes it, entries in byte order of the key. `sortedKeys`,
    /// when given, is taken as the order if it holds exactly the dictionary's keys in ascending
    /// byte order (checked pair by pair while writing); otherwise the keys are sorted here.
    public mutating func writeSlot<V: WireFastEncodable>(_ value: [String: V], sortedKeys: [String]? = nil) throws {
        let slot = try openSlot()
        let bodyStart = bytes.count
        if let sortedKeys, sortedKeys.count == value.count, try writeEntries(value, inOrder: sortedKeys) {
            closeSlot(slot)
            return
        }
        bytes.removeSubrange(bodyStart...)
        for key in value.keys.sorted(by: WireByteOrder.precedes) {
            writeKey(key)
            try writeSlot(value[key]!)
        }
        closeSlot(slot)
    }

    /// Writes the entries in `keys` order; false (with a partial body the caller drops) as soon
    /// as the order is not strictly ascending or a key is missing.
    private mutating func writeEntries<V: WireFastEncodable>(_ value: [String: V], inOrder keys: [String]) throws -> Bool {
        var previous: String?
        for key in keys {
            if let previous, !WireByteOrder.precedes(previous, key) { return false }
            guard let element = value[key] else { return false }
            writeKey(key)
            try writeSlot(element)
            previous = key
        }
        return true
    }

    // MARK: Keyed entries

    @inlinable
    public mutating func encode(_ value: String, forKey key: StaticString) {
        writeKey(key)
        writeSlot(value)
    }

    @inlinable
    public mutating func encode(_ value: Bool, forKey key: StaticString) {
        writeKey(key)
        writeSlot(value)
    }

    @inlinable
    public mutating func encode(_ value: UInt64, forKey key: StaticString) {
        writeKey(key)
        writeSlot(value)
    }

    @inlinable
    public mutating func encode(_ value: UInt32, forKey key: StaticString) {
        writeKey(key)
        writeSlot(value)
    }

    @inlinable
    public mutating func encode(_ value: Int64, forKey key: StaticString) {
        writeKey(key)
        writeSlot(value)
    }

    @inlinable
    public mutating func encode(_ value: Int, forKey key: StaticString) {
        writeKey(key)
        writeSlot(value)
    }

    @inlinable
    public mutating func encode(_ value: Double, forKey key: StaticString) {
        writeKey(key)
        writeSlot(value)
    }

    @inlinable
    public mutating func encode(bytes value: [UInt8], forKey key: StaticString) {
        writeKey(key)
        writeSlot(bytes: value)
    }

    @inlinable
    public mutating func encode(_ value: [String], forKey key: StaticString) throws {
        writeKey(key)
        try writeSlot(value)
    }

    public mutating func encode(_ value: [String: String], forKey key: StaticString) throws {
        writeKey(key)
        try writeSlot(value)
    }

    @inlinable
    public mutating func encode<T: WireFastEncodable>(_ value: T, forKey key: StaticString) throws {
        writeKey(key)
        try writeSlot(value)
    }

    @inlinable
    public mutating func encode<T: WireFastEncodable>(_ value: [T], forKey key: StaticString) throws {
        writeKey(key)
        try writeSlot(value)
    }

    public mutating func encode<V: WireFastEncodable>(_ value: [String: V], forKey key: StaticString,
                                                      sortedKeys: [String]? = nil) throws {
        writeKey(key)
        try writeSlot(value, sortedKeys: sortedKeys)
    }

    /// A keyed entry whose value is a container written by `body` (an enum case's associated
    /// values, a struct built on the spot).
    @inlinable
    public mutating func encodeNested(forKey key: StaticString, _ body: (inout WireSlotWriter) throws -> Void) throws {
        writeKey(key)
        let slot = try openSlot()
        try body(&self)
        closeSlot(slot)
    }

    // `encodeIfPresent` as the synthesized conformances call it: nil writes no entry at all.

    @inlinable
    public mutating func encodeIfPresent(_ value: String?, forKey key: StaticString) {
        if let value { encode(value, forKey: key) }
    }

    @inlinable
    public mutating func encodeIfPresent(_ value: Bool?, forKey key: StaticString) {
        if let value { encode(value, forKey: key) }
    }

    @inlinable
    public mutating func encodeIfPresent(_ value: UInt64?, forKey key: StaticString) {
        if let value { encode(value, forKey: key) }
    }

    @inlinable
    public mutating func encodeIfPresent(_ value: UInt32?, forKey key: StaticString) {
        if let value { encode(value, forKey: key) }
    }

    @inlinable
    public mutating func encodeIfPresent(_ value: Int64?, forKey key: StaticString) {
        if let value { encode(value, forKey: key) }
    }

    @inlinable
    public mutating func encodeIfPresent(_ value: Double?, forKey key: StaticString) {
        if let value { encode(value, forKey: key) }
    }

    @inlinable
    public mutating func encodeIfPresent(_ value: [String]?, forKey key: StaticString) throws {
        if let value { try encode(value, forKey: key) }
    }

    @inlinable
    public mutating func encodeIfPresent(_ value: [String: String]?, forKey key: StaticString) throws {
        if let value { try encode(value, forKey: key) }
    }

    @inlinable
    public mutating func encodeIfPresent<T: WireFastEncodable>(_ value: T?, forKey key: StaticString) throws {
        if let value { try encode(value, forKey: key) }
    }

    @inlinable
    public mutating func encodeIfPresent<T: WireFastEncodable>(_ value: [T]?, forKey key: StaticString) throws {
        if let value { try encode(value, forKey: key) }
    }

    // MARK: The Codable fallback

    /// A keyed entry for a value without a fast path, written by its `encode(to:)` (values
    /// inside it that have fast paths take them).
    public mutating func encodeCodable<T: Encodable>(_ value: T, forKey key: StaticString) throws {
        writeKey(key)
        try withCodableBuffer { buffer, depth in
            try buffer.encodeInNewSlot(value, depth: depth + 1, parent: 0, key: .none)
        }
    }

    public mutating func encodeCodableIfPresent<T: Encodable>(_ value: T?, forKey key: StaticString) throws {
        if let value { try encodeCodable(value, forKey: key) }
    }

    /// The body of the open slot written by `value.encode(to:)`: for a type whose fast path
    /// covers only some of its values (a command's other cases).
    public mutating func encodeBodyWithCodable<T: Encodable>(_ value: T) throws {
        try withCodableBuffer { buffer, depth in
            try buffer.encodeBody(value, depth: depth)
        }
    }

    /// Lends the bytes to a `WireEncodingBuffer` (a swap, not a copy) for the generic path.
    private mutating func withCodableBuffer(_ body: (WireEncodingBuffer, Int) throws -> Void) throws {
        let buffer = WireEncodingBuffer(maxDepth: maxDepth, usesFastPaths: usesFastPaths, bytes: [])
        swap(&buffer.bytes, &bytes)
        defer { swap(&buffer.bytes, &bytes) }
        try body(buffer, depth)
        if let failure = buffer.failure { throw failure }
    }
}

/// Varints for the inlinable writer methods (the same LEB128 and zigzag as `WireVarint`).
@usableFromInline
enum WireFastVarint {
    @inlinable
    static func size(_ value: UInt64) -> Int {
        value == 0 ? 1 : (64 - value.leadingZeroBitCount + 6) / 7
    }

    @inlinable
    static func append(_ value: UInt64, to out: inout [UInt8]) {
        var remaining = value
        while remaining >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        out.append(UInt8(remaining))
    }

    @inlinable
    static func zigzag(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value << 1) ^ (value >> 63))
    }
}

/// Byte order of UTF-8, the order `WireEncoder` gives dictionary entries. Swift's `<` on
/// strings compares canonical equivalents as equal and may order non-NFC text differently.
public enum WireByteOrder {
    public static func precedes(_ lhs: String, _ rhs: String) -> Bool {
        var lhs = lhs, rhs = rhs
        return lhs.withUTF8 { left in
            rhs.withUTF8 { right in
                let common = min(left.count, right.count)
                if common > 0, let a = left.baseAddress, let b = right.baseAddress {
                    let order = memcmp(a, b, common)
                    if order != 0 { return order < 0 }
                }
                return left.count < right.count
            }
        }
    }
}

/// Whether encoders use fast paths unless told otherwise: `SWARMCTL_WIRE_CODABLE=1` turns them
/// off for a whole process, for A/B measurements of one binary.
enum WireFastPaths {
    static let enabledByDefault: Bool = getenv("SWARMCTL_WIRE_CODABLE").map { String(cString: $0) != "1" } ?? true

    /// The fast-path type behind a generic `T`, found by a metatype cast (no value boxing).
    static func fastType<T>(of _: T.Type) -> (any WireFastEncodable.Type)? {
        T.self as? any WireFastEncodable.Type
    }

    /// `value` seen as `F`; only called when `fastType(of: T.self)` returned `F`, so the two
    /// are the same type and the bit cast is an identity.
    static func cast<T, F: WireFastEncodable>(_ value: T, to _: F.Type) -> F {
        unsafeBitCast(value, to: F.self)
    }
}
