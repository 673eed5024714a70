import Crypto
import Glibc
import Platform
import Synchronization

/// Settings of an `HTTPServer`. Every limit is explicit so one client cannot hold memory or a
/// connection slot forever.
public struct HTTPServerConfiguration: Sendable {
    public var limits = HTTPLimits()
    /// A kept-alive connection with no request in progress is closed after this long.
    public var idleTimeoutMillis = 120_000
    /// A request must arrive completely (head and body) within this long of its first byte;
    /// otherwise 408 and close (slowloris protection).
    public var requestTimeoutMillis = 30_000
    /// After an error response the server stops writing and discards input for at most this
    /// long before closing, so the client reads the error instead of a reset.
    public var lingerMillis = 2_000
    /// Open connections at once; more are closed at accept. Each costs a read buffer
    /// (`readChunkBytes`) and at most a head (`limits.maxHeadBytes`) outside the body budget.
    public var maxConnections = 512
    public var readChunkBytes = 16 * 1024
    /// Request body bytes all connections may hold together (on top of `limits.maxBodyBytes` per
    /// request): a body that does not fit is answered 503 without being read.
    public var maxBufferedBodyBytes = 64 << 20
    /// Which request heads are accepted (JSON bodies only, no browser requests).
    public var admission = HTTPAdmissionPolicy()
    /// Serve TLS (TCP listeners): a server context that requires client certificates.
    public var tls: TLSContext?
    /// With `tls`: the OUs a client certificate must carry (nil: any certificate of the CA, as
    /// dockerd --tlsverify). A refused certificate gets 403 to every request.
    public var allowedClientUnits: Set<String>?
    /// With `tls`: a further check of the client's certificate (e.g. a removed node's deny
    /// list), on the loop thread; a returned reason is answered as 403 to every request.
    public var authorizeClient: (@Sendable (Certificate) -> String?)?
    /// Mode and group of a unix socket listener (ignored for TCP): owner and group read-write,
    /// nothing for others, whatever the umask.
    public var unixPermissions = Socket.UnixPermissions(mode: 0o660)
    /// Called on the loop thread with one line per notable event (accept failures, bad requests).
    public var log: @Sendable (String) -> Void = { _ in }

    public init() {}
}

/// Answers one request, now or later, on the loop thread.
///
/// It exists so a handler can return at once and answer when Raft has committed (or the leader
/// has replied), without holding the connection object or knowing about framing and keep-alive.
public final class HTTPResponder {
    private weak var connection: HTTPServerConnection?
    private let sequence: UInt64
    /// The request's method (`HEAD` responses carry no body).
    public let method: String
    public private(set) var hasResponded = false

    init(connection: HTTPServerConnection, sequence: UInt64, method: String) {
        self.connection = connection
        self.sequence = sequence
        self.method = method
    }

    /// False once the client has gone away (the answer would be dropped).
    public var isConnectionOpen: Bool { connection?.isOpen(for: sequence) ?? false }

    /// The loop the connection runs on (nil once it is gone).
    public var loop: EventLoop? { connection?.loop }

    /// Sends `response`. Only the first call counts; later ones return false.
    @discardableResult
    public func respond(_ response: HTTPResponse) -> Bool {
        guard !hasResponded else { return false }
        hasResponded = true
        guard let connection, connection.isOpen(for: sequence) else { return false }
        connection.send(response, sequence: sequence)
        return true
    }

    /// Starts a streamed (chunked) response, for logs; nil if the client has gone away or a
    /// response was already sent.
    public func startStream(status: Int = 200, headers: HTTPHeaders = HTTPHeaders()) -> HTTPResponseStream? {
        guard !hasResponded else { return nil }
        hasResponded = true
        guard let connection, connection.isOpen(for: sequence) else { return nil }
        return connection.startStream(status: status, headers: headers, sequence: sequence)
    }

    /// Takes the connection over after sending the head `HTTP/1.1 STATUS REASON` with `headers`
    /// (and nothing else: no length, no chunking): from then on raw bytes flow both ways
    /// (`docker exec`'s `Upgrade: tcp`). nil if the client has gone away or a response was sent.
    public func hijack(status: Int, reason: String, headers: HTTPHeaders) -> HTTPHijackedConnection? {
        guard !hasResponded else { return nil }
        hasResponded = true
        guard let connection, connection.isOpen(for: sequence) else { return nil }
        var text = "HTTP/1.1 \(status) \(reason)\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        return connection.hijack(head: Array((text + "\r\n").utf8), sequence: sequence)
    }
}

/// A response body sent piece by piece (chunked for HTTP/1.1, until-close for HTTP/1.0).
///
/// It exists for `service logs --follow`: the body has no known length and may never end, so the
/// producer writes as data appears, watches `pendingWriteBytes` to avoid buffering without bound,
/// and learns through `onClose` that the client left. Loop-confined.
public final class HTTPResponseStream {
    private weak var connection: HTTPServerConnection?
    private let sequence: UInt64
    private let chunked: Bool
    private let bodyAllowed: Bool
    public private(set) var isFinished = false
    /// The client went away (or the server stopped) before `finish()`; called at most once.
    public var onClose: () -> Void = {}
    /// Everything written so far has been handed to the kernel.
    public var onDrained: () -> Void = {}

    init(connection: HTTPServerConnection, sequence: UInt64, chunked: Bool, bodyAllowed: Bool) {
        self.connection = connection
        self.sequence = sequence
        self.chunked = chunked
        self.bodyAllowed = bodyAllowed
    }

    public var isOpen: Bool { !isFinished && (connection?.isOpen(for: sequence) ?? false) }

    /// Bytes accepted but not yet written to the socket.
    public var pendingWriteBytes: Int { connection?.pendingWriteBytes ?? 0 }

    /// Sends `bytes` as one chunk (an empty write sends nothing).
    public func write(_ bytes: [UInt8]) {
        guard isOpen, bodyAllowed, !bytes.isEmpty, let connection else { return }
        if chunked {
            connection.write(Array((String(bytes.count, radix: 16) + "\r\n").utf8) + bytes + [13, 10])
        } else {
            connection.write(bytes)
        }
    }

    /// Ends the body; the connection is then reused or closed as the request asked.
    public func finish() {
        guard isOpen, let connection else { return }
        isFinished = true
        if chunked && bodyAllowed { connection.write(Array("0\r\n\r\n".utf8)) }
        connection.finishStream(sequence: sequence, forceClose: !chunked)
    }

    func connectionClosed() {
        guard !isFinished else { return }
        isFinished = true
        let callback = onClose
        onClose = {}
        onDrained = {}
        callback()
    }
}

/// An HTTP/1.1 server on an `EventLoop`: keep-alive, pipelining, limits, timeouts, asynchronous
/// and streamed responses.
///
/// It exists so the node serves the Docker API (and later logs) from its single loop thread
/// without a thread per client, and so malformed or hostile clients get a 400/408/413/431 and a
/// close instead of a crash or a hang. Create, use and stop it on the loop thread; `address` is
/// immutable and may be read anywhere, hence `@unchecked Sendable`.
public final class HTTPServer: @unchecked Sendable {
    /// Receives each complete request; answer through the responder, now or later.
    public typealias Handler = (HTTPRequest, HTTPResponder) -> Void

    /// The bound address (with the real port when listening on port 0).
    public let address: SocketAddress
    public let loop: EventLoop
    let configuration: HTTPServerConfiguration
    let handler: Handler
    let bodyBudget: HTTPBodyBudget
    /// The TLS context new connections get (replaced by `replaceTLS` after a certificate renewal).
    private var tls: TLSContext?
    private var listener: Socket?
    private var connections: [ObjectIdentifier: HTTPServerConnection] = [:]
    private var sweepTimer: TimerHandle?

    /// Listens on `address` (a stale unix socket file is replaced). Call on the loop thread.
    public init(loop: EventLoop, address: SocketAddress, configuration: HTTPServerConfiguration = HTTPServerConfiguration(),
                handler: @escaping Handler) throws {
        precondition(loop.inEventLoop, "HTTPServer must be created on its loop thread")
        let socket = try Socket.listen(on: address, unixPermissions: configuration.unixPermissions)
        self.loop = loop
        self.address = socket.address
        self.configuration = configuration
        self.handler = handler
        bodyBudget = HTTPBodyBudget(limit: configuration.maxBufferedBodyBytes)
        tls = configuration.tls
        listener = socket
        try loop.register(fd: socket.descriptor, readable: true, writable: false) { [weak self] _ in self?.acceptPending() }
        let period = max(5, min(1_000, min(configuration.idleTimeoutMillis, configuration.requestTimeoutMillis, configuration.lingerMillis) / 4))
        sweepTimer = loop.scheduleRepeating(everyMillis: period) { [weak self] in self?.sweep() }
        if let tls = configuration.tls {
            precondition(tls.role == .server, "HTTPServer needs a server TLS context")
            if case .unix = address { configuration.log("http: TLS on the unix socket \(address)") }
        }
    }

    /// Open client connections.
    public var connectionCount: Int {
        precondition(loop.inEventLoop, "HTTPServer.connectionCount off the loop thread")
        return connections.count
    }

    /// Serves new connections with `context` (a renewed certificate); open ones keep theirs.
    /// Only for a server started with TLS.
    public func replaceTLS(_ context: TLSContext) {
        precondition(loop.inEventLoop, "HTTPServer.replaceTLS off the loop thread")
        precondition(tls != nil && context.role == .server, "replaceTLS on a server without TLS, or with a client context")
        tls = context
    }

    /// Request body bytes reserved by all connections now (see `maxBufferedBodyBytes`).
    public var bufferedBodyBytes: Int {
        precondition(loop.inEventLoop, "HTTPServer.bufferedBodyBytes off the loop thread")
        return bodyBudget.used
    }

    /// Closes the listener and every connection (unanswered requests are dropped). Idempotent.
    public func stop() {
        precondition(loop.inEventLoop, "HTTPServer.stop off the loop thread")
        if let listener {
            loop.unregister(fd: listener.descriptor)
            listener.close()
            if case let .unix(path) = address { unlink(path) }
        }
        listener = nil
        if let sweepTimer { loop.cancel(sweepTimer) }
        sweepTimer = nil
        for connection in Array(connections.values) { connection.close(reason: "server stopped") }
        connections.removeAll()
    }

    private func acceptPending() {
        guard let listener else { return }
        for _ in 0..<64 {
            let accepted: Socket?
            do {
                accepted = try listener.accept()
            } catch {
                configuration.log("http: accept on \(address) failed: \(error)")
                return pauseAccepting()
            }
            guard let socket = accepted else { return }
            adopt(socket)
        }
    }

    /// Out of descriptors: stop polling the listener for a moment instead of spinning.
    private func pauseAccepting() {
        guard let listener else { return }
        try? loop.modify(fd: listener.descriptor, readable: false, writable: false)
        loop.schedule(afterMillis: 100) { [weak self] in
            guard let self, let listener = self.listener else { return }
            try? self.loop.modify(fd: listener.descriptor, readable: true, writable: false)
        }
    }

    private func adopt(_ socket: Socket) {
        guard connections.count < configuration.maxConnections else {
            configuration.log("http: refusing a connection on \(address): \(connections.count) open (the limit)")
            return socket.close()
        }
        do {
            let buffered = try BufferedConnection(socket: socket, loop: loop, connecting: false,
                                                  readChunkSize: configuration.readChunkBytes)
            let stream: any HTTPByteStream = try tls.map {
                try TLSServerStream(connection: buffered, context: $0, allowedUnits: configuration.allowedClientUnits,
                                    authorize: configuration.authorizeClient)
            } ?? buffered
            let connection = HTTPServerConnection(server: self, connection: stream)
            connections[ObjectIdentifier(connection)] = connection
        } catch {
            configuration.log("http: cannot register a connection on \(address): \(error)")
        }
    }

    func forget(_ connection: HTTPServerConnection) {
        connections[ObjectIdentifier(connection)] = nil
    }

    private func sweep() {
        let now = monotonicNanoseconds()
        for connection in Array(connections.values) { connection.checkDeadline(now: now) }
    }
}

/// One client connection of an `HTTPServer`: parses requests, hands them out one at a time, and
/// writes responses in order.
final class HTTPServerConnection {
    private enum Phase {
        /// Waiting for (the rest of) a request.
        case reading
        /// A handler owns request `sequence`; later pipelined bytes wait in the parser.
        case handling
        case streaming(HTTPResponseStream)
        /// Taken over by a handler (raw bytes both ways) until either side closes.
        case hijacked(HTTPHijackedConnection)
        /// Error answered: write side shut, input discarded until the peer closes or time runs out.
        case lingering
        case closed
    }

    private unowned let server: HTTPServer
    private let connection: any HTTPByteStream
    private var parser: HTTPRequestParser
    private var phase = Phase.reading
    private var sequence: UInt64 = 0
    private var keepAlive = true
    private var closeWhenDrained = false
    private var deadline: UInt64 = 0
    private var requestStarted = false
    private var lingerDiscarded = 0
    private var parsing = false
    private var needsParse = false
    /// HEAD responses carry headers only.
    private var currentIsHead = false
    private var currentMinorVersion = 1
    /// Bytes this connection holds in the server's body budget (bodies, excess pipelined input).
    private var reservedBytes = 0

    init(server: HTTPServer, connection: any HTTPByteStream) {
        self.server = server
        self.connection = connection
        parser = HTTPRequestParser(limits: server.configuration.limits)
        parser.admission = { [unowned self] request, declared in self.admit(request, declaredBodyBytes: declared) }
        connection.onData = { [unowned self] bytes in self.received(bytes) }
        connection.onDrained = { [unowned self] in self.drained() }
        connection.onClose = { [unowned self] reason in self.closed(reason) }
        armIdleDeadline()
        if !connection.isEstablished {
            // A TLS handshake gets the request timeout, not the idle one.
            deadline = monotonicNanoseconds() + UInt64(min(server.configuration.requestTimeoutMillis,
                                                           server.configuration.idleTimeoutMillis)) * 1_000_000
        }
    }

    var pendingWriteBytes: Int { connection.pendingWriteBytes }
    var loop: EventLoop { server.loop }

    func isOpen(for sequence: UInt64) -> Bool {
        guard sequence == self.sequence else { return false }
        switch phase {
        case .handling, .streaming: return true
        default: return false
        }
    }

    func close(reason: String) {
        connection.close(reason: reason)
    }

    // MARK: Input

    private func received(_ bytes: UnsafeRawBufferPointer) {
        switch phase {
        case .lingering:
            lingerDiscarded += bytes.count
            if lingerDiscarded > 1 << 20 { connection.close(reason: "discarded 1 MiB after an error") }
        case .closed:
            return
        case let .hijacked(hijacked):
            hijacked.received(bytes)
        case .handling, .streaming:
            parser.append(bytes)
            let cap = server.configuration.limits.maxHeadBytes + server.configuration.limits.maxBodyBytes
            if parser.bufferedBytes > cap { return connection.close(reason: "client pipelined more than \(cap) bytes") }
            // Input sent ahead of the answer beyond one head counts against the shared budget.
            let excess = parser.bufferedBytes - server.configuration.limits.maxHeadBytes
            if excess > 0 && !reserve(upTo: reservedBytes + excess) {
                connection.close(reason: "client pipelined \(parser.bufferedBytes) bytes while the body budget is exhausted")
            }
        case .reading:
            parser.append(bytes)
            parseNext()
        }
    }

    /// Parses and dispatches pipelined requests iteratively: a handler that answers at once
    /// re-enters here through `finishResponse`, which only sets `needsParse`, so a long
    /// pipeline cannot grow the stack.
    private func parseNext() {
        if parsing {
            needsParse = true
            return
        }
        parsing = true
        defer { parsing = false }
        repeat {
            needsParse = false
            guard case .reading = phase else { return }
            parseOnce()
        } while needsParse
    }

    /// Takes the next complete request from the parser, if any, and hands it to the handler.
    private func parseOnce() {
        let request: HTTPRequest?
        do {
            request = try parser.next()
        } catch {
            return fail(error)
        }
        guard let request else {
            // A chunked body is charged as it grows.
            if parser.partialBodyBytes > reservedBytes && !reserve(upTo: parser.partialBodyBytes) { return fail(overBudget()) }
            if parser.takeContinueRequest() { write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) }
            return noteProgress()
        }
        if request.body.count > reservedBytes && !reserve(upTo: request.body.count) { return fail(overBudget()) }
        dispatch(request)
    }

    private func noteProgress() {
        if parser.hasPartialRequest && !requestStarted {
            requestStarted = true
            deadline = monotonicNanoseconds() + UInt64(server.configuration.requestTimeoutMillis) * 1_000_000
        }
    }

    private func dispatch(_ request: HTTPRequest) {
        var request = request
        request.client = connection.clientIdentity
        sequence += 1
        phase = .handling
        requestStarted = false
        keepAlive = request.keepAlive
        currentIsHead = request.method == "HEAD"
        currentMinorVersion = request.minorVersion
        let responder = HTTPResponder(connection: self, sequence: sequence, method: request.method)
        server.handler(request, responder)
    }

    // MARK: Admission and the body budget

    /// The parser's admission hook: the head policy, then room in the budget for a declared body.
    private func admit(_ request: HTTPRequest, declaredBodyBytes: Int?) -> HTTPParseError? {
        if let refusal = connection.refusal { return HTTPParseError(status: 403, refusal) }
        if let refusal = server.configuration.admission.check(request, hasBody: declaredBodyBytes != 0) { return refusal }
        if let declared = declaredBodyBytes, declared > 0, !reserve(upTo: reservedBytes + declared) { return overBudget() }
        return nil
    }

    /// Grows this connection's reservation to `total` bytes; false if the budget has no room.
    private func reserve(upTo total: Int) -> Bool {
        guard total > reservedBytes else { return true }
        guard server.bodyBudget.reserve(total - reservedBytes) else { return false }
        reservedBytes = total
        return true
    }

    /// Gives back everything this connection reserved (its request was answered, or it ended).
    private func releaseReservation() {
        guard reservedBytes > 0 else { return }
        server.bodyBudget.release(reservedBytes)
        reservedBytes = 0
    }

    private func overBudget() -> HTTPParseError {
        HTTPParseError(status: 503, "the node already holds \(server.bodyBudget.used >> 20) MiB of request bodies from other "
                       + "clients (its limit is \(server.bodyBudget.limit >> 20) MiB): retry the request later")
    }

    private func fail(_ error: HTTPParseError) {
        releaseReservation()
        parser = HTTPRequestParser(limits: server.configuration.limits)   // drops a partial body now
        server.configuration.log("http: bad request from \(connection.peerDescription): \(error.message)")
        beginErrorResponse()
        send(.error(error.status, error.message), sequence: sequence, linger: true)
    }

    /// Takes over the connection for an error answer that ends it.
    private func beginErrorResponse() {
        sequence += 1
        phase = .handling
        keepAlive = false
        currentIsHead = false
    }

    // MARK: Output

    func write(_ bytes: [UInt8]) {
        connection.write(bytes)
    }

    func send(_ response: HTTPResponse, sequence: UInt64, linger: Bool = false) {
        guard isOpen(for: sequence) else { return }
        let bodyAllowed = !HTTPStatus.forbidsBody(response.status)
        let head = HTTPWire.responseHead(status: response.status, headers: response.headers,
                                         contentLength: bodyAllowed ? response.body.count : nil, chunked: false, close: !keepAlive)
        write(head + (bodyAllowed && !currentIsHead ? response.body : []))
        finishResponse(linger: linger)
    }

    func startStream(status: Int, headers: HTTPHeaders, sequence: UInt64) -> HTTPResponseStream? {
        guard isOpen(for: sequence) else { return nil }
        let chunked = currentMinorVersion >= 1
        if !chunked { keepAlive = false }
        let bodyAllowed = !HTTPStatus.forbidsBody(status) && !currentIsHead
        let stream = HTTPResponseStream(connection: self, sequence: sequence, chunked: chunked, bodyAllowed: bodyAllowed)
        write(HTTPWire.responseHead(status: status, headers: headers, contentLength: nil, chunked: chunked, close: !keepAlive))
        phase = .streaming(stream)
        return stream
    }

    func hijack(head: [UInt8], sequence: UInt64) -> HTTPHijackedConnection? {
        guard isOpen(for: sequence) else { return nil }
        write(head)
        releaseReservation()
        let hijacked = HTTPHijackedConnection(stream: connection, loop: server.loop, leftover: parser.takeBufferedBytes())
        parser = HTTPRequestParser(limits: server.configuration.limits)
        phase = .hijacked(hijacked)
        connection.onEndOfInput = { [unowned self] in
            if case let .hijacked(hijacked) = phase { hijacked.endOfInput() }
        }
        return hijacked
    }

    func finishStream(sequence: UInt64, forceClose: Bool) {
        guard isOpen(for: sequence) else { return }
        if forceClose { keepAlive = false }
        finishResponse(linger: false)
    }


    private func finishResponse(linger: Bool) {
        guard connection.isOpen else { return }
        releaseReservation()
        if linger {
            phase = .lingering
            closeWhenDrained = true
            deadline = monotonicNanoseconds() + UInt64(server.configuration.lingerMillis) * 1_000_000
        } else if !keepAlive {
            phase = .closed
            closeWhenDrained = true
        } else {
            phase = .reading
            armIdleDeadline()
            parseNext()
            return
        }
        if connection.pendingWriteBytes == 0 { drained() }
    }

    private func drained() {
        if case let .streaming(stream) = phase { stream.onDrained() }
        if case let .hijacked(hijacked) = phase { return hijacked.drained() }
        guard closeWhenDrained else { return }
        closeWhenDrained = false
        if case .lingering = phase {
            connection.shutdownWrite()
        } else {
            connection.close(reason: "response sent; the client asked to close")
        }
    }

    private func armIdleDeadline() {
        requestStarted = false
        deadline = monotonicNanoseconds() + UInt64(server.configuration.idleTimeoutMillis) * 1_000_000
        noteProgress()
    }

    // MARK: Timeouts and closing

    func checkDeadline(now: UInt64) {
        guard now >= deadline else { return }
        switch phase {
        case .reading where requestStarted:
            beginErrorResponse()
            send(.error(408, "the request did not arrive within \(server.configuration.requestTimeoutMillis) ms"), sequence: sequence, linger: true)
        case .reading:
            connection.close(reason: "idle for \(server.configuration.idleTimeoutMillis) ms")
        case .lingering:
            connection.close(reason: "linger time after an error response is over")
        case .handling, .streaming, .hijacked, .closed:
            return
        }
    }

    private func closed(_ reason: String) {
        let previous = phase
        phase = .closed
        releaseReservation()
        parser = HTTPRequestParser(limits: server.configuration.limits)
        server.forget(self)
        if case let .streaming(stream) = previous { stream.connectionClosed() }
        if case let .hijacked(hijacked) = previous { hijacked.connectionClosed() }
    }
}

/// Serialisation of response heads, shared by the server and tests.
enum HTTPWire {
    /// Headers that framing owns; a handler's values for them are dropped.
    private static let framingHeaders = ["content-length", "transfer-encoding", "connection"]

    static func responseHead(status: Int, headers: HTTPHeaders, contentLength: Int?, chunked: Bool, close: Bool) -> [UInt8] {
        // Appended as bytes into one buffer: no intermediate strings per line.
        var head: [UInt8] = []
        head.reserveCapacity(256)
        func line(_ parts: String...) {
            for part in parts { head.append(contentsOf: part.utf8) }
            head.append(contentsOf: [0x0d, 0x0a])
        }
        line("HTTP/1.1 ", String(status), " ", HTTPStatus.reason(status))
        for (name, value) in headers where !framingHeaders.contains(where: { name.caseInsensitiveEquals($0) }) {
            line(name, ": ", value)
        }
        if !headers.contains("Date") { line("Date: ", HTTPDate.now()) }
        if let contentLength { line("Content-Length: ", String(contentLength)) }
        if chunked { line("Transfer-Encoding: chunked") }
        if close { line("Connection: close") }
        line()
        return head
    }
}

/// The IMF-fixdate of RFC 9110 (`Sun, 06 Nov 1994 08:49:37 GMT`) for the Date header.
enum HTTPDate {
    /// The last second formatted and its text: every response carries a Date header, and most
    /// share their second with the previous one.
    private static let lastFormatted = Mutex<(seconds: Int, text: String)>((-1, ""))

    static func now() -> String {
        let seconds = time(nil)
        return lastFormatted.withLock { last in
            if last.seconds != seconds { last = (seconds, format(secondsSinceEpoch: seconds)) }
            return last.text
        }
    }

    static func format(secondsSinceEpoch: Int) -> String {
        var seconds = time_t(secondsSinceEpoch)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
