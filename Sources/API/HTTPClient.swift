import Crypto
import Glibc
import Platform

/// Why a request to a node failed before an HTTP response arrived. The text says what happened
/// and what to do, for the CLI's `swarmctl: WHAT: WHAT TO DO` errors.
public struct HTTPClientError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        case cannotConnect
        case timedOut
        case connectionClosed
        case malformedResponse
        case ioFailed
        /// The TLS handshake failed or the server refused our certificate.
        case tlsFailed
    }

    public let kind: Kind
    public let description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}

/// Status line and headers of a response whose body is streamed (`HTTPClient.stream`).
public struct HTTPResponseHead: Sendable, Equatable {
    public var status: Int
    public var headers: HTTPHeaders
}

/// How a client talks TLS to a `tcp:` API: the context (trusted CA, client certificate) and the
/// name or IP the server's certificate must carry (as the docker CLI checks; nil: not checked).
public struct HTTPClientTLS: Sendable {
    public var context: TLSContext
    public var serverName: String?

    public init(context: TLSContext, serverName: String?) {
        self.context = context
        self.serverName = serverName
    }
}

/// A blocking HTTP/1.1 client for the CLI: one connection, reused while the server keeps it
/// alive, with a deadline on every request; optionally over TLS.
///
/// It exists because the CLI is a short sequential program: blocking calls with timeouts are the
/// simplest correct shape there, and the event loop stays a node-only concern. Not thread-safe;
/// use one client per thread.
public final class HTTPClient {
    public let address: SocketAddress
    /// Deadline for connecting, and for each wait for response bytes.
    public var timeoutMillis: Int
    public var userAgent = "swarmctl"
    public let tls: HTTPClientTLS?
    private var socket: Socket?
    private var session: TLSSession?
    private var pending = ByteQueue()

    public init(address: SocketAddress, timeoutMillis: Int = 30_000, tls: HTTPClientTLS? = nil) {
        self.address = address
        self.timeoutMillis = timeoutMillis
        self.tls = tls
    }

    deinit { close() }

    /// Closes the kept-alive connection, if any.
    public func close() {
        socket?.close()
        socket = nil
        session = nil
        pending = ByteQueue()
    }

    /// Sends one request and reads the whole response (Content-Length, chunked or until close).
    public func send(_ method: String, _ path: String, query: QueryParameters = QueryParameters(), body: [UInt8]? = nil,
                     headers: HTTPHeaders = HTTPHeaders()) throws(HTTPClientError) -> HTTPResponse {
        var collected: [UInt8] = []
        let head = try stream(method, path, query: query, body: body, headers: headers) { piece in
            collected += piece
            return true
        }
        return HTTPResponse(status: head.status, headers: head.headers, body: collected)
    }

    /// Sends one request and hands the body to `onBody` as it arrives (for followed logs);
    /// `onBody` returns false to stop early, which closes the connection.
    @discardableResult
    public func stream(_ method: String, _ path: String, query: QueryParameters = QueryParameters(), body: [UInt8]? = nil,
                       headers: HTTPHeaders = HTTPHeaders(), onBody: ([UInt8]) -> Bool) throws(HTTPClientError) -> HTTPResponseHead {
        let request = encodeRequest(method, path, query: query, body: body, headers: headers)
        let reused = socket != nil
        do {
            return try exchange(request, isHead: method == "HEAD", onBody: onBody)
        } catch where reused && error.kind == .connectionClosed && error.description.hasSuffix(Self.beforeAnswering) {
            // The server closed the idle kept-alive connection before reading our request: retry once.
            close()
            return try exchange(request, isHead: method == "HEAD", onBody: onBody)
        }
    }

    private static let beforeAnswering = "closed the connection before answering"

    private func encodeRequest(_ method: String, _ path: String, query: QueryParameters, body: [UInt8]?, headers: HTTPHeaders) -> [UInt8] {
        let target = PercentEncoding.encodePath(path) + (query.items.isEmpty ? "" : "?" + query.encoded)
        var text = "\(method) \(target) HTTP/1.1\r\n"
        if !headers.contains("Host") { text += "Host: \(hostHeader)\r\n" }
        if !headers.contains("User-Agent") { text += "User-Agent: \(userAgent)\r\n" }
        for (name, value) in headers where name.lowercased() != "content-length" { text += "\(name): \(value)\r\n" }
        if let body {
            if !headers.contains("Content-Type") { text += "Content-Type: application/json\r\n" }
            text += "Content-Length: \(body.count)\r\n"
        } else if method == "POST" || method == "PUT" {
            text += "Content-Length: 0\r\n"
        }
        return Array((text + "\r\n").utf8) + (body ?? [])
    }

    private var hostHeader: String {
        switch address {
        case .unix: "localhost"
        case .tcp: String(address.description.dropFirst("tcp://".count))
        }
    }

    /// The address as the user writes it (`unix:/path`, `tcp:1.2.3.4:5`), for messages.
    public var displayAddress: String {
        switch address {
        case let .unix(path): "unix:\(path)"
        case .tcp: "tcp:" + address.description.dropFirst("tcp://".count)
        }
    }

    // MARK: One exchange

    private func exchange(_ request: [UInt8], isHead: Bool, onBody: ([UInt8]) -> Bool) throws(HTTPClientError) -> HTTPResponseHead {
        let socket = try connectedSocket()
        do {
            try writeAll(request, to: socket)
            return try readResponse(from: socket, isHead: isHead, onBody: onBody)
        } catch {
            close()
            throw error
        }
    }

    private func connectedSocket() throws(HTTPClientError) -> Socket {
        if let socket { return socket }
        let started: (socket: Socket, connected: Bool)
        do {
            started = try Socket.connect(to: address)
        } catch let error as SystemError {
            throw cannotConnect(error.errno)
        } catch {
            throw HTTPClientError(.cannotConnect, "cannot connect to swarmctl at \(displayAddress): \(error)")
        }
        if !started.connected {
            guard try waitFor(Int16(POLLOUT), on: started.socket, what: "connect") else {
                throw HTTPClientError(.timedOut, "cannot connect to swarmctl at \(displayAddress): no answer within \(timeoutMillis) ms: is the node running? pass -H or set SWARMCTL_HOST")
            }
            let code = started.socket.pendingError()
            if code != 0 { throw cannotConnect(code) }
        }
        socket = started.socket
        pending = ByteQueue()
        if let tls {
            do {
                try handshake(tls, on: started.socket)
            } catch {
                close()
                throw error
            }
        }
        return started.socket
    }

    // MARK: TLS

    /// Runs the client handshake to completion (a server that refuses our certificate says so
    /// only on the first read after it: TLS 1.3's late rejection surfaces in `readMore`).
    private func handshake(_ tls: HTTPClientTLS, on socket: Socket) throws(HTTPClientError) {
        let started: TLSSession
        do {
            started = try TLSSession(context: tls.context, serverName: tls.serverName)
            try started.start()
        } catch {
            throw tlsFailure("\(error)")
        }
        session = started
        try writeRaw(started.takeOutgoing(), to: socket)
        while !started.isHandshakeComplete {
            if try readMore(from: socket) {
                throw tlsFailure("the server closed the connection during the TLS handshake")
            }
        }
    }

    private func tlsFailure(_ reason: String) -> HTTPClientError {
        HTTPClientError(.tlsFailed, "TLS with swarmctl at \(displayAddress) failed: \(reason): check the CA and client certificate "
                        + "(--tlscacert, --tlscert, --tlskey or DOCKER_CERT_PATH), and that the node serves TLS")
    }

    private func cannotConnect(_ code: Int32) -> HTTPClientError {
        var reason = String(cString: strerror(code))
        if let first = reason.first { reason = first.lowercased() + reason.dropFirst() }
        return HTTPClientError(.cannotConnect, "cannot connect to swarmctl at \(displayAddress): \(reason): is the node running? pass -H or set SWARMCTL_HOST")
    }

    /// Polls for `events`; false on timeout.
    private func waitFor(_ events: Int16, on socket: Socket, what: String) throws(HTTPClientError) -> Bool {
        var descriptor = pollfd(fd: socket.descriptor, events: events, revents: 0)
        let deadline = monotonicNanoseconds() + UInt64(timeoutMillis) * 1_000_000
        while true {
            let now = monotonicNanoseconds()
            guard now < deadline else { return false }
            let result = poll(&descriptor, 1, Int32(min((deadline - now) / 1_000_000 + 1, UInt64(Int32.max))))
            if result > 0 { return true }
            if result == 0 { return false }
            if errno != EINTR { throw HTTPClientError(.ioFailed, "poll on \(displayAddress) failed: \(SystemError("poll", errno: errno))") }
        }
    }

    private func writeAll(_ bytes: [UInt8], to socket: Socket) throws(HTTPClientError) {
        guard let session else { return try writeRaw(bytes, to: socket) }
        do {
            try session.send(bytes)
        } catch {
            throw tlsFailure("\(error)")
        }
        try writeRaw(session.takeOutgoing(), to: socket)
    }

    private func writeRaw(_ bytes: [UInt8], to socket: Socket) throws(HTTPClientError) {
        var offset = 0
        while offset < bytes.count {
            let result: IOResult
            do {
                result = try bytes.withUnsafeBytes { try socket.write(from: UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            } catch {
                throw HTTPClientError(.connectionClosed, "swarmctl at \(displayAddress) \(Self.beforeAnswering)")
            }
            switch result {
            case let .transferred(count): offset += count
            case .wouldBlock, .endOfFile:
                guard try waitFor(Int16(POLLOUT), on: socket, what: "write") else { throw timedOut() }
            }
        }
    }

    private func timedOut() -> HTTPClientError {
        HTTPClientError(.timedOut, "swarmctl at \(displayAddress) did not answer within \(timeoutMillis) ms: the node may be overloaded or without quorum; retry")
    }

    private func readResponse(from socket: Socket, isHead: Bool, onBody: ([UInt8]) -> Bool) throws(HTTPClientError) -> HTTPResponseHead {
        var parser = HTTPResponseParser(isHeadRequest: isHead)
        var head: HTTPResponseHead?
        var receivedAny = false
        while true {
            do {
                while let event = try parser.next(&pending) {
                    switch event {
                    case let .head(status, headers): head = HTTPResponseHead(status: status, headers: headers)
                    case let .body(bytes):
                        if !onBody(bytes) {
                            close()
                            return head!
                        }
                    case let .end(keepAlive):
                        if !keepAlive { close() }
                        return head!
                    }
                }
            } catch {
                throw HTTPClientError(.malformedResponse, "swarmctl at \(displayAddress) sent a malformed response: \(error.message)")
            }
            let endOfFile = try readMore(from: socket)
            if endOfFile {
                if let head, parser.finishAtEndOfFile() { close(); return head }
                let when = receivedAny ? "in the middle of a response" : Self.beforeAnswering
                throw HTTPClientError(.connectionClosed, "swarmctl at \(displayAddress) \(when)")
            }
            receivedAny = true
        }
    }

    /// Reads what is available into `pending`; true at end of file.
    private func readMore(from socket: Socket) throws(HTTPClientError) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let result: IOResult
            do {
                result = try buffer.withUnsafeMutableBytes { try socket.read(into: $0) }
            } catch let error as SystemError where error.errno == ECONNRESET {
                return true
            } catch {
                throw HTTPClientError(.ioFailed, "reading from swarmctl at \(displayAddress) failed: \(error)")
            }
            switch result {
            case .endOfFile: return true
            case let .transferred(count):
                guard let session else {
                    buffer.withUnsafeBytes { pending.append(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
                    return false
                }
                let plaintext: [UInt8]
                do {
                    plaintext = try session.receive(Array(buffer[..<count]))
                } catch TLSError.closedByPeer {
                    return true
                } catch {
                    throw tlsFailure("\(error)")
                }
                try writeRaw(session.takeOutgoing(), to: socket)
                pending.append(plaintext)
                return session.isClosedByPeer && plaintext.isEmpty
            case .wouldBlock:
                guard try waitFor(Int16(POLLIN), on: socket, what: "read") else { throw timedOut() }
            }
        }
    }
}

/// Incremental parser of responses for the client: skips 1xx, then yields the head, body pieces
/// and the end, with the framing rules of RFC 9112 §6.3.
struct HTTPResponseParser {
    enum Event: Equatable {
        case head(status: Int, headers: HTTPHeaders)
        case body([UInt8])
        case end(keepAlive: Bool)
    }

    private enum State {
        case head
        case body(BodyDecoder)
        /// The body is complete; `.end` has not been reported yet.
        case bodyComplete
        case finished
    }

    let isHeadRequest: Bool
    var maxHeadBytes = 1 << 20
    private var scanner = HeadScanner()
    private var state = State.head
    private var keepAlive = true

    init(isHeadRequest: Bool) {
        self.isHeadRequest = isHeadRequest
    }

    /// The next event, or nil when more bytes are needed.
    mutating func next(_ queue: inout ByteQueue) throws(HTTPParseError) -> Event? {
        switch state {
        case .finished:
            return nil
        case .head:
            guard let length = scanner.headLength(in: queue) else {
                if queue.count > maxHeadBytes { throw HTTPParseError(status: 431, "response head exceeds \(maxHeadBytes) bytes") }
                return nil
            }
            let head = queue.slice(0, length)
            queue.consume(length)
            scanner.reset()
            let (status, minor, headers) = try Self.parseHead(head)
            if (100..<200).contains(status) { return try next(&queue) }
            keepAlive = minor >= 1 && !(headers["Connection"]?.lowercased().contains("close") ?? false)
            let framing = try framing(status: status, headers: headers)
            if framing == .untilClose { keepAlive = false }
            state = .body(BodyDecoder(framing, maxBodyBytes: Int.max, maxLineBytes: 64 * 1024, accumulate: false))
            return .head(status: status, headers: headers)
        case var .body(decoder):
            let fresh = try decoder.decode(&queue)
            state = decoder.isDone ? .bodyComplete : .body(decoder)
            if !fresh.isEmpty { return .body(fresh) }
            return decoder.isDone ? try next(&queue) : nil
        case .bodyComplete:
            state = .finished
            return .end(keepAlive: keepAlive)
        }
    }

    /// At end of file: true if that legitimately ends the body.
    mutating func finishAtEndOfFile() -> Bool {
        guard case let .body(decoder) = state, decoder.readsUntilClose else { return false }
        state = .finished
        return true
    }

    private func framing(status: Int, headers: HTTPHeaders) throws(HTTPParseError) -> BodyFraming {
        if isHeadRequest || HTTPStatus.forbidsBody(status) { return .none }
        let codings = headers.values("Transfer-Encoding").joined(separator: ",").lowercased()
        if codings.contains("chunked") { return .chunked }
        if let length = try BodyFraming.contentLength(headers) { return length == 0 ? .none : .length(length) }
        return .untilClose
    }

    static func parseHead(_ head: ArraySlice<UInt8>) throws(HTTPParseError) -> (Int, Int, HTTPHeaders) {
        let lines = HeadSyntax.lines(head)
        guard let statusLine = lines.first.map({ String(decoding: $0, as: UTF8.self) }) else {
            throw HTTPParseError(status: 400, "empty response")
        }
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[1].count == 3, let status = Int(parts[1]), status >= 100 else {
            throw HTTPParseError(status: 400, "malformed status line '\(statusLine.prefix(64))'")
        }
        let minor = try HeadSyntax.minorVersion(parts[0])
        return (status, minor, try HeadSyntax.fields(lines.dropFirst()))
    }
}
