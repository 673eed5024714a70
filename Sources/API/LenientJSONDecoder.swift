/// Decodes `Decodable` values from JSON the way Go's `encoding/json` (and so dockerd) does:
/// object keys match exactly first and case-insensitively otherwise, unknown keys are ignored,
/// and a missing or `null` member takes its zero value ("", 0, false, empty object or array).
///
/// It exists because real clients differ in spelling (docker-py sends `"replicated"` where the
/// CLI sends `"Replicated"`) and omit fields Go treats as zero, while our Codable types use
/// Docker's capitalised names and non-optional collections. Map keys (`Labels`) are kept verbatim.
public enum LenientJSONDecoder {
    /// Parses and decodes `bytes`; the error text says what is wrong and where.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(LenientDecodingError) -> T {
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes)
        } catch {
            throw LenientDecodingError(message: "malformed JSON: \(error.description)")
        }
        return try decode(type, from: value)
    }

    /// Decodes an already parsed value.
    public static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws(LenientDecodingError) -> T {
        do {
            return try T(from: LenientDecoder(value: value, path: nil))
        } catch let error as DecodingError {
            throw LenientDecodingError(message: describe(error))
        } catch {
            throw LenientDecodingError(message: "\(error)")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            let text = keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return text.isEmpty ? "the body" : text
        }
        switch error {
        case let .typeMismatch(type, context): return "\(path(context.codingPath)): expected \(type), \(context.debugDescription)"
        case let .valueNotFound(type, context): return "\(path(context.codingPath)): missing \(type)"
        case let .keyNotFound(key, context): return "\(path(context.codingPath + [key])): missing"
        case let .dataCorrupted(context): return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

/// A request body that parsed as JSON but did not fit the expected shape, or did not parse.
public struct LenientDecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// The coding path of a nested value as a chain towards the root, turned into the
/// `[any CodingKey]` the `Decoder` protocol shows only when asked (in errors): a nested value
/// costs one small object instead of two arrays of existentials.
final class LenientPath {
    let parent: LenientPath?
    let key: any CodingKey

    init(_ parent: LenientPath?, _ key: any CodingKey) {
        self.parent = parent
        self.key = key
    }

    static func keys(_ path: LenientPath?) -> [any CodingKey] {
        var keys: [any CodingKey] = []
        var node = path
        while let current = node {
            keys.append(current.key)
            node = current.parent
        }
        return keys.reversed()
    }
}

/// The decoder; `value == nil` means "absent", which decodes like Go's zero value.
struct LenientDecoder: Decoder, SingleValueDecodingContainer {
    let value: JSONValue?
    let path: LenientPath?
    var codingPath: [any CodingKey] { LenientPath.keys(path) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        switch value {
        case nil, .null?: return KeyedDecodingContainer(LenientKeyedContainer<Key>(members: [], path: path))
        case let .object(members)?: return KeyedDecodingContainer(LenientKeyedContainer<Key>(members: members, path: path))
        default: throw mismatch([String: String].self, "found \(kind)")
        }
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        switch value {
        case nil, .null?: return LenientUnkeyedContainer(items: [], path: path)
        case let .array(items)?: return LenientUnkeyedContainer(items: items, path: path)
        default: throw mismatch([String].self, "found \(kind)")
        }
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    var kind: String { Self.kind(value) }

    static func kind(_ value: JSONValue?) -> String {
        switch value {
        case nil: "nothing"
        case .null?: "null"
        case .bool?: "a boolean"
        case .number?: "a number"
        case .string?: "a string"
        case .array?: "an array"
        case .object?: "an object"
        }
    }

    func mismatch(_ type: Any.Type, _ detail: String) -> DecodingError {
        Self.mismatch(type, detail, at: codingPath)
    }

    static func mismatch(_ type: Any.Type, _ detail: String, at codingPath: [any CodingKey]) -> DecodingError {
        .typeMismatch(type, DecodingError.Context(codingPath: codingPath, debugDescription: detail))
    }

    // MARK: Single values
    //
    // Each kind of leaf is a static function of the value, so a keyed or unkeyed container can
    // decode one without building a decoder and its path; the path is built only for an error.

    static func isNil(_ value: JSONValue?) -> Bool {
        switch value {
        case nil, .null?: true
        default: false
        }
    }

    static func bool(_ value: JSONValue?, at codingPath: @autoclosure () -> [any CodingKey]) throws -> Bool {
        switch value {
        case nil, .null?: return false
        case let .bool(flag)?: return flag
        default: throw mismatch(Bool.self, "found \(kind(value))", at: codingPath())
        }
    }

    static func string(_ value: JSONValue?, at codingPath: @autoclosure () -> [any CodingKey]) throws -> String {
        switch value {
        case nil, .null?: return ""
        case let .string(text)?: return text
        default: throw mismatch(String.self, "found \(kind(value))", at: codingPath())
        }
    }

    static func double(_ value: JSONValue?, at codingPath: @autoclosure () -> [any CodingKey]) throws -> Double {
        switch value {
        case nil, .null?: return 0
        case let .number(text)?:
            guard let number = Double(text) else { throw mismatch(Double.self, "number \(text) is out of range", at: codingPath()) }
            return number
        default: throw mismatch(Double.self, "found \(kind(value))", at: codingPath())
        }
    }

    static func integer<T: FixedWidthInteger>(_ type: T.Type, _ value: JSONValue?, at codingPath: @autoclosure () -> [any CodingKey]) throws -> T {
        switch value {
        case nil, .null?: return 0
        case let .number(text)?:
            if let exact = T(text) { return exact }
            if let number = Double(text), number.rounded() == number, let exact = T(exactly: number) { return exact }
            throw mismatch(type, "number \(text) does not fit in \(type)", at: codingPath())
        default: throw mismatch(type, "found \(kind(value))", at: codingPath())
        }
    }

    /// A `String` or `Bool` leaf without a decoder; nil for any other type. (Strings fill the
    /// arrays and maps of a spec: `Args`, `Env`, `Labels`.)
    static func leaf<T>(_ type: T.Type, _ value: JSONValue?, at codingPath: @autoclosure () -> [any CodingKey]) throws -> T? {
        if type == String.self { return unsafeBitCast(try string(value, at: codingPath()), to: T.self) }
        if type == Bool.self { return unsafeBitCast(try bool(value, at: codingPath()), to: T.self) }
        return nil
    }

    func decodeNil() -> Bool { Self.isNil(value) }

    func decode(_ type: Bool.Type) throws -> Bool { try Self.bool(value, at: codingPath) }
    func decode(_ type: String.Type) throws -> String { try Self.string(value, at: codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try Self.double(value, at: codingPath) }
    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }

    func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T { try Self.integer(type, value, at: codingPath) }

    func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try T(from: self)
    }
}

/// Object members with Go's key matching: the last exact match, else the last case-folded one.
///
/// Leaves (strings, booleans, numbers) and `decodeIfPresent` are decoded here directly, with one
/// key lookup and no nested decoder, since a spec is mostly absent optional fields and leaves.
struct LenientKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [(String, JSONValue)]
    let path: LenientPath?
    var codingPath: [any CodingKey] { LenientPath.keys(path) }

    var allKeys: [Key] { members.compactMap { Key(stringValue: $0.0) } }

    func lookup(_ key: Key) -> JSONValue? {
        LenientKeys.lookup(key.stringValue, in: members)
    }

    func contains(_ key: Key) -> Bool { lookup(key) != nil }

    func decoder(for key: Key) -> LenientDecoder {
        LenientDecoder(value: lookup(key), path: LenientPath(path, key))
    }

    private func fullPath(_ key: Key) -> [any CodingKey] { codingPath + [key] }

    func decodeNil(forKey key: Key) throws -> Bool { LenientDecoder.isNil(lookup(key)) }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try LenientDecoder.bool(lookup(key), at: fullPath(key)) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try LenientDecoder.string(lookup(key), at: fullPath(key)) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try LenientDecoder.double(lookup(key), at: fullPath(key)) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { Float(try decode(Double.self, forKey: key)) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try integer(type, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try integer(type, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try integer(type, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try integer(type, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try integer(type, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try integer(type, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try integer(type, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try integer(type, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try integer(type, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try integer(type, key) }

    private func integer<T: FixedWidthInteger>(_ type: T.Type, _ key: Key) throws -> T {
        try LenientDecoder.integer(type, lookup(key), at: fullPath(key))
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let value = lookup(key)
        if let leaf = try LenientDecoder.leaf(type, value, at: fullPath(key)) { return leaf }
        return try T(from: LenientDecoder(value: value, path: LenientPath(path, key)))
    }

    // `decodeIfPresent` as the standard library's (`contains`, then `decodeNil`, then `decode`),
    // with one lookup instead of three.

    /// The member when present and not null.
    private func present(_ key: Key) -> JSONValue? {
        guard let value = lookup(key), !LenientDecoder.isNil(value) else { return nil }
        return value
    }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? {
        guard let value = present(key) else { return nil }
        return try LenientDecoder.bool(value, at: fullPath(key))
    }

    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? {
        guard let value = present(key) else { return nil }
        return try LenientDecoder.string(value, at: fullPath(key))
    }

    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try integerIfPresent(type, key) }

    private func integerIfPresent<T: FixedWidthInteger>(_ type: T.Type, _ key: Key) throws -> T? {
        guard let value = present(key) else { return nil }
        return try LenientDecoder.integer(type, value, at: fullPath(key))
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let value = present(key) else { return nil }
        if let leaf = try LenientDecoder.leaf(type, value, at: fullPath(key)) { return leaf }
        return try T(from: LenientDecoder(value: value, path: LenientPath(path, key)))
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try decoder(for: key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try decoder(for: key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        LenientDecoder(value: .object(members), path: path)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder { decoder(for: key) }
}

/// Go's case-insensitive key match as this decoder has always done it (`lowercased()` on both
/// sides), without building strings when both keys are ASCII, as every field name is.
enum LenientKeys {
    /// The member called `name`: the last exact key, else the last case-folded one (one pass
    /// from the end).
    static func lookup(_ name: String, in members: [(String, JSONValue)]) -> JSONValue? {
        var folded: JSONValue?
        var index = members.count
        while index > 0 {
            index -= 1
            let key = members[index].0
            if key == name { return members[index].1 }
            if folded == nil && foldedEqual(key, name) { folded = members[index].1 }
        }
        return folded
    }

    static func foldedEqual(_ member: String, _ name: String) -> Bool {
        let ascii = member.utf8.withContiguousStorageIfAvailable { left in
            name.utf8.withContiguousStorageIfAvailable { right in asciiFoldedEqual(left, right) } ?? nil
        } ?? nil
        return ascii ?? (member.lowercased() == name.lowercased())
    }

    /// Whether two ASCII texts are equal ignoring case; nil when either is not ASCII (then only
    /// `lowercased()` can tell: the Kelvin sign lowercases to "k").
    private static func asciiFoldedEqual(_ left: UnsafeBufferPointer<UInt8>, _ right: UnsafeBufferPointer<UInt8>) -> Bool? {
        guard left.count == right.count else {
            return isASCII(left) && isASCII(right) ? false : nil
        }
        for index in 0..<left.count {
            let a = left[index], b = right[index]
            // Every byte before this one is ASCII on both sides, so the lowercased texts differ
            // here too when these two ASCII letters differ.
            if (a | b) >= 0x80 { return nil }
            if a != b && ASCIICase.lower(a) != ASCIICase.lower(b) { return false }
        }
        return true
    }

    private static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        for byte in bytes where byte >= 0x80 { return false }
        return true
    }
}

/// Array items in order.
struct LenientUnkeyedContainer: UnkeyedDecodingContainer {
    let items: [JSONValue]
    let path: LenientPath?
    var codingPath: [any CodingKey] { LenientPath.keys(path) }
    private(set) var currentIndex = 0

    init(items: [JSONValue], path: LenientPath?) {
        self.items = items
        self.path = path
    }

    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private struct IndexKey: CodingKey {
        let intValue: Int?
        var stringValue: String { "\(intValue!)" }
        init(_ index: Int) { intValue = index }
        init?(stringValue: String) { nil }
        init?(intValue: Int) { self.intValue = intValue }
    }

    private func outOfItems() -> DecodingError {
        DecodingError.valueNotFound(Any.self, DecodingError.Context(codingPath: codingPath, debugDescription: "the array has only \(items.count) items"))
    }

    private mutating func next() throws -> LenientDecoder {
        guard !isAtEnd else { throw outOfItems() }
        defer { currentIndex += 1 }
        return LenientDecoder(value: items[currentIndex], path: LenientPath(path, IndexKey(currentIndex)))
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { return false }
        if case .null = items[currentIndex] {
            currentIndex += 1
            return true
        }
        return false
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        guard !isAtEnd else { throw outOfItems() }
        if let leaf = try LenientDecoder.leaf(type, items[currentIndex], at: codingPath + [IndexKey(currentIndex)]) {
            currentIndex += 1
            return leaf
        }
        return try T(from: try next())
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try next().unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder { try next() }
}
