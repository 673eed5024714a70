/// Header fields in arrival order with case-insensitive lookup.
///
/// It exists because HTTP field names are case-insensitive while clients and tests compare
/// exact output; keeping the original order and spelling makes responses predictable.
public struct HTTPHeaders: Sendable, Equatable, Sequence {
    public private(set) var fields: [(name: String, value: String)] = []

    public init(_ fields: [(String, String)] = []) {
        for (name, value) in fields { add(name, value) }
    }

    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.fields.elementsEqual(rhs.fields) { $0.name == $1.name && $0.value == $1.value }
    }

    /// The first value of `name`, compared case-insensitively.
    public subscript(name: String) -> String? {
        fields.first { $0.name.caseInsensitiveEquals(name) }?.value
    }

    /// Every value of `name`, in order.
    public func values(_ name: String) -> [String] {
        fields.filter { $0.name.caseInsensitiveEquals(name) }.map(\.value)
    }

    public func contains(_ name: String) -> Bool { self[name] != nil }

    /// Appends a field (a repeated name is kept as a second field).
    public mutating func add(_ name: String, _ value: String) {
        fields.append((name, value))
    }

    /// Replaces every field called `name` with one field.
    public mutating func set(_ name: String, _ value: String) {
        remove(name)
        add(name, value)
    }

    public mutating func remove(_ name: String) {
        fields.removeAll { $0.name.caseInsensitiveEquals(name) }
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }
}

/// Decoded query parameters (`+` is a space, percent escapes decoded), in order.
///
/// It exists because Docker clients send booleans in several spellings and JSON in `filters`,
/// and every route needs the same decoding and the same boolean rule.
public struct QueryParameters: Sendable, Equatable {
    public private(set) var items: [(name: String, value: String)]

    public init(_ items: [(String, String)] = []) {
        self.items = items.map { (name: $0.0, value: $0.1) }
    }

    public static func == (lhs: QueryParameters, rhs: QueryParameters) -> Bool {
        lhs.items.elementsEqual(rhs.items) { $0.name == $1.name && $0.value == $1.value }
    }

    /// Parses `a=1&b=x+y`; a malformed percent escape is kept literally.
    public init(parsing query: Substring) {
        items = query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = PercentEncoding.decode(parts[0], plusIsSpace: true)
            let value = parts.count > 1 ? PercentEncoding.decode(parts[1], plusIsSpace: true) : ""
            return (name: name, value: value)
        }
    }

    /// The first value of `name` (exact, case-sensitive like Go's url.Values).
    public subscript(name: String) -> String? {
        items.first { $0.name == name }?.value
    }

    /// Docker's `BoolValue`: absent, "", "0", "no", "false" and "none" (any case) are false.
    public func bool(_ name: String) -> Bool {
        guard let value = self[name] else { return false }
        let normalized = value.trimmingASCIIWhitespace().lowercased()
        return !["", "0", "no", "false", "none"].contains(normalized)
    }

    /// `a=1&b=x%20y`, for the client.
    public var encoded: String {
        items.map { PercentEncoding.encode($0.name) + "=" + PercentEncoding.encode($0.value) }.joined(separator: "&")
    }
}

/// One parsed HTTP/1.x request.
///
/// It exists as a plain value so routes can be unit-tested without sockets, and so the parser,
/// the server and the tests agree on one shape.
public struct HTTPRequest: Sendable, Equatable {
    public var method: String
    /// The request target as sent (`/v1.41/nodes?filters=...`).
    public var target: String
    /// The percent-decoded path without the query.
    public var path: String
    public var query: QueryParameters
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public var minorVersion: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// Who sent it, when the connection authenticated the client (its TLS certificate's CN and
    /// OU); nil on a unix socket or plain TCP. For audit lines.
    public var client: String?

    public init(method: String, target: String, minorVersion: Int = 1, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.method = method
        self.target = target
        self.minorVersion = minorVersion
        self.headers = headers
        self.body = body
        let (path, query) = Self.split(target: target)
        self.path = path
        self.query = query
    }

    /// Whether the connection stays open after the response (HTTP/1.1 unless `close`;
    /// HTTP/1.0 only with `keep-alive`).
    public var keepAlive: Bool {
        guard headers.contains("Connection") else { return minorVersion >= 1 }
        let tokens = headers.values("Connection").flatMap { $0.split(separator: ",") }
            .map { $0.trimmingASCIIWhitespace().lowercased() }
        if tokens.contains("close") { return false }
        return minorVersion >= 1 || tokens.contains("keep-alive")
    }

    /// Splits an origin-form (`/p?q`) or absolute-form (`http://h/p?q`) target.
    static func split(target: String) -> (String, QueryParameters) {
        var rest = Substring(target)
        if !rest.hasPrefix("/"), let colon = rest.firstIndex(of: ":"), rest[colon...].hasPrefix("://") {
            rest = rest[rest.index(colon, offsetBy: 3)...]
            rest = rest.firstIndex(of: "/").map { rest[$0...] } ?? "/"
        }
        let question = rest.firstIndex(of: "?")
        let rawPath = question.map { rest[..<$0] } ?? rest
        let query = question.map { rest[rest.index(after: $0)...] } ?? ""
        return (PercentEncoding.decode(rawPath, plusIsSpace: false), QueryParameters(parsing: query))
    }
}

/// A complete response with a body of known length.
///
/// It exists so handlers build answers as values (easy to test) and the server alone decides
/// framing (Content-Length, Connection, HEAD without body).
public struct HTTPResponse: Sendable, Equatable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A `text/plain` response.
    public static func text(_ status: Int, _ text: String) -> HTTPResponse {
        HTTPResponse(status: status, headers: HTTPHeaders([("Content-Type", "text/plain; charset=utf-8")]), body: Array(text.utf8))
    }

    /// Docker's error shape: `{"message": "..."}` as application/json.
    public static func error(_ status: Int, _ message: String) -> HTTPResponse {
        json(status, JSONValue.object([("message", .string(message))]).serialized())
    }

    /// An `application/json` response with an already serialized body.
    public static func json(_ status: Int, _ body: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: status, headers: HTTPHeaders([("Content-Type", "application/json")]), body: body)
    }

    /// The body as UTF-8 text (lossy), for messages and tests.
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// Reason phrases for the status line and which statuses forbid a body.
///
/// It exists so the server and the tests share one table instead of spelling phrases inline.
public enum HTTPStatus {
    public static func reason(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 200: "OK"
        case 201: "Created"
        case 204: "No Content"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 411: "Length Required"
        case 413: "Payload Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status \(status)"
        }
    }

    /// Statuses whose responses never carry a body (RFC 9110 §6.4.1).
    static func forbidsBody(_ status: Int) -> Bool {
        (100..<200).contains(status) || status == 204 || status == 304
    }
}

/// Percent-encoding for paths and query strings.
enum PercentEncoding {
    static func decode(_ text: Substring, plusIsSpace: Bool) -> String {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) else {
            return String(text)
        }
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%"), index + 2 < bytes.count,
               let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) {
                out.append(high << 4 | low)
                index += 3
                continue
            }
            out.append(plusIsSpace && byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
            index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Encodes everything but RFC 3986 unreserved characters.
    static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            if isUnreserved(byte) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xf, radix: 16, uppercase: true)
            }
        }
        return out
    }

    /// Encodes a path, keeping `/` and the characters Docker references use (`:`, `@`).
    static func encodePath(_ path: String) -> String {
        var out = ""
        for byte in path.utf8 {
            if isUnreserved(byte) || byte == UInt8(ascii: "/") || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "@") {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xf, radix: 16, uppercase: true)
            }
        }
        return out
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"): true
        default: false
        }
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension StringProtocol {
    /// Equal ignoring case (`lowercased()` on both sides); ASCII text, as header names are, is
    /// compared byte by byte without building strings.
    func caseInsensitiveEquals(_ other: some StringProtocol) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        var ascii = true
        var equal = true
        for (a, b) in zip(utf8, other.utf8) {
            if (a | b) >= 0x80 {
                ascii = false
                break
            }
            if a != b && ASCIICase.lower(a) != ASCIICase.lower(b) { equal = false }
        }
        return ascii ? equal : lowercased() == other.lowercased()
    }

    func trimmingASCIIWhitespace() -> Substring {
        let string = Substring(self)
        guard let start = string.firstIndex(where: { !ASCIICase.isTrimmed($0) }) else { return "" }
        let end = string.lastIndex(where: { !ASCIICase.isTrimmed($0) })!
        return string[start...end]
    }
}

/// Byte and character classes of ASCII text for the HTTP and JSON code, as switches instead of
/// sets or arrays built per call.
enum ASCIICase {
    static func lower(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    /// What `trimmingASCIIWhitespace` removes (whole characters: a CR LF pair is one character
    /// and is not removed, as before).
    static func isTrimmed(_ character: Character) -> Bool {
        character == " " || character == "\t" || character == "\r" || character == "\n"
    }
}
