/// Why bytes on a connection are not an acceptable HTTP message: the status to answer with
/// (400, 413, 431, 501, 505) and a message for the JSON body.
public struct HTTPParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public let status: Int
    public let message: String

    public init(status: Int, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status): \(message)" }
}

/// Size limits for one request; exceeding them is answered with 431 or 413 and a close.
public struct HTTPLimits: Sendable, Equatable {
    /// Request line plus header fields (and chunked trailers).
    public var maxHeadBytes: Int
    public var maxBodyBytes: Int

    public init(maxHeadBytes: Int = 64 * 1024, maxBodyBytes: Int = 16 * 1024 * 1024) {
        precondition(maxHeadBytes > 0 && maxBodyBytes >= 0, "HTTP limits must be positive")
        self.maxHeadBytes = maxHeadBytes
        self.maxBodyBytes = maxBodyBytes
    }
}

/// A growable byte queue with a read cursor, compacted lazily so consuming from the front is
/// O(1) amortised.
struct ByteQueue {
    private(set) var storage: [UInt8] = []
    private(set) var start = 0

    var count: Int { storage.count - start }
    var isEmpty: Bool { count == 0 }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        compactIfWorthwhile()
        storage.append(contentsOf: bytes)
    }

    mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    subscript(offset: Int) -> UInt8 { storage[start + offset] }

    func slice(_ from: Int, _ to: Int) -> ArraySlice<UInt8> { storage[(start + from)..<(start + to)] }

    /// Offset of the first `byte` at or after `from`, or nil.
    func firstIndex(of byte: UInt8, from: Int) -> Int? {
        guard from < count else { return nil }
        return storage[(start + from)...].firstIndex(of: byte).map { $0 - start }
    }

    mutating func consume(_ n: Int) {
        precondition(n <= count, "consume past the end")
        start += n
        if start == storage.count {
            storage.removeAll(keepingCapacity: storage.capacity <= 1 << 20)
            start = 0
        }
    }

    private mutating func compactIfWorthwhile() {
        if start > 0 && start >= storage.count / 2 {
            storage.removeFirst(start)
            start = 0
        }
    }
}

/// Finds the end of a message head (the first empty line) without rescanning bytes already seen,
/// so a head delivered one byte at a time costs O(n), not O(n²).
struct HeadScanner {
    private var scanned = 0
    private var lineStart = 0

    mutating func reset() {
        scanned = 0
        lineStart = 0
    }

    /// The length of the head including its final empty line, once it is complete.
    mutating func headLength(in queue: ByteQueue) -> Int? {
        while let newline = queue.firstIndex(of: UInt8(ascii: "\n"), from: scanned) {
            let lineLength = newline - lineStart
            let empty = lineLength == 0 || (lineLength == 1 && queue[lineStart] == UInt8(ascii: "\r"))
            scanned = newline + 1
            lineStart = newline + 1
            if empty { return newline + 1 }
        }
        scanned = queue.count
        return nil
    }
}

/// Parsing of the pieces of a head: lines, header fields, tokens.
enum HeadSyntax {
    /// Splits the head into lines without their CR LF / LF; the final empty line is dropped.
    static func lines(_ head: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var lineStart = head.startIndex
        for index in head.indices where head[index] == UInt8(ascii: "\n") {
            var end = index
            if end > lineStart && head[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            lines.append(head[lineStart..<end])
            lineStart = index + 1
        }
        if let last = lines.last, last.isEmpty { lines.removeLast() }
        return lines
    }

    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"): true
        default: false
        }
    }

    /// Parses the header field lines that follow the start line.
    static func fields(_ lines: ArraySlice<ArraySlice<UInt8>>) throws(HTTPParseError) -> HTTPHeaders {
        var headers = HTTPHeaders()
        for line in lines {
            guard let first = line.first else { continue }
            if first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
                throw HTTPParseError(status: 400, "obsolete line folding in header fields is not accepted")
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
                  line[line.startIndex..<colon].allSatisfy(isTokenByte) else {
                throw HTTPParseError(status: 400, "malformed header field line")
            }
            let rawValue = line[(colon + 1)...]
            guard !rawValue.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7f }) else {
                throw HTTPParseError(status: 400, "control character in header field value")
            }
            let name = String(decoding: line[line.startIndex..<colon], as: UTF8.self)
            let value = String(decoding: rawValue, as: UTF8.self).trimmingASCIIWhitespace()
            headers.add(name, String(value))
        }
        return headers
    }

    /// Parses `HTTP/1.x` and returns x.
    static func minorVersion(_ text: Substring) throws(HTTPParseError) -> Int {
        // What every client sends, without taking the text apart.
        if text.utf8.elementsEqual("HTTP/1.1".utf8) { return 1 }
        if text.utf8.elementsEqual("HTTP/1.0".utf8) { return 0 }
        let characters = Array(text)
        guard text.hasPrefix("HTTP/"), characters.count == 8, characters[6] == ".",
              characters[5].isASCII, characters[5].isNumber, characters[7].isASCII, characters[7].isNumber else {
            throw HTTPParseError(status: 400, "malformed HTTP version '\(text.prefix(16))'")
        }
        guard characters[5] == "1", let minor = Int(String(characters[7])) else {
            throw HTTPParseError(status: 505, "HTTP version '\(text)' is not supported; use HTTP/1.1")
        }
        return minor
    }
}

/// How a message body is delimited, from its headers.
enum BodyFraming: Equatable {
    case none
    case length(Int)
    case chunked
    case untilClose

    /// Framing of a request (RFC 9112 §6.3): chunked, Content-Length, or no body.
    static func forRequest(_ headers: HTTPHeaders, limits: HTTPLimits) throws(HTTPParseError) -> BodyFraming {
        let codings = !headers.contains("Transfer-Encoding") ? [] : headers.values("Transfer-Encoding").flatMap { $0.split(separator: ",") }
            .map { $0.trimmingASCIIWhitespace().lowercased() }.filter { !$0.isEmpty }
        if !codings.isEmpty {
            guard !headers.contains("Content-Length") else {
                throw HTTPParseError(status: 400, "both Transfer-Encoding and Content-Length are present")
            }
            guard codings == ["chunked"] else {
                throw HTTPParseError(status: 501, "unsupported Transfer-Encoding '\(codings.joined(separator: ", "))'; only chunked is accepted")
            }
            return .chunked
        }
        guard let length = try contentLength(headers) else { return .none }
        guard length <= limits.maxBodyBytes else {
            throw HTTPParseError(status: 413, "request body of \(length) bytes exceeds the limit of \(limits.maxBodyBytes) bytes")
        }
        return length == 0 ? .none : .length(length)
    }

    /// The Content-Length value; repeated values must agree.
    static func contentLength(_ headers: HTTPHeaders) throws(HTTPParseError) -> Int? {
        // One field of plain digits, as clients send it: the rules below accept it as its number.
        if let only = headers.values("Content-Length").onlyElement, (1...18).contains(only.utf8.count),
           only.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), let length = Int(only) {
            return length
        }
        let values = headers.values("Content-Length").flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
            .map { $0.trimmingASCIIWhitespace() }
        guard let first = values.first else { return nil }
        guard values.allSatisfy({ $0 == first }), !first.isEmpty, first.count <= 18,
              first.allSatisfy({ $0.isASCII && $0.isNumber }), let length = Int(first) else {
            throw HTTPParseError(status: 400, "invalid Content-Length '\(values.joined(separator: ","))'")
        }
        return length
    }
}

/// Incremental decoder of a body: Content-Length or chunked (with extensions and trailers).
struct BodyDecoder {
    private enum State: Equatable {
        case length(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers(bytesSeen: Int)
        case untilClose
        case done
    }

    private var state: State
    private(set) var body: [UInt8] = []
    let maxBodyBytes: Int
    let maxLineBytes: Int
    /// When streaming, decoded bytes are handed out instead of accumulated.
    let accumulate: Bool

    init(_ framing: BodyFraming, maxBodyBytes: Int, maxLineBytes: Int, accumulate: Bool = true) {
        switch framing {
        case .none: state = .done
        case let .length(length): state = length == 0 ? .done : .length(remaining: length)
        case .chunked: state = .chunkSize
        case .untilClose: state = .untilClose
        }
        self.maxBodyBytes = maxBodyBytes
        self.maxLineBytes = maxLineBytes
        self.accumulate = accumulate
        // One allocation of the declared size: no doubling copies while it arrives, and what is
        // held matches what the server's body budget reserved.
        if accumulate, case let .length(length) = framing { body.reserveCapacity(length) }
    }

    var isDone: Bool { state == .done }
    var readsUntilClose: Bool { state == .untilClose }

    /// Consumes what it can from `queue`; returns the body bytes decoded in this call when not
    /// accumulating. Stops when the body is complete or more input is needed.
    mutating func decode(_ queue: inout ByteQueue) throws(HTTPParseError) -> [UInt8] {
        var fresh: [UInt8] = []
        while !isDone, try step(&queue, &fresh) {}
        return fresh
    }

    /// Makes one step of progress; false when more input is needed.
    private mutating func step(_ queue: inout ByteQueue, _ fresh: inout [UInt8]) throws(HTTPParseError) -> Bool {
        switch state {
        case let .length(remaining):
            let taken = try take(min(remaining, queue.count), from: &queue, into: &fresh)
            state = taken == remaining ? .done : .length(remaining: remaining - taken)
            return taken > 0
        case .untilClose:
            return try take(queue.count, from: &queue, into: &fresh) > 0
        case .chunkSize:
            guard let line = try takeLine(&queue) else { return false }
            let size = try Self.chunkSize(line)
            state = size == 0 ? .trailers(bytesSeen: 0) : .chunkData(remaining: size)
            return true
        case let .chunkData(remaining):
            let taken = try take(min(remaining, queue.count), from: &queue, into: &fresh)
            state = taken == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - taken)
            return taken > 0
        case .chunkDataEnd:
            guard let line = try takeLine(&queue) else { return false }
            guard line.isEmpty else { throw HTTPParseError(status: 400, "chunk data is not followed by CRLF") }
            state = .chunkSize
            return true
        case let .trailers(bytesSeen):
            guard let line = try takeLine(&queue) else { return false }
            let seen = bytesSeen + line.count + 2
            guard seen <= maxLineBytes else { throw HTTPParseError(status: 431, "chunked trailer section is too large") }
            state = line.isEmpty ? .done : .trailers(bytesSeen: seen)
            return true
        case .done:
            return false
        }
    }

    /// Moves `n` bytes to the body (or to `fresh` when streaming); returns `n`.
    private mutating func take(_ n: Int, from queue: inout ByteQueue, into fresh: inout [UInt8]) throws(HTTPParseError) -> Int {
        guard n > 0 else { return 0 }
        guard body.count + n <= maxBodyBytes || !accumulate else {
            throw HTTPParseError(status: 413, "request body exceeds the limit of \(maxBodyBytes) bytes")
        }
        if accumulate { body += queue.slice(0, n) } else { fresh += queue.slice(0, n) }
        queue.consume(n)
        return n
    }

    /// One line without CR LF, or nil if it has not fully arrived.
    private func takeLine(_ queue: inout ByteQueue) throws(HTTPParseError) -> ArraySlice<UInt8>? {
        guard let newline = queue.firstIndex(of: UInt8(ascii: "\n"), from: 0) else {
            if queue.count > maxLineBytes { throw HTTPParseError(status: 400, "chunk size line is too long") }
            return nil
        }
        guard newline <= maxLineBytes else { throw HTTPParseError(status: 400, "chunk size line is too long") }
        var end = newline
        if end > 0 && queue[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let line = Array(queue.slice(0, end))[...]
        queue.consume(newline + 1)
        return line
    }

    /// The hex size before any `;extension`.
    static func chunkSize(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> Int {
        let digits = line.prefix { $0 != UInt8(ascii: ";") }.drop { $0 == 0x20 || $0 == 0x09 }
        let trimmed = digits.reversed().drop { $0 == 0x20 || $0 == 0x09 }.reversed()
        guard !trimmed.isEmpty, trimmed.count <= 15 else { throw HTTPParseError(status: 400, "invalid chunk size") }
        var size = 0
        for byte in trimmed {
            guard let digit = PercentEncoding.hexValue(byte) else { throw HTTPParseError(status: 400, "invalid chunk size") }
            size = size << 4 | Int(digit)
        }
        return size
    }
}

/// Incremental HTTP/1.1 request parser: feed bytes as they arrive, take complete requests.
///
/// It exists apart from the server so every framing rule (split input, pipelining, chunked
/// bodies, limits, garbage) is tested as a pure value without sockets. Once it reports an error
/// it stays failed: the server answers and closes, since the byte stream can no longer be trusted.
public struct HTTPRequestParser {
    private enum State {
        case head
        case body(HTTPRequest, BodyDecoder)
        case failed(HTTPParseError)
    }

    public let limits: HTTPLimits
    /// Decides from a head, before its body is read, whether to accept the request:
    /// `declaredBodyBytes` is the Content-Length (0 without a body), nil for a chunked body.
    /// A returned error fails the parser like a syntax error.
    var admission: ((_ request: HTTPRequest, _ declaredBodyBytes: Int?) -> HTTPParseError?)?
    private var queue = ByteQueue()
    private var scanner = HeadScanner()
    private var state = State.head
    private var continueOwed = false

    public init(limits: HTTPLimits = HTTPLimits()) {
        self.limits = limits
    }

    /// Bytes received but not yet part of a returned request.
    public var bufferedBytes: Int { queue.count }

    /// Removes and returns the bytes received after the last returned request (what a client
    /// sent on a connection that is being hijacked).
    mutating func takeBufferedBytes() -> [UInt8] {
        let bytes = Array(queue.slice(0, queue.count))
        queue.consume(queue.count)
        return bytes
    }

    /// Body bytes of the request in progress held so far (a chunked body grows with its chunks).
    var partialBodyBytes: Int {
        if case let .body(_, decoder) = state { return decoder.body.count }
        return 0
    }

    /// True while a request has started arriving but is not complete (for the slow-request timer).
    public var hasPartialRequest: Bool {
        switch state {
        case .head: !queue.isEmpty
        case .body: true
        case .failed: false
        }
    }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        queue.append(bytes)
    }

    public mutating func append(_ bytes: [UInt8]) {
        queue.append(bytes)
    }

    /// True once per request whose head asked for `Expect: 100-continue` and whose body has not
    /// arrived yet: the server should send `100 Continue`.
    public mutating func takeContinueRequest() -> Bool {
        defer { continueOwed = false }
        return continueOwed
    }

    /// The next complete request, nil if more bytes are needed, or the error that ends the
    /// connection (repeated on later calls).
    public mutating func next() throws(HTTPParseError) -> HTTPRequest? {
        do {
            return try advance()
        } catch {
            state = .failed(error)
            throw error
        }
    }

    private mutating func advance() throws(HTTPParseError) -> HTTPRequest? {
        switch state {
        case let .failed(error):
            throw error
        case .head:
            guard let (request, decoder) = try parseHead() else { return nil }
            state = .body(request, decoder)
            return try advance()
        case .body(var request, var decoder):
            _ = try decoder.decode(&queue)
            guard decoder.isDone else {
                state = .body(request, decoder)
                return nil
            }
            request.body = decoder.body
            state = .head
            continueOwed = false
            return request
        }
    }

    private mutating func parseHead() throws(HTTPParseError) -> (HTTPRequest, BodyDecoder)? {
        skipLeadingEmptyLines()
        guard let length = scanner.headLength(in: queue) else {
            if queue.count > limits.maxHeadBytes { throw headTooLarge() }
            return nil
        }
        guard length <= limits.maxHeadBytes else { throw headTooLarge() }
        let head = queue.slice(0, length)
        queue.consume(length)
        scanner.reset()
        let request = try Self.request(fromHead: head)
        let framing = try BodyFraming.forRequest(request.headers, limits: limits)
        if let admission {
            let declared: Int? = switch framing {
            case .none: 0
            case let .length(length): length
            case .chunked, .untilClose: nil
            }
            if let refusal = admission(request, declared) { throw refusal }
        }
        if framing != .none, request.headers["Expect"]?.lowercased() == "100-continue" { continueOwed = true }
        return (request, BodyDecoder(framing, maxBodyBytes: limits.maxBodyBytes, maxLineBytes: limits.maxHeadBytes))
    }

    private func headTooLarge() -> HTTPParseError {
        HTTPParseError(status: 431, "request line and headers exceed \(limits.maxHeadBytes) bytes")
    }

    /// RFC 9112 §2.2: ignore empty lines before the request line (some clients send CRLF after a body).
    private mutating func skipLeadingEmptyLines() {
        while !queue.isEmpty && (queue[0] == UInt8(ascii: "\r") || queue[0] == UInt8(ascii: "\n")) {
            if queue[0] == UInt8(ascii: "\r") && queue.count < 2 { return }
            queue.consume(1)
            scanner.reset()
        }
    }

    static func request(fromHead head: ArraySlice<UInt8>) throws(HTTPParseError) -> HTTPRequest {
        let lines = HeadSyntax.lines(head)
        guard let requestLine = lines.first else { throw HTTPParseError(status: 400, "empty request") }
        let parts = requestLine.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(HeadSyntax.isTokenByte),
              let first = parts[1].first, first == UInt8(ascii: "/") || first == UInt8(ascii: "*") || parts[1].contains(UInt8(ascii: ":")),
              !parts[1].contains(where: { $0 <= 0x20 || $0 == 0x7f }) else {
            throw HTTPParseError(status: 400, "malformed request line")
        }
        let minor = try HeadSyntax.minorVersion(Substring(String(decoding: parts[2], as: UTF8.self)))
        let headers = try HeadSyntax.fields(lines.dropFirst())
        return HTTPRequest(method: String(decoding: parts[0], as: UTF8.self), target: String(decoding: parts[1], as: UTF8.self),
                           minorVersion: minor, headers: headers)
    }
}

extension Array {
    /// The element of a one-element array, else nil.
    var onlyElement: Element? { count == 1 ? first : nil }
}
