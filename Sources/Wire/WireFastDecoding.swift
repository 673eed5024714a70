// Hand-written decoding for the hot types, beside the `Codable` path of `WireDecoder`.
//
// Every committed command is decoded on every manager (and a snapshot at start and install);
// through `Decodable` each struct costs a keyed-container box, a coding-path array and an entry
// class, which made decoding a large share of a write's CPU. A type that conforms to
// `WireFastDecodable` reads its slot directly through `WireSlotReader`: one pass over its
// entries, no allocation but the value itself.
//
// Equivalence is by construction, not by imitation: a fast decoder only ever *succeeds* on input
// that the `Codable` path decodes to the same value, and *bails* (`WireFastBail`) on anything
// unusual — nil where a value is required, a known key repeated, an unknown enum case, invalid
// UTF-8, nesting past `maxDepth`, any malformed slot. On a bail `WireDecoder` runs the `Codable`
// path on the same slot, which then gives exactly today's value or today's error.

/// A fast decoder met input it does not decode itself; the `Codable` path decides.
public struct WireFastBail: Error, Sendable {
    public init() {}
}

/// A type with a hand-written wire decoder that gives exactly the value `init(from:)` gives
/// through `WireDecoder`, or bails. `WireDecoder` uses it wherever it meets the type (top level
/// and nested), unless `WireDecoder.usesFastPaths` is off.
public protocol WireFastDecodable: Decodable {
    init(wireFast reader: WireSlotReader) throws(WireFastBail)
}

/// What one fast decode shares; a `WireSlotReader` points to it for the duration of the decode.
struct WireFastSession {
    let base: UnsafePointer<UInt8>
    let context: WireDecodingContext
}

extension WireDecodingContext {
    /// `F` decoded from `slot` by its fast path; nil if it bailed.
    func fastDecode<F: WireFastDecodable>(_: F.Type, _ slot: WireSlot, depth: Int) -> F? {
        bytes.withUnsafeBufferPointer { buffer -> F? in
            guard let base = buffer.baseAddress else { return nil }
            let session = WireFastSession(base: base, context: self)
            return withUnsafePointer(to: session) { pointer -> F? in
                let reader = WireSlotReader(session: pointer, start: slot.start, end: slot.end, isNil: slot.isNil, depth: depth)
                return try? F(wireFast: reader)
            }
        }
    }

    /// `T` decoded by its fast path if it has one (nil if it has none or bailed).
    func fastDecodeIfAvailable<T>(_: T.Type, _ slot: WireSlot, depth: Int) -> T? {
        guard fastPaths, let fast = T.self as? any WireFastDecodable.Type else { return nil }
        return openFast(fast, slot, depth: depth, as: T.self)
    }

    private func openFast<F: WireFastDecodable, T>(_ fast: F.Type, _ slot: WireSlot, depth: Int, as _: T.Type) -> T? {
        guard let value = fastDecode(F.self, slot, depth: depth) else { return nil }
        // `T` is `F` (the conformance was found on `T.self`), so the cast is an identity.
        return unsafeBitCast(value, to: T.self)
    }
}

/// One value's slot in the input, for a fast decoder. Every read checks bounds and format and
/// throws `WireFastBail` on anything the `Codable` path might treat differently.
public struct WireSlotReader {
    let session: UnsafePointer<WireFastSession>
    let start: Int
    let end: Int
    /// The slot holds nil.
    public let isNil: Bool
    /// The nesting depth as `WireDecoder` counts it (the top-level value is 1).
    let depth: Int

    private var base: UnsafePointer<UInt8> { session.pointee.base }

    /// Nested values (not primitives) deeper than the decoder's limit are left to `Codable`.
    public func checkDepth() throws(WireFastBail) {
        guard depth <= session.pointee.context.maxDepth else { throw WireFastBail() }
    }

    // MARK: Primitives (exactly `WirePrimitive.readWireBody`)

    /// A varint that fills the whole body.
    private func wholeVarint() throws(WireFastBail) -> UInt64 {
        guard !isNil else { throw WireFastBail() }
        var position = start
        let value = try WireFastScan.varint(base, &position, end)
        guard position == end else { throw WireFastBail() }
        return value
    }

    public func uint64() throws(WireFastBail) -> UInt64 { try wholeVarint() }

    public func uint32() throws(WireFastBail) -> UInt32 {
        guard let value = UInt32(exactly: try wholeVarint()) else { throw WireFastBail() }
        return value
    }

    public func int64() throws(WireFastBail) -> Int64 { WireVarint.unzigzag(try wholeVarint()) }

    public func int() throws(WireFastBail) -> Int {
        guard let value = Int(exactly: WireVarint.unzigzag(try wholeVarint())) else { throw WireFastBail() }
        return value
    }

    public func bool() throws(WireFastBail) -> Bool {
        guard !isNil, end - start == 1 else { throw WireFastBail() }
        switch base[start] {
        case 0: return false
        case 1: return true
        default: throw WireFastBail()
        }
    }

    public func double() throws(WireFastBail) -> Double {
        guard !isNil, end - start == 8 else { throw WireFastBail() }
        var bits: UInt64 = 0
        for index in 0..<8 { bits |= UInt64(base[start + index]) << UInt64(8 * index) }
        return Double(bitPattern: bits)
    }

    /// The body as a string; invalid UTF-8 bails (the `Codable` path refuses it).
    public func string() throws(WireFastBail) -> String {
        guard !isNil else { throw WireFastBail() }
        return try WireFastScan.string(base, start, end)
    }

    /// `body` over the bytes of a string body, without making the string (invalid UTF-8 bails).
    public func withUTF8<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) throws(WireFastBail) -> R {
        guard !isNil else { throw WireFastBail() }
        let buffer = UnsafeBufferPointer(start: base + start, count: end - start)
        if !WireFastScan.isASCII(buffer) { _ = try WireFastScan.string(base, start, end) }
        return body(buffer)
    }

    /// The raw body bytes (`[UInt8]`).
    public func bytes() throws(WireFastBail) -> [UInt8] {
        guard !isNil else { throw WireFastBail() }
        return Array(UnsafeBufferPointer(start: base + start, count: end - start))
    }

    /// A `String`-backed enum, as `RawRepresentable`'s `init(from:)` reads it.
    @inlinable
    public func rawValue<E: RawRepresentable>(_: E.Type) throws(WireFastBail) -> E where E.RawValue == String {
        try checkDepth()
        guard let value = E(rawValue: try string()) else { throw WireFastBail() }
        return value
    }

    // MARK: Composites

    /// A value with a fast path (`decode`: a nil slot is for `T` to refuse).
    @inlinable
    public func decode<T: WireFastDecodable>(_: T.Type) throws(WireFastBail) -> T {
        try T(wireFast: self)
    }

    /// A value without a fast path, through the `Codable` path on this slot (whose nested values
    /// may again take fast paths). Any error bails, so the caller's own `Codable` run reports it
    /// with its full coding path.
    public func codable<T: Decodable>(_: T.Type) throws(WireFastBail) -> T {
        let context = session.pointee.context
        do {
            return try T(from: context.nestedDecoder(slot, depth: depth, parentPath: [], key: .none))
        } catch {
            throw WireFastBail()
        }
    }

    private var slot: WireSlot { WireSlot(start: start, end: end, isNil: isNil) }

    /// The entries of a keyed body (a struct, an enum, a dictionary). `WireKeyedEntries`
    /// validates the whole body before any lookup; a fast decoder reads every entry to the end,
    /// so a malformed one bails all the same, without a separate pass.
    public func keyed() throws(WireFastBail) -> WireKeyedReader {
        guard !isNil else { throw WireFastBail() }
        try checkDepth()
        return WireKeyedReader(session: session, position: start, end: end, depth: depth + 1)
    }

    /// The elements of an unkeyed body (an array); the whole body is validated first.
    public func unkeyed() throws(WireFastBail) -> WireUnkeyedReader {
        guard !isNil else { throw WireFastBail() }
        try checkDepth()
        var position = start
        var count = 0
        while position < end {
            _ = try WireFastScan.slot(base, &position, end)
            count += 1
        }
        return WireUnkeyedReader(session: session, position: start, end: end, depth: depth + 1, count: count)
    }

    /// `[String]`: an array whose elements must all be non-nil strings.
    public func strings() throws(WireFastBail) -> [String] {
        var elements = try unkeyed()
        var result: [String] = []
        result.reserveCapacity(elements.count)
        while let element = try elements.next() { result.append(try element.string()) }
        return result
    }

    /// An array of values with a fast path.
    @inlinable
    public func array<T: WireFastDecodable>(of _: T.Type) throws(WireFastBail) -> [T] {
        var elements = try unkeyed()
        var result: [T] = []
        result.reserveCapacity(elements.count)
        while let element = try elements.next() { result.append(try T(wireFast: element)) }
        return result
    }

    /// `[String: String]`. A key repeated (or two keys equal as Swift strings) bails.
    public func stringDictionary() throws(WireFastBail) -> [String: String] {
        var entries = try keyed()
        var result: [String: String] = [:]
        while let entry = try entries.next() {
            let key = try entry.key()
            guard result.updateValue(try entry.value.string(), forKey: key) == nil else { throw WireFastBail() }
        }
        return result
    }
}

// MARK: - decodeIfPresent forms (nil for a nil slot)

extension WireSlotReader {
    public func optionalString() throws(WireFastBail) -> String? { isNil ? nil : try string() }
    public func optionalUInt64() throws(WireFastBail) -> UInt64? { isNil ? nil : try uint64() }
    public func optionalUInt32() throws(WireFastBail) -> UInt32? { isNil ? nil : try uint32() }
    public func optionalInt64() throws(WireFastBail) -> Int64? { isNil ? nil : try int64() }
    public func optionalInt() throws(WireFastBail) -> Int? { isNil ? nil : try int() }
    public func optionalBool() throws(WireFastBail) -> Bool? { isNil ? nil : try bool() }
    public func optionalDouble() throws(WireFastBail) -> Double? { isNil ? nil : try double() }
    public func optionalStrings() throws(WireFastBail) -> [String]? { isNil ? nil : try strings() }
    public func optionalStringDictionary() throws(WireFastBail) -> [String: String]? { isNil ? nil : try stringDictionary() }

    @inlinable
    public func optional<T: WireFastDecodable>(_: T.Type) throws(WireFastBail) -> T? {
        isNil ? nil : try T(wireFast: self)
    }

    @inlinable
    public func optionalArray<T: WireFastDecodable>(of _: T.Type) throws(WireFastBail) -> [T]? {
        isNil ? nil : try array(of: T.self)
    }

    @inlinable
    public func optionalRawValue<E: RawRepresentable>(_: E.Type) throws(WireFastBail) -> E? where E.RawValue == String {
        isNil ? nil : try rawValue(E.self)
    }
}

// MARK: - Collections of fast types

extension Array: WireFastDecodable where Element: WireFastDecodable {
    /// As `Array.init(from:)`: every element through `Element`'s fast path.
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        self = try reader.array(of: Element.self)
    }
}

extension Dictionary: WireFastDecodable where Key == String, Value: WireFastDecodable {
    /// As `Dictionary.init(from:)` for `String` keys; a repeated key bails.
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var entries = try reader.keyed()
        var result: [String: Value] = [:]
        while let entry = try entries.next() {
            let key = try entry.key()
            guard result.updateValue(try Value(wireFast: entry.value), forKey: key) == nil else { throw WireFastBail() }
        }
        self = result
    }
}

/// The entries of one keyed body, in input order. A fast decoder must read them all (up to a
/// nil `next()`): that is what checks the rest of the body is well-formed.
public struct WireKeyedReader {
    let session: UnsafePointer<WireFastSession>
    var position: Int
    let end: Int
    /// Depth of the entries' values.
    let depth: Int

    /// The next entry, nil at the end of the body.
    public mutating func next() throws(WireFastBail) -> WireFastEntry? {
        guard position < end else { return nil }
        let base = session.pointee.base
        let (keyStart, keyEnd, value) = try WireFastScan.entry(base, &position, end)
        return WireFastEntry(session: session, keyStart: keyStart, keyEnd: keyEnd,
                             value: WireSlotReader(session: session, start: value.start, end: value.end,
                                                   isNil: value.isNil, depth: depth))
    }
}

/// One entry of a keyed body: its key bytes and its value's slot.
public struct WireFastEntry {
    let session: UnsafePointer<WireFastSession>
    let keyStart: Int
    let keyEnd: Int
    public let value: WireSlotReader

    /// Whether the key is exactly `name`'s UTF-8.
    public func key(is name: StaticString) -> Bool {
        let count = name.utf8CodeUnitCount
        guard count == keyEnd - keyStart else { return false }
        let key = session.pointee.base + keyStart
        let target = name.utf8Start
        for index in 0..<count where key[index] != target[index] { return false }
        return true
    }

    /// The key as a string (invalid UTF-8 bails: the `Codable` path could not look it up).
    public func key() throws(WireFastBail) -> String {
        try WireFastScan.string(session.pointee.base, keyStart, keyEnd)
    }
}

/// The element slots of one unkeyed body, in order.
public struct WireUnkeyedReader {
    let session: UnsafePointer<WireFastSession>
    var position: Int
    let end: Int
    let depth: Int
    /// How many elements the body holds.
    public let count: Int

    public mutating func next() throws(WireFastBail) -> WireSlotReader? {
        guard position < end else { return nil }
        let slot = try WireFastScan.slot(session.pointee.base, &position, end)
        return WireSlotReader(session: session, start: slot.start, end: slot.end, isNil: slot.isNil, depth: depth)
    }
}

/// Which known keys a fast decoder has met, so a repeated one bails (`WireKeyedEntries` then
/// decides which of the two counts).
public struct WireSeenKeys {
    private var bits: UInt64 = 0

    public init() {}

    /// Records key number `index` (0..<64); a second time bails.
    public mutating func first(_ index: Int) throws(WireFastBail) {
        precondition(index >= 0 && index < 64, "at most 64 known keys per type")
        let bit: UInt64 = 1 << UInt64(index)
        guard bits & bit == 0 else { throw WireFastBail() }
        bits |= bit
    }
}

/// The slot format read from a pointer: the same rules as `WireCursor`, bailing where it throws.
enum WireFastScan {
    static func varint(_ base: UnsafePointer<UInt8>, _ position: inout Int, _ end: Int) throws(WireFastBail) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw WireFastBail() }
            let byte = base[position]
            position += 1
            if shift == 63 && byte > 1 { throw WireFastBail() }
            value |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
    }

    static func slot(_ base: UnsafePointer<UInt8>, _ position: inout Int, _ end: Int) throws(WireFastBail) -> WireSlot {
        let header = try varint(base, &position, end)
        if header == 0 { return WireSlot(start: position, end: position, isNil: true) }
        let length = header - 1
        guard length <= UInt64(end - position) else { throw WireFastBail() }
        let start = position
        position += Int(length)
        return WireSlot(start: start, end: position, isNil: false)
    }

    static func entry(_ base: UnsafePointer<UInt8>, _ position: inout Int, _ end: Int)
        throws(WireFastBail) -> (keyStart: Int, keyEnd: Int, value: WireSlot) {
        let keyLength = try varint(base, &position, end)
        guard keyLength <= UInt64(end - position) else { throw WireFastBail() }
        let keyStart = position
        position += Int(keyLength)
        let value = try slot(base, &position, end)
        return (keyStart, keyStart + Int(keyLength), value)
    }

    /// `bytes[start..<end]` as a string if it is valid UTF-8 (ASCII is checked word by word; any
    /// other text is decoded and compared with its input, as `String.readWireBody` does).
    static func string(_ base: UnsafePointer<UInt8>, _ start: Int, _ end: Int) throws(WireFastBail) -> String {
        let buffer = UnsafeBufferPointer(start: base + start, count: end - start)
        let value = String(decoding: buffer, as: UTF8.self)
        if isASCII(buffer) { return value }
        var utf8 = value
        let same = utf8.withUTF8 { decoded in
            decoded.count == buffer.count && zip(decoded, buffer).allSatisfy { $0 == $1 }
        }
        guard same else { throw WireFastBail() }
        return value
    }

    static func isASCII(_ buffer: UnsafeBufferPointer<UInt8>) -> Bool {
        var combined: UInt8 = 0
        for byte in buffer { combined |= byte }
        return combined < 0x80
    }
}
