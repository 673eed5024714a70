/// Decodes values written by `WireEncoder`, tolerating schema drift and refusing bad bytes.
///
/// The log outlives any one binary: a node must read entries written by older and newer
/// versions of itself. Fields the reading type does not know are skipped; fields it expects but
/// that are absent decode as nil through `decodeIfPresent` (and throw `keyNotFound` otherwise).
/// Input from a disk or a peer is untrusted, so every length is checked against the bytes left
/// before anything is allocated, nesting is capped at `maxDepth`, and every failure is a thrown
/// `DecodingError` that names the coding path and byte offset — never a trap.
public struct WireDecoder: Sendable {
    /// Deeper input throws; this bounds the stack a hostile byte string can make us use.
    public var maxDepth: Int
    /// Whether types conforming to `WireFastDecodable` are read by their hand-written decoders
    /// (the same values and errors, less CPU). Off only to compare the two paths: here, or for a
    /// whole process with `SWARMCTL_WIRE_CODABLE=1`, the switch `WireEncoder` follows too.
    public var usesFastPaths: Bool

    public init() {
        maxDepth = WireCoding.defaultMaxDepth
        usesFastPaths = WireFastPaths.enabledByDefault
    }

    public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        let slot = try topSlot(bytes)
        let context = WireDecodingContext(bytes: bytes, maxDepth: maxDepth, fastPaths: usesFastPaths)
        return try context.decodeValue(type, in: slot, depth: 1, parentPath: [], key: .none)
    }

    /// `T` read by its hand-written decoder alone, nil where that bails: for tests and
    /// benchmarks that must know the fast path itself took the input.
    public func decodeFastOnly<T: WireFastDecodable>(_ type: T.Type, from bytes: [UInt8]) -> T? {
        guard let slot = try? topSlot(bytes) else { return nil }
        return WireDecodingContext(bytes: bytes, maxDepth: maxDepth, fastPaths: true).fastDecode(type, slot, depth: 1)
    }

    /// The one slot after the format version, with nothing after it.
    private func topSlot(_ bytes: [UInt8]) throws -> WireSlot {
        guard let version = bytes.first else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "empty input"))
        }
        guard version == WireCoding.formatVersion else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "unsupported wire format version \(version)"))
        }
        var cursor = WireCursor(bytes: bytes, position: 1, end: bytes.count)
        let slot = try wireParse([]) { () throws(WireFormatIssue) in try cursor.readSlot() }
        guard cursor.isAtEnd else {
            throw DecodingError.dataCorrupted(.init(codingPath: [],
                debugDescription: "\(bytes.count - cursor.position) trailing bytes after the value"))
        }
        return slot
    }
}

/// Runs a format parse and reports its failure as `dataCorrupted` at `codingPath`.
func wireParse<R>(_ codingPath: @autoclosure () -> [any CodingKey], _ body: () throws(WireFormatIssue) -> R) throws -> R {
    do {
        return try body()
    } catch {
        throw DecodingError.dataCorrupted(.init(codingPath: codingPath(), debugDescription: error.reason))
    }
}

/// What every decoder and container of one `decode` call shares.
struct WireDecodingContext {
    let bytes: [UInt8]
    let maxDepth: Int
    let fastPaths: Bool

    /// Decodes a value that owns `slot`: primitives directly, anything else through `init(from:)`.
    /// The coding path is passed as parent and key so that it is only built for errors and for
    /// composite values.
    func decodeValue<T: Decodable>(
        _ type: T.Type, in slot: WireSlot, depth: Int, parentPath: [any CodingKey], key: WirePathKey
    ) throws -> T {
        if let primitive = WirePrimitives.type(of: T.self) {
            return try decodePrimitive(primitive, slot, key.appended(to: parentPath), as: type)
        }
        if let value = fastDecodeIfAvailable(T.self, slot, depth: depth) { return value }
        return try T(from: nestedDecoder(slot, depth: depth, parentPath: parentPath, key: key))
    }

    func nestedDecoder(_ slot: WireSlot, depth: Int, parentPath: [any CodingKey], key: WirePathKey) throws -> WireDecoderImpl {
        guard depth <= maxDepth else {
            throw DecodingError.dataCorrupted(.init(codingPath: key.appended(to: parentPath),
                debugDescription: "nesting deeper than \(maxDepth) levels"))
        }
        return WireDecoderImpl(context: self, slot: slot, depth: depth, parentPath: parentPath, key: key)
    }

    func decodePrimitive<P: WirePrimitive, T>(
        _: P.Type, _ slot: WireSlot, _ codingPath: @autoclosure () -> [any CodingKey], as: T.Type
    ) throws -> T {
        WirePrimitives.cast(try readPrimitive(P.self, slot, codingPath()), back: T.self)
    }

    func readPrimitive<P: WirePrimitive>(_: P.Type, _ slot: WireSlot, _ codingPath: @autoclosure () -> [any CodingKey]) throws -> P {
        guard !slot.isNil else {
            throw DecodingError.valueNotFound(P.self, .init(codingPath: codingPath(), debugDescription: "found nil"))
        }
        do {
            return try P.readWireBody(bytes, slot)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath(), debugDescription: error.reason))
        }
    }
}

/// The `Decoder` handed to `init(from:)`: one slot of the input.
struct WireDecoderImpl: Decoder {
    let context: WireDecodingContext
    let slot: WireSlot
    let depth: Int
    let parentPath: [any CodingKey]
    let key: WirePathKey
    var codingPath: [any CodingKey] { key.appended(to: parentPath) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    private func requireValue(_ type: Any.Type) throws {
        guard !slot.isNil else {
            throw DecodingError.valueNotFound(type, .init(codingPath: codingPath, debugDescription: "found nil"))
        }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        try requireValue(KeyedDecodingContainer<Key>.self)
        let entries = try WireKeyedEntries(context: context, slot: slot, codingPath: codingPath)
        return KeyedDecodingContainer(WireKeyedDecodingContainer<Key>(entries: entries, depth: depth))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try requireValue((any UnkeyedDecodingContainer).self)
        return try WireUnkeyedDecodingContainer(context: context, slot: slot, depth: depth, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        WireSingleValueDecodingContainer(decoder: self)
    }
}

/// The entries of one keyed body, validated once and then searched from where the last lookup
/// succeeded, so fields read in the order they were written cost one comparison each without
/// building a dictionary per struct.
final class WireKeyedEntries {
    let context: WireDecodingContext
    let codingPath: [any CodingKey]
    private let start: Int
    private let end: Int
    private let count: Int
    private var hint: Int

    init(context: WireDecodingContext, slot: WireSlot, codingPath: [any CodingKey]) throws {
        self.context = context
        self.codingPath = codingPath
        start = slot.start
        end = slot.end
        hint = slot.start
        var cursor = WireCursor(bytes: context.bytes, position: start, end: end)
        count = try wireParse(codingPath) { () throws(WireFormatIssue) in
            var entries = 0
            while !cursor.isAtEnd {
                _ = try cursor.readEntry()
                entries += 1
            }
            return entries
        }
    }

    /// The entry named `name`; the first such entry if a writer repeated a key.
    func find(_ name: String) -> WireEntry? {
        let target = name.utf8
        if let found = scan(from: hint, to: end, for: target) { return found }
        return scan(from: start, to: hint, for: target)
    }

    private func scan(from: Int, to: Int, for target: String.UTF8View) -> WireEntry? {
        var cursor = WireCursor(bytes: context.bytes, position: from, end: end)
        while cursor.position < to {
            let entryAt = cursor.position
            guard let entry = try? cursor.readEntry() else { return nil }
            if WireCursor.bytes(context.bytes, entry.keyStart, entry.keyEnd, equal: target) {
                // Stay on the found entry: the default contains/decodeNil/decode sequences hit
                // it again on the first comparison, and the next field is one step on.
                hint = entryAt
                return entry
            }
        }
        return nil
    }

    /// Every key that `Key` recognizes, in input order.
    func keys<Key: CodingKey>(as _: Key.Type) -> [Key] {
        var cursor = WireCursor(bytes: context.bytes, position: start, end: end)
        var keys: [Key] = []
        keys.reserveCapacity(count)
        while !cursor.isAtEnd, let entry = try? cursor.readEntry() {
            if let key = Key(stringValue: keyString(entry)) { keys.append(key) }
        }
        return keys
    }

    func keyString(_ entry: WireEntry) -> String {
        String(decoding: context.bytes[entry.keyStart..<entry.keyEnd], as: UTF8.self)
    }
}

/// Looks fields up by key; unknown keys in the input are never visited.
struct WireKeyedDecodingContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let entries: WireKeyedEntries
    let depth: Int
    var codingPath: [any CodingKey] { entries.codingPath }

    var allKeys: [Key] {
        entries.keys(as: Key.self)
    }

    func contains(_ key: Key) -> Bool { entries.find(key.stringValue) != nil }

    private func entry(_ key: Key) throws -> WireEntry {
        guard let entry = entries.find(key.stringValue) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no value for key \"\(key.stringValue)\""))
        }
        return entry
    }

    private func primitive<P: WirePrimitive>(_ key: Key) throws -> P {
        try entries.context.readPrimitive(P.self, try entry(key).value, codingPath + [key])
    }

    private func primitiveIfPresent<P: WirePrimitive>(_ key: Key) throws -> P? {
        guard let entry = entries.find(key.stringValue), !entry.value.isNil else { return nil }
        return try entries.context.readPrimitive(P.self, entry.value, codingPath + [key])
    }

    private func value<T: Decodable>(_ type: T.Type, _ slot: WireSlot, _ key: Key) throws -> T {
        try entries.context.decodeValue(type, in: slot, depth: depth + 1, parentPath: codingPath, key: .key(key))
    }

    func decodeNil(forKey key: Key) throws -> Bool { try entry(key).value.isNil }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try primitive(key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try primitive(key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try primitive(key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try primitive(key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try primitive(key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try primitive(key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try primitive(key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try primitive(key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try primitive(key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try primitive(key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try primitive(key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try primitive(key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try primitive(key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try primitive(key) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try value(type, try entry(key).value, key)
    }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try primitiveIfPresent(key) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try primitiveIfPresent(key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try primitiveIfPresent(key) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try primitiveIfPresent(key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try primitiveIfPresent(key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try primitiveIfPresent(key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try primitiveIfPresent(key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try primitiveIfPresent(key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try primitiveIfPresent(key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try primitiveIfPresent(key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try primitiveIfPresent(key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try primitiveIfPresent(key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try primitiveIfPresent(key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try primitiveIfPresent(key) }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let entry = entries.find(key.stringValue), !entry.value.isNil else { return nil }
        return try value(type, entry.value, key)
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try nestedDecoder(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try nestedDecoder(key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        try nestedDecoder(WireKey.superKey)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        try nestedDecoder(key)
    }

    private func nestedDecoder(_ key: some CodingKey) throws -> WireDecoderImpl {
        guard let entry = entries.find(key.stringValue) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no value for key \"\(key.stringValue)\""))
        }
        return try entries.context.nestedDecoder(entry.value, depth: depth + 1, parentPath: codingPath, key: .key(key))
    }
}

/// Reads element slots in order; the element count comes from one validating pass.
struct WireUnkeyedDecodingContainer: UnkeyedDecodingContainer {
    let context: WireDecodingContext
    let depth: Int
    let codingPath: [any CodingKey]
    let count: Int?
    private(set) var currentIndex = 0
    private var cursor: WireCursor

    init(context: WireDecodingContext, slot: WireSlot, depth: Int, codingPath: [any CodingKey]) throws {
        self.context = context
        self.depth = depth
        self.codingPath = codingPath
        cursor = WireCursor(bytes: context.bytes, position: slot.start, end: slot.end)
        var counter = cursor
        count = try wireParse(codingPath) { () throws(WireFormatIssue) in
            var elements = 0
            while !counter.isAtEnd {
                _ = try counter.readSlot()
                elements += 1
            }
            return elements
        }
    }

    var isAtEnd: Bool { currentIndex >= (count ?? 0) }

    private var elementPath: [any CodingKey] { codingPath + [WireKey(index: currentIndex)] }
    private var elementKey: WirePathKey { .index(currentIndex) }

    /// The next element's slot, without consuming it.
    private func peek(_ type: Any.Type) throws -> WireSlot {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: elementPath, debugDescription: "unkeyed container is at its end"))
        }
        var probe = cursor
        return try wireParse(elementPath) { () throws(WireFormatIssue) in try probe.readSlot() }
    }

    private mutating func advance() {
        _ = try? cursor.readSlot()
        currentIndex += 1
    }

    private mutating func primitive<P: WirePrimitive>() throws -> P {
        let value = try context.readPrimitive(P.self, try peek(P.self), elementPath)
        advance()
        return value
    }

    mutating func decodeNil() throws -> Bool {
        guard try peek(Never.self).isNil else { return false }
        advance()
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try primitive() }
    mutating func decode(_ type: String.Type) throws -> String { try primitive() }
    mutating func decode(_ type: Double.Type) throws -> Double { try primitive() }
    mutating func decode(_ type: Float.Type) throws -> Float { try primitive() }
    mutating func decode(_ type: Int.Type) throws -> Int { try primitive() }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try primitive() }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try primitive() }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try primitive() }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try primitive() }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try primitive() }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try primitive() }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try primitive() }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try primitive() }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try primitive() }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let value = try context.decodeValue(type, in: try peek(type), depth: depth + 1, parentPath: codingPath, key: elementKey)
        advance()
        return value
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let container = try nestedDecoder().container(keyedBy: type)
        advance()
        return container
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let container = try nestedDecoder().unkeyedContainer()
        advance()
        return container
    }

    mutating func superDecoder() throws -> any Decoder {
        let decoder = try nestedDecoder()
        advance()
        return decoder
    }

    private func nestedDecoder() throws -> WireDecoderImpl {
        try context.nestedDecoder(try peek(WireDecoderImpl.self), depth: depth + 1, parentPath: codingPath, key: elementKey)
    }
}

/// Reads the decoder's own slot as one value.
struct WireSingleValueDecodingContainer: SingleValueDecodingContainer {
    let decoder: WireDecoderImpl
    var codingPath: [any CodingKey] { decoder.codingPath }

    private func primitive<P: WirePrimitive>() throws -> P {
        try decoder.context.readPrimitive(P.self, decoder.slot, codingPath)
    }

    func decodeNil() -> Bool { decoder.slot.isNil }

    func decode(_ type: Bool.Type) throws -> Bool { try primitive() }
    func decode(_ type: String.Type) throws -> String { try primitive() }
    func decode(_ type: Double.Type) throws -> Double { try primitive() }
    func decode(_ type: Float.Type) throws -> Float { try primitive() }
    func decode(_ type: Int.Type) throws -> Int { try primitive() }
    func decode(_ type: Int8.Type) throws -> Int8 { try primitive() }
    func decode(_ type: Int16.Type) throws -> Int16 { try primitive() }
    func decode(_ type: Int32.Type) throws -> Int32 { try primitive() }
    func decode(_ type: Int64.Type) throws -> Int64 { try primitive() }
    func decode(_ type: UInt.Type) throws -> UInt { try primitive() }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try primitive() }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try primitive() }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try primitive() }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try primitive() }

    /// A wrapped value shares this slot, mirroring `WireSingleValueEncodingContainer`.
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try decoder.context.decodeValue(type, in: decoder.slot, depth: decoder.depth + 1, parentPath: codingPath, key: .none)
    }
}
