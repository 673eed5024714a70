@testable import API
import ClusterState

// The service-spec body decoding as it was before the fast paths (commit 93af56e): the JSON
// parser, the lenient `Decoder` and `DockerAPI.decodeServiceSpec`, copied verbatim with the types
// renamed. It is the oracle of `ServiceSpecDecodingEquivalenceTests`: the decoding that ships must
// give the same spec, or the same error, for every body.

enum ReferenceLenientJSON {
    /// Parses and decodes `bytes`; the error text says what is wrong and where.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(LenientDecodingError) -> T {
        let value: JSONValue
        do {
            var parser = ReferenceJSONParser(bytes: bytes, maxDepth: 128)
            value = try parser.parseDocument()
        } catch {
            throw LenientDecodingError(message: "malformed JSON: \(error.description)")
        }
        return try decode(type, from: value)
    }

    /// Decodes an already parsed value.
    public static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws(LenientDecodingError) -> T {
        do {
            return try T(from: ReferenceLenientDecoder(value: value, codingPath: []))
        } catch let error as DecodingError {
            throw LenientDecodingError(message: LenientJSONDecoder.describe(error))
        } catch {
            throw LenientDecodingError(message: "\(error)")
        }
    }

}

enum ReferenceServiceSpecBody {
    static func decode(_ body: [UInt8]) -> Result<ServiceSpec, APIError> {
        guard body.contains(where: { ![0x20, 0x09, 0x0a, 0x0d].contains($0) }) else {
            return .failure(.badRequest("got EOF while reading request body"))
        }
        let document: JSONValue
        do {
            var parser = ReferenceJSONParser(bytes: body, maxDepth: 128)
            document = try parser.parseDocument()
        } catch {
            if error.offset >= body.count { return .failure(.badRequest("unexpected EOF")) }
            let character = Unicode.Scalar(body[error.offset])
            return .failure(.badRequest("invalid character '\(character)' (\(error.description))"))
        }
        guard case .object = document else {
            return .failure(.badRequest("json: cannot unmarshal \(kind(of: document)) into Go value of type swarm.ServiceSpec"))
        }
        if case let .object(members)? = document["Mode"],
           let job = members.first(where: { ["replicatedjob", "globaljob"].contains($0.0.lowercased()) }) {
            return .failure(ServiceSpecValidation.invalidArgument("\(job.0) services are not supported"))
        }
        // A field this cluster does not honour is refused rather than dropped by the decoder.
        if let problem = ServiceSpecFields.problem(in: document) { return .failure(problem) }
        do {
            return .success(ServicePresentation.canonical(try ReferenceLenientJSON.decode(ServiceSpec.self, from: document)))
        } catch {
            return .failure(.badRequest("json: cannot unmarshal into swarm.ServiceSpec: \(error.message)"))
        }
    }


    private static func kind(of value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "bool"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

/// The decoder; `value == nil` means "absent", which decodes like Go's zero value.
struct ReferenceLenientDecoder: Decoder, SingleValueDecodingContainer {
    let value: JSONValue?
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        switch value {
        case nil, .null?: return KeyedDecodingContainer(ReferenceLenientKeyedContainer<Key>(members: [], codingPath: codingPath))
        case let .object(members)?: return KeyedDecodingContainer(ReferenceLenientKeyedContainer<Key>(members: members, codingPath: codingPath))
        default: throw mismatch([String: String].self, "found \(kind)")
        }
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        switch value {
        case nil, .null?: return ReferenceLenientUnkeyedContainer(items: [], codingPath: codingPath)
        case let .array(items)?: return ReferenceLenientUnkeyedContainer(items: items, codingPath: codingPath)
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
struct ReferenceLenientKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [(String, JSONValue)]
    let codingPath: [any CodingKey]

    var allKeys: [Key] { members.compactMap { Key(stringValue: $0.0) } }

    func lookup(_ key: Key) -> JSONValue? {
        if let exact = members.last(where: { $0.0 == key.stringValue }) { return exact.1 }
        let folded = key.stringValue.lowercased()
        return members.last { $0.0.lowercased() == folded }?.1
    }

    func contains(_ key: Key) -> Bool { lookup(key) != nil }

    func decoder(for key: Key) -> ReferenceLenientDecoder {
        ReferenceLenientDecoder(value: lookup(key), codingPath: codingPath + [key])
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
        ReferenceLenientDecoder(value: .object(members), codingPath: codingPath)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder { decoder(for: key) }
}

/// Array items in order.
struct ReferenceLenientUnkeyedContainer: UnkeyedDecodingContainer {
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

    private mutating func next() throws -> ReferenceLenientDecoder {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any.self, DecodingError.Context(codingPath: codingPath, debugDescription: "the array has only \(items.count) items"))
        }
        defer { currentIndex += 1 }
        return ReferenceLenientDecoder(value: items[currentIndex], codingPath: codingPath + [IndexKey(currentIndex)])
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

/// A recursive-descent JSON parser over bytes (RFC 8259), depth-limited so hostile input cannot
/// exhaust the stack.
struct ReferenceJSONParser {
    let bytes: [UInt8]
    let maxDepth: Int
    var position = 0
    var depth = 0

    init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        skipWhitespace()
        if position == bytes.count { throw fail(bytes.isEmpty ? "empty document" : "unexpected end of input") }
        let value = try parseValue()
        skipWhitespace()
        guard position == bytes.count else { throw fail("unexpected data after the JSON value") }
        return value
    }

    private func fail(_ problem: String) -> JSONParseError {
        JSONParseError(offset: position, problem: problem)
    }

    private mutating func skipWhitespace() {
        while position < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[position]) { position += 1 }
    }

    private func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func parseValue() throws(JSONParseError) -> JSONValue {
        skipWhitespace()
        guard let byte = peek() else { throw fail("unexpected end of input") }
        switch byte {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw fail("unexpected character '\(Unicode.Scalar(byte))'")
        }
    }

    private mutating func expectLiteral(_ literal: String) throws(JSONParseError) {
        for expected in literal.utf8 {
            guard peek() == expected else { throw fail(peek() == nil ? "unexpected end of input" : "invalid literal") }
            position += 1
        }
    }

    private mutating func enter() throws(JSONParseError) {
        depth += 1
        if depth > maxDepth { throw fail("nesting deeper than \(maxDepth) levels") }
    }

    private mutating func parseObject() throws(JSONParseError) -> JSONValue {
        try enter()
        position += 1
        var members: [(String, JSONValue)] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "}") { position += 1; depth -= 1; return .object(members) }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw fail(peek() == nil ? "unexpected end of input" : "expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard peek() == UInt8(ascii: ":") else { throw fail(peek() == nil ? "unexpected end of input" : "expected ':'") }
            position += 1
            members.append((key, try parseValue()))
            skipWhitespace()
            guard let next = peek() else { throw fail("unexpected end of input") }
            position += 1
            if next == UInt8(ascii: "}") { depth -= 1; return .object(members) }
            guard next == UInt8(ascii: ",") else { position -= 1; throw fail("expected ',' or '}'") }
        }
    }

    private mutating func parseArray() throws(JSONParseError) -> JSONValue {
        try enter()
        position += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "]") { position += 1; depth -= 1; return .array(items) }
        while true {
            items.append(try parseValue())
            skipWhitespace()
            guard let next = peek() else { throw fail("unexpected end of input") }
            position += 1
            if next == UInt8(ascii: "]") { depth -= 1; return .array(items) }
            guard next == UInt8(ascii: ",") else { position -= 1; throw fail("expected ',' or ']'") }
        }
    }

    private mutating func parseNumber() throws(JSONParseError) -> String {
        let start = position
        if peek() == UInt8(ascii: "-") { position += 1 }
        guard let first = peek(), isDigit(first) else { throw fail("invalid number") }
        if first == UInt8(ascii: "0") { position += 1 } else { skipDigits() }
        if peek() == UInt8(ascii: ".") {
            position += 1
            guard let digit = peek(), isDigit(digit) else { throw fail("invalid number") }
            skipDigits()
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            position += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { position += 1 }
            guard let digit = peek(), isDigit(digit) else { throw fail("invalid number") }
            skipDigits()
        }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    private mutating func skipDigits() {
        while let byte = peek(), isDigit(byte) { position += 1 }
    }

    private mutating func parseString() throws(JSONParseError) -> String {
        position += 1
        var out: [UInt8] = []
        while true {
            guard let byte = peek() else { throw fail("unterminated string") }
            position += 1
            switch byte {
            case UInt8(ascii: "\""): return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"): try parseEscape(into: &out)
            case 0..<0x20: position -= 1; throw fail("control character in string")
            default: out.append(byte)
            }
        }
    }

    private mutating func parseEscape(into out: inout [UInt8]) throws(JSONParseError) {
        guard let byte = peek() else { throw fail("unterminated string") }
        position += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(byte)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0c)
        case UInt8(ascii: "n"): out.append(0x0a)
        case UInt8(ascii: "r"): out.append(0x0d)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"): out += Array(String(try parseUnicodeEscape()).utf8)
        default: position -= 1; throw fail("invalid escape")
        }
    }

    /// `\uXXXX`, combining surrogate pairs; a lone surrogate becomes U+FFFD (as Go does).
    private mutating func parseUnicodeEscape() throws(JSONParseError) -> Character {
        let first = try parseHex4()
        if (0xD800..<0xDC00).contains(first), bytes.count >= position + 6,
           bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") {
            let saved = position
            position += 2
            let second = try parseHex4()
            if (0xDC00..<0xE000).contains(second) {
                let scalar = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                return Character(Unicode.Scalar(scalar) ?? "\u{FFFD}")
            }
            position = saved
        }
        return Character(Unicode.Scalar(first) ?? "\u{FFFD}")
    }

    private mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        guard position + 4 <= bytes.count else { throw fail("unterminated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = PercentEncoding.hexValue(bytes[position]) else { throw fail("invalid \\u escape") }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }
}

