import CPlatform
import Glibc
import Platform

/// The node's DNS server: one UDP and one TCP socket per task namespace (127.0.0.11:53 there), all
/// served by one thread, answering from each task's `DNSView` and forwarding other names to the
/// node's resolvers with a timeout.
///
/// It exists so service discovery never depends on gossip (the views come from the replicated
/// service tables) and task records carry TTL 0. Forwarding is dialled from the node's namespace,
/// so a node resolver on the host's loopback still works.
public final class DNSServer: @unchecked Sendable {
    /// A task namespace's sockets; closed when the last user (the loop or a worker) lets go.
    final class Listener: @unchecked Sendable {
        let udp: Int32
        let tcp: Int32
        var view: DNSView
        init(udp: Int32, tcp: Int32, view: DNSView) {
            self.udp = udp
            self.tcp = tcp
            self.view = view
        }
        deinit {
            _ = close(udp)
            _ = close(tcp)
        }
    }

    public struct Upstream: Equatable, Sendable {
        public var address: IPv4Address
        public var port: UInt16
        public init(address: IPv4Address, port: UInt16 = 53) {
            self.address = address
            self.port = port
        }
    }

    private let lock = ConditionLock()
    private var listeners: [String: Listener] = [:]
    private var upstreams: [Upstream]
    private let timeoutMillis: Int
    private var inFlight = 0
    private var rotation = 0
    private var stopped = false
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private var thread: PlatformThread?
    /// Most forwarded queries and TCP connections handled at once; beyond, SERVFAIL / refused.
    static let maxWorkers = 64

    private var counters = (answered: 0, forwarded: 0, malformed: 0)
    /// Queries answered from a view, forwarded upstream, and refused as malformed (tests, metrics).
    public var answered: Int { lock.withLock { counters.answered } }
    public var forwarded: Int { lock.withLock { counters.forwarded } }
    public var malformed: Int { lock.withLock { counters.malformed } }

    public init(upstreams: [Upstream], timeoutMillis: Int = 2_000) throws {
        self.upstreams = upstreams
        self.timeoutMillis = timeoutMillis
        var fds: [Int32] = [-1, -1]
        guard cplatform_pipe2(&fds, CPLATFORM_O_CLOEXEC) == 0 else { throw SystemError("pipe2", "dns wake") }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        _ = fcntl(wakeRead, F_SETFL, O_NONBLOCK)
        thread = PlatformThread(name: "dns") { [self] in serve() }
    }

    deinit {
        _ = close(wakeRead)
        _ = close(wakeWrite)
    }

    public func setUpstreams(_ upstreams: [Upstream]) { lock.withLock { self.upstreams = upstreams } }

    /// Opens the sockets for `id` at address:port, inside the namespace at `namespacePath` when
    /// given (else in the node's), and serves `view` on them. Returns the bound port (for port 0).
    @discardableResult
    public func listen(id: String, address: IPv4Address = IPv4Address(127, 0, 0, 11), port: UInt16 = 53,
                       namespacePath: String? = nil, view: DNSView) throws -> UInt16 {
        // With port 0 the kernel picks a free UDP port, and the same TCP port may already be taken
        // (e.g. by another connection's ephemeral port): pick again, a bounded number of times.
        let attempts = port == 0 ? 8 : 1
        let open: @Sendable () throws -> (Int32, Int32, UInt16) = {
            var attempt = 1
            while true {
                let (udp, bound) = try IPv4Sockets.bind(Int32(SOCK_DGRAM.rawValue), address, port)
                do {
                    let (tcp, _) = try IPv4Sockets.bind(Int32(SOCK_STREAM.rawValue), address, bound)
                    return (udp, tcp, bound)
                } catch {
                    _ = close(udp)
                    guard attempt < attempts else { throw NetworkingError("DNS on \(address):\(bound): \(error)") }
                    attempt += 1
                }
            }
        }
        let (udp, tcp, bound): (Int32, Int32, UInt16)
        do {
            (udp, tcp, bound) = try namespacePath.map { try inNetworkNamespace($0, open) } ?? open()
        } catch let error as NetworkingError { throw error } catch { throw NetworkingError("DNS on \(address):\(port): \(error)") }
        lock.withLock { listeners[id] = Listener(udp: udp, tcp: tcp, view: view) }
        wake()
        return bound
    }

    public func update(id: String, view: DNSView) {
        lock.withLock { listeners[id]?.view = view }
    }

    public func remove(id: String) {
        lock.withLock { listeners[id] = nil }
        wake()
    }

    public var listenerIDs: Set<String> { lock.withLock { Set(listeners.keys) } }

    public func stop() {
        let running: PlatformThread? = lock.withLock {
            stopped = true
            listeners = [:]
            defer { thread = nil }
            return thread
        }
        wake()
        running?.join()
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    // MARK: serving

    private func serve() {
        var buffer = [UInt8](repeating: 0, count: 65_535)
        while true {
            let snapshot: [Listener]? = lock.withLock { stopped ? nil : Array(listeners.values) }
            guard let current = snapshot else { return }
            var pollers = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            for listener in current {
                pollers.append(pollfd(fd: listener.udp, events: Int16(POLLIN), revents: 0))
                pollers.append(pollfd(fd: listener.tcp, events: Int16(POLLIN), revents: 0))
            }
            let ready = poll(&pollers, nfds_t(pollers.count), 1_000)
            if ready <= 0 { continue }
            if pollers[0].revents != 0 {
                var drained = [UInt8](repeating: 0, count: 64)
                while read(wakeRead, &drained, drained.count) > 0 {}
            }
            for (index, listener) in current.enumerated() {
                if pollers[1 + index * 2].revents != 0 { receiveDatagrams(listener, &buffer) }
                if pollers[2 + index * 2].revents != 0 { acceptConnections(listener) }
            }
        }
    }

    private func receiveDatagrams(_ listener: Listener, _ buffer: inout [UInt8]) {
        while true {
            var from = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let count = withUnsafeMutablePointer(to: &from) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(listener.udp, &buffer, buffer.count, 0, $0, &length) }
            }
            if count < 0 { return }
            let query = Array(buffer[0..<count])
            handle(query, transport: .udp(listener, from))
        }
    }

    private enum Transport {
        case udp(Listener, sockaddr_in)
        case tcp(Listener)
    }

    /// Answers one query, or hands it to a forwarding worker. Returns the reply for TCP (sent by
    /// the caller); UDP replies are sent here.
    @discardableResult
    private func handle(_ raw: [UInt8], transport: Transport) -> [UInt8]? {
        let listener: Listener
        switch transport { case let .udp(l, _), let .tcp(l): listener = l }
        let message: DNSMessage
        do { message = try DNSMessage.parse(raw) } catch {
            lock.withLock { counters.malformed += 1 }
            guard let reply = DNSResolver.formatError(raw: raw) else { return nil }
            return send(reply, transport)
        }
        let (view, turn) = lock.withLock { () -> (DNSView, Int) in
            rotation &+= 1
            return (listener.view, rotation)
        }
        switch DNSResolver.decide(message, view: view, rotation: turn) {
        case let .respond(response):
            lock.withLock { counters.answered += 1 }
            if case .udp = transport { return send(DNSResolver.udpBytes(response, limit: message.udpPayloadLimit), transport) }
            return response.serialize()
        case .forward:
            lock.withLock { counters.forwarded += 1 }
            if case .tcp = transport { return forward(raw, tcp: true) ?? serverFailure(message) }
            let admitted = lock.withLock { () -> Bool in
                guard inFlight < DNSServer.maxWorkers else { return false }
                inFlight += 1
                return true
            }
            guard admitted else { return send(serverFailure(message), transport) }
            let started = startDetachedThread(name: "dns-forward") { [self] in
                send(forward(raw, tcp: false) ?? serverFailure(message), transport)
                lock.withLock { inFlight -= 1 }
            }
            if !started {
                lock.withLock { inFlight -= 1 }
                return send(serverFailure(message), transport)
            }
            return nil
        }
    }

    private func serverFailure(_ query: DNSMessage) -> [UInt8] {
        DNSResolver.reply(to: query, code: .serverFailure).serialize()
    }

    /// Asks each upstream in turn, each with the timeout; nil when none answered.
    private func forward(_ raw: [UInt8], tcp: Bool) -> [UInt8]? {
        let servers = lock.withLock { upstreams }
        for server in servers {
            let answer = tcp ? IPv4Sockets.tcpExchange(raw, server: server.address, port: server.port, timeoutMillis: timeoutMillis)
                : IPv4Sockets.udpExchange(raw, server: server.address, port: server.port, timeoutMillis: timeoutMillis)
            if let answer { return answer }
        }
        return nil
    }

    @discardableResult
    private func send(_ bytes: [UInt8], _ transport: Transport) -> [UInt8]? {
        guard case let .udp(listener, client) = transport else { return bytes }
        var target = client
        _ = withUnsafePointer(to: &target) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(listener.udp, bytes, bytes.count, Int32(MSG_NOSIGNAL), $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return nil
    }

    private func acceptConnections(_ listener: Listener) {
        while true {
            let connection = cplatform_accept_nonblocking(listener.tcp)
            if connection < 0 { return }
            let admitted = lock.withLock { () -> Bool in
                guard inFlight < DNSServer.maxWorkers else { return false }
                inFlight += 1
                return true
            }
            guard admitted, startDetachedThread(name: "dns-tcp", { [self] in
                serveConnection(connection, listener)
                lock.withLock { inFlight -= 1 }
            }) else {
                if admitted { lock.withLock { inFlight -= 1 } }
                _ = close(connection)
                continue
            }
        }
    }

    /// Serves length-prefixed queries on one TCP connection until it closes or idles for the timeout.
    private func serveConnection(_ connection: Int32, _ listener: Listener) {
        defer { _ = close(connection) }
        while true {
            let deadline = monotonicNanoseconds() + UInt64(max(timeoutMillis, 1_000)) * 1_000_000
            guard let header = IPv4Sockets.readExactly(connection, 2, until: deadline) else { return }
            let length = Int(header[0]) << 8 | Int(header[1])
            guard length > 0, let query = IPv4Sockets.readExactly(connection, length, until: deadline) else { return }
            guard let reply = handle(query, transport: .tcp(listener)) else { return }
            var framed: [UInt8] = []
            framed.appendU16(UInt16(min(reply.count, 65_535)))
            framed += reply.prefix(65_535)
            guard IPv4Sockets.writeAll(connection, framed, until: deadline) else { return }
        }
    }
}
