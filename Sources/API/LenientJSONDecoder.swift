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
            return try T(from: LenientDecoder(value: value, codingPath: []))
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

/// The decoder; `value == nil` means "absent", which decodes like Go's zero value.
struct LenientDecoder: Decoder, SingleValueDecodingContainer {
    let value: JSONValue?
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        switch value {
        case nil, .null?: return KeyedDecodingContainer(LenientKeyedContainer<Key>(members: [], codingPath: codingPath))
        case let .object(members)?: return KeyedDecodingContainer(LenientKeyedContainer<Key>(members: members, codingPath: codingPath))
        default: throw mismatch([String: String].self, "found \(kind)")
        }
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        switch value {
        case nil, .null?: return LenientUnkeyedContainer(items: [], codingPath: codingPath)
        case let .array(items)?: return LenientUnkeyedContainer(items: items, codingPath: codingPath)
        default: throw mismatch([String].self, "found \(kind)")
        }
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    var kind: String {
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
        .typeMismatch(type, DecodingError.Context(codingPath: codingPath, debugDescription: detail))
    }

    // MARK: Single values

    func decodeNil() -> Bool {
        switch value {
        case nil, .null?: true
        default: false
        }
    }

    func decode(_ type: Bool.Type) throws -> Bool {
        switch value {
        case nil, .null?: return false
        case let .bool(flag)?: return flag
        default: throw mismatch(type, "found \(kind)")
        }
    }

    func decode(_ type: String.Type) throws -> String {
        switch value {
        case nil, .null?: return ""
        case let .string(text)?: return text
        default: throw mismatch(type, "found \(kind)")
        }
    }

    func decode(_ type: Double.Type) throws -> Double {
        switch value {
        case nil, .null?: return 0
        case let .number(text)?:
            guard let number = Double(text) else { throw mismatch(type, "number \(text) is out of range") }
            return number
        default: throw mismatch(type, "found \(kind)")
        }
    }

    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }

    func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        switch value {
        case nil, .null?: return 0
        case let .number(text)?:
            if let exact = T(text) { return exact }
            if let number = Double(text), number.rounded() == number, let exact = T(exactly: number) { return exact }
            throw mismatch(type, "number \(text) does not fit in \(type)")
        default: throw mismatch(type, "found \(kind)")
        }
    }

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
struct LenientKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [(String, JSONValue)]
    let codingPath: [any CodingKey]

    var allKeys: [Key] { members.compactMap { Key(stringValue: $0.0) } }

    func lookup(_ key: Key) -> JSONValue? {
        if let exact = members.last(where: { $0.0 == key.stringValue }) { return exact.1 }
        let folded = key.stringValue.lowercased()
        return members.last { $0.0.lowercased() == folded }?.1
    }

    func contains(_ key: Key) -> Bool { lookup(key) != nil }

    func decoder(for key: Key) -> LenientDecoder {
        LenientDecoder(value: lookup(key), codingPath: codingPath + [key])
    }

    func decodeNil(forKey key: Key) throws -> Bool { decoder(for: key).decodeNil() }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try T(from: decoder(for: key))
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try decoder(for: key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try decoder(for: key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        LenientDecoder(value: .object(members), codingPath: codingPath)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder { decoder(for: key) }
}

/// Array items in order.
struct LenientUnkeyedContainer: UnkeyedDecodingContainer {
    let items: [JSONValue]
    let codingPath: [any CodingKey]
    private(set) var currentIndex = 0

    init(items: [JSONValue], codingPath: [any CodingKey]) {
        self.items = items
        self.codingPath = codingPath
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

    private mutating func next() throws -> LenientDecoder {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any.self, DecodingError.Context(codingPath: codingPath, debugDescription: "the array has only \(items.count) items"))
        }
        defer { currentIndex += 1 }
        return LenientDecoder(value: items[currentIndex], codingPath: codingPath + [IndexKey(currentIndex)])
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
        try T(from: try next())
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try next().unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder { try next() }
}
