import Crypto
import Glibc
import Platform
import Raft
import Synchronization
@testable import Transport
import XCTest

/// Polls `condition` every millisecond until it holds or `timeoutSeconds` pass (then fails).
/// Tests synchronise on observable state this way, never on fixed sleeps.
@discardableResult
func waitUntil(
    _ what: @autoclosure () -> String, timeoutSeconds: Double = 10, file: StaticString = #filePath, line: UInt = #line,
    _ condition: () throws -> Bool
) rethrows -> Bool {
    let deadline = monotonicNanoseconds() + UInt64(timeoutSeconds * 1e9)
    while monotonicNanoseconds() < deadline {
        if try condition() { return true }
        usleep(1_000)
    }
    if try condition() { return true }
    XCTFail("timed out after \(timeoutSeconds) s waiting for \(what())", file: file, line: line)
    return false
}

/// Thread-safe append-only log the transport writes to, for asserting logged reasons.
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])

    var logger: @Sendable (String) -> Void { { [self] line in lines.withLock { $0.append(line) } } }
    var all: [String] { lines.withLock { $0 } }

    func contains(_ fragment: String) -> Bool { all.contains { $0.contains(fragment) } }
    func count(_ fragment: String) -> Int { all.filter { $0.contains(fragment) }.count }
}

/// A delegate that records every callback (they arrive on the loop thread; tests read them from
/// the test thread, hence the mutex) and refuses the node ids in `denied`.
final class Recorder: TransportDelegate, @unchecked Sendable {
    struct Events {
        var messages: [Message] = []
        var messagePeers: [PeerIdentity] = []
        var applications: [(ApplicationFrame, ConnectionInfo)] = []
        var connected: [NodeID] = []
        var disconnected: [NodeID] = []
        var established: [ConnectionInfo] = []
        var closed: [(ConnectionInfo, String)] = []
        var sessionFailures: [String] = []
    }

    private let events = Mutex(Events())
    private let deniedNodes = Mutex<Set<String>>([])
    /// Optional hook run on the loop thread for each application frame (e.g. to reply).
    let onApplication: (@Sendable (Transport, ApplicationFrame, ConnectionInfo) -> Void)?
    /// Optional hook run on the loop thread when a connection is established.
    let onEstablished: (@Sendable (Transport, ConnectionInfo) -> Void)?

    init(onApplication: (@Sendable (Transport, ApplicationFrame, ConnectionInfo) -> Void)? = nil,
         onEstablished: (@Sendable (Transport, ConnectionInfo) -> Void)? = nil) {
        self.onApplication = onApplication
        self.onEstablished = onEstablished
    }

    func read<T>(_ body: (Events) -> T) -> T { events.withLock { body($0) } }
    func deny(_ nodeID: String) { deniedNodes.withLock { _ = $0.insert(nodeID) } }

    func transport(_ transport: Transport, shouldRefuse peer: PeerIdentity) -> String? {
        deniedNodes.withLock { $0.contains(peer.nodeID) } ? "node \(peer.nodeID) was removed" : nil
    }

    func transport(_ transport: Transport, didReceive message: Message, from peer: PeerIdentity) {
        events.withLock {
            $0.messages.append(message)
            $0.messagePeers.append(peer)
        }
    }

    func transport(_ transport: Transport, didReceive application: ApplicationFrame, on connection: ConnectionInfo) {
        events.withLock { $0.applications.append((application, connection)) }
        onApplication?(transport, application, connection)
    }

    func transport(_ transport: Transport, peerConnected peer: NodeID) { events.withLock { $0.connected.append(peer) } }
    func transport(_ transport: Transport, peerDisconnected peer: NodeID) { events.withLock { $0.disconnected.append(peer) } }
    func transport(_ transport: Transport, connectionEstablished connection: ConnectionInfo) {
        events.withLock { $0.established.append(connection) }
        onEstablished?(transport, connection)
    }
    func transport(_ transport: Transport, connectionClosed connection: ConnectionInfo, reason: String) {
        events.withLock { $0.closed.append((connection, reason)) }
    }
    func transport(_ transport: Transport, sessionFailed connection: ConnectionID, reason: String) {
        events.withLock { $0.sessionFailures.append(reason) }
    }
}

let testCluster = "testclusterid"

/// Unix seconds now, for certificate validity.
func unixNow() -> Int64 { Int64(time(nil)) }

/// A cluster CA for tests: issues node certificates with any role, cluster and validity, and
/// builds the TLS contexts a transport uses. Created once per process (key generation is the
/// slow part).
final class TestPKI: @unchecked Sendable {
    static let shared = try! TestPKI(clusterID: testCluster)

    let clusterID: String
    let ca: CertificateAuthority

    init(clusterID: String) throws {
        self.clusterID = clusterID
        ca = try CertificateAuthority.createRoot(commonName: "swarmctl test root CA", organization: clusterID,
                                                 validitySeconds: 3_600 * 24 * 365, now: unixNow())
    }

    /// A key and a certificate for `nodeID` signed by this CA.
    func identity(_ nodeID: String, role: PeerIdentity.Role = .manager, cluster: String? = nil, validitySeconds: Int64 = 86_400,
                  now: Int64 = unixNow()) throws -> TLSIdentity {
        let key = try PrivateKey.generateP256()
        let csr = try CertificateSigningRequest(key: key, subject: CertificateSubject(commonName: "ignored"))
        let subject = CertificateSubject(commonName: nodeID, organizationalUnit: role.rawValue, organization: cluster ?? clusterID)
        let certificate = try ca.issue(csr: csr, subject: subject, validitySeconds: validitySeconds, now: now)
        return TLSIdentity(chain: [certificate], key: key)
    }

    /// The server and client contexts of a transport presenting `identity`.
    func tls(_ identity: TLSIdentity) throws -> TransportTLS {
        TransportTLS(
            server: try TLSContext(role: .server, identity: identity, trustedRoots: [ca.certificate], peerVerification: .ifPresented),
            client: try TLSContext(role: .client, identity: identity, trustedRoots: [ca.certificate], peerVerification: .required))
    }

    func tls(_ nodeID: String, role: PeerIdentity.Role = .manager) throws -> TransportTLS {
        try tls(identity(nodeID, role: role))
    }

    /// The client context of a joining node: no certificate, verifies nothing.
    static func joinContext() throws -> TLSContext {
        try TLSContext(role: .client, identity: nil, trustedRoots: [], peerVerification: .none)
    }
}

/// One node's transport on its own loop thread, listening on an ephemeral loopback port, with a
/// certificate for node id `name` (a manager unless `role` says otherwise).
final class TestNode: @unchecked Sendable {
    let name: String
    let id: NodeID
    let thread: EventLoopThread
    let transport: Transport
    let recorder: Recorder
    let logs = LogCapture()
    private(set) var address: SocketAddress = .loopback(port: 0)

    init(
        name: String, role: PeerIdentity.Role = .manager, listenOn requested: SocketAddress? = .loopback(port: 0),
        recorder: Recorder = Recorder(), tls: TransportTLS? = nil, withoutCertificate: Bool = false,
        configure: (inout TransportConfiguration) -> Void = { _ in }
    ) throws {
        self.name = name
        self.id = PeerIdentity.transportID(forNodeID: name)
        self.recorder = recorder
        var configuration = TransportConfiguration(clusterID: testCluster, localNodeID: id)
        configure(&configuration)
        thread = try EventLoopThread(name: "node-\(name)")
        transport = Transport(loop: thread.loop, configuration: configuration, logger: logs.logger)
        let transport = transport
        let contexts = withoutCertificate ? nil : try tls ?? TestPKI.shared.tls(name, role: role)
        try thread.loop.executeAndWait {
            transport.delegate = recorder
            transport.tls = contexts
        }
        if let requested {
            address = try thread.loop.executeAndWait { try transport.listen(on: requested) }
        }
    }

    /// Runs `body` on the node's loop and waits for it.
    @discardableResult
    func onLoop<T: Sendable>(_ body: @escaping @Sendable (Transport) throws -> T) throws -> T {
        let transport = transport
        return try thread.loop.executeAndWait { try body(transport) }
    }

    func statistics(for peer: NodeID) -> PeerStatistics? {
        try? onLoop { $0.statistics(for: peer) }
    }

    /// Closes everything and joins the loop thread. Safe to call twice.
    func shutdown() {
        _ = try? onLoop { $0.shutdown() }
        thread.shutdown()
    }
}

extension XCTestCase {
    /// Starts a node that is shut down when the test ends, whether it passes or fails.
    func startNode(
        _ name: String, role: PeerIdentity.Role = .manager, listenOn address: SocketAddress? = .loopback(port: 0),
        recorder: Recorder = Recorder(), tls: TransportTLS? = nil, withoutCertificate: Bool = false,
        configure: (inout TransportConfiguration) -> Void = { _ in }
    ) throws -> TestNode {
        let node = try TestNode(name: name, role: role, listenOn: address, recorder: recorder, tls: tls,
                                withoutCertificate: withoutCertificate, configure: configure)
        addTeardownBlock { node.shutdown() }
        return node
    }
}

func makeMessage(from: NodeID, to: NodeID, index: UInt64, padding: Int = 0) -> Message {
    var message = Message(kind: .append, from: from, to: to, term: 1)
    message.index = index
    if padding > 0 { message.context = [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: padding) }
    return message
}

/// A hand-driven client (or accepted server-side socket) on a nonblocking socket, waiting with
/// `poll`: it speaks raw bytes so tests can misbehave in ways a Transport never would.
final class RawSocket {
    let socket: Socket
    private var decoder = FrameDecoder()

    init(socket: Socket) { self.socket = socket }

    /// Connects to `address`, waiting up to 5 s.
    static func connect(to address: SocketAddress) throws -> RawSocket {
        let (socket, connected) = try Socket.connect(to: address)
        let raw = RawSocket(socket: socket)
        if !connected {
            guard raw.poll(Int16(POLLOUT), timeoutMillis: 5_000), socket.pendingError() == 0 else {
                throw SystemError("connect", "\(address)", errno: socket.pendingError())
            }
        }
        return raw
    }

    /// Accepts one connection on `listener`, waiting up to 5 s.
    static func accept(on listener: Socket) throws -> RawSocket {
        let deadline = monotonicNanoseconds() + 5_000_000_000
        while monotonicNanoseconds() < deadline {
            if let accepted = try listener.accept() { return RawSocket(socket: accepted) }
            var poller = pollfd(fd: listener.descriptor, events: Int16(POLLIN), revents: 0)
            _ = Glibc.poll(&poller, 1, 100)
        }
        throw SystemError("accept", "\(listener.address) (timed out)", errno: ETIMEDOUT)
    }

    func poll(_ events: Int16, timeoutMillis: Int32) -> Bool {
        var poller = pollfd(fd: socket.descriptor, events: events, revents: 0)
        return Glibc.poll(&poller, 1, timeoutMillis) > 0
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let result = try bytes.withUnsafeBytes { try socket.write(from: UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            if case let .transferred(count) = result { offset += count } else { _ = poll(Int16(POLLOUT), timeoutMillis: 1_000) }
        }
    }

    func send(_ frame: Frame) throws { try send(frame.encoded()) }

    /// Reads until the peer closes (true) or `timeoutMillis` passes (false). ECONNRESET counts
    /// as closed.
    func waitForClose(timeoutMillis: Int = 5_000) -> Bool {
        let deadline = monotonicNanoseconds() + UInt64(timeoutMillis) * 1_000_000
        var buffer = [UInt8](repeating: 0, count: 4096)
        while monotonicNanoseconds() < deadline {
            guard poll(Int16(POLLIN), timeoutMillis: 50) else { continue }
            do {
                let result = try buffer.withUnsafeMutableBytes { try socket.read(into: $0) }
                if result == .endOfFile { return true }
            } catch {
                return true
            }
        }
        return false
    }

    /// The next frame from the peer, or nil on close or after `timeoutMillis`.
    func readFrame(timeoutMillis: Int = 5_000) throws -> Frame? {
        let deadline = monotonicNanoseconds() + UInt64(timeoutMillis) * 1_000_000
        var buffer = [UInt8](repeating: 0, count: 4096)
        while monotonicNanoseconds() < deadline {
            if let raw = try decoder.nextFrame() { return try Frame(raw) }
            guard poll(Int16(POLLIN), timeoutMillis: 50) else { continue }
            let result = try buffer.withUnsafeMutableBytes { try socket.read(into: $0) }
            switch result {
            case let .transferred(count): decoder.feed(buffer[..<count])
            case .endOfFile: return nil
            case .wouldBlock: continue
            }
        }
        return nil
    }
}

/// A TLS endpoint driven by hand over a `RawSocket` (a client, or the server side of an
/// accepted socket), so tests can present any certificate (or none), misbehave after the
/// handshake, or stop reading. Blocking with `poll`; test thread only.
final class TLSClient {
    let raw: RawSocket
    let session: TLSSession
    private let isClient: Bool
    private var decoder = FrameDecoder()
    private var closed = false

    init(raw: RawSocket, context: TLSContext) throws {
        self.raw = raw
        session = try TLSSession(context: context)
        isClient = context.role == .client
    }

    convenience init(connectingTo address: SocketAddress, context: TLSContext) throws {
        try self.init(raw: RawSocket.connect(to: address), context: context)
    }

    /// A client presenting `identity` (nil: none) that verifies the server against the test CA.
    convenience init(connectingTo address: SocketAddress, identity: TLSIdentity?) throws {
        let context = identity == nil
            ? try TestPKI.joinContext()
            : try TLSContext(role: .client, identity: identity, trustedRoots: [TestPKI.shared.ca.certificate], peerVerification: .required)
        try self.init(connectingTo: address, context: context)
    }

    /// Runs the handshake to completion (as far as the client can tell: a TLS 1.3 server may
    /// still refuse our certificate, which shows on the next read).
    func handshake(timeoutMillis: Int = 5_000) throws {
        if isClient {
            try session.start()
            try raw.send(session.takeOutgoing())
        }
        let deadline = monotonicNanoseconds() + UInt64(timeoutMillis) * 1_000_000
        while !session.isHandshakeComplete {
            guard monotonicNanoseconds() < deadline else { throw TLSError.handshakeFailed("test client timed out") }
            guard let bytes = try raw.readAvailable(timeoutMillis: 50) else { throw TLSError.closedByPeer }
            let plaintext = try session.receive(bytes)
            try raw.send(session.takeOutgoing())
            decoder.feed(plaintext)
        }
    }

    func send(_ frame: Frame) throws { try sendPlaintext(frame.encoded()) }

    func sendPlaintext(_ bytes: [UInt8]) throws {
        try session.send(bytes)
        try raw.send(session.takeOutgoing())
    }

    /// The next frame, or nil once the server closed (or refused us) or `timeoutMillis` passed.
    func readFrame(timeoutMillis: Int = 5_000) -> Frame? {
        let deadline = monotonicNanoseconds() + UInt64(timeoutMillis) * 1_000_000
        while monotonicNanoseconds() < deadline && !closed {
            if let raw = try? decoder.nextFrame(), let frame = try? Frame(raw) { return frame }
            do {
                guard let bytes = try raw.readAvailable(timeoutMillis: 50) else {
                    closed = true
                    return nil
                }
                decoder.feed(try session.receive(bytes))
                try raw.send(session.takeOutgoing())
            } catch {
                closed = true
            }
        }
        return nil
    }

    /// True once the server closed the connection or refused us with a TLS alert.
    func waitForClose(timeoutMillis: Int = 5_000) -> Bool {
        let deadline = monotonicNanoseconds() + UInt64(timeoutMillis) * 1_000_000
        while monotonicNanoseconds() < deadline {
            if closed { return true }
            _ = readFrame(timeoutMillis: 50)
        }
        return closed
    }
}

extension RawSocket {
    /// Bytes available within `timeoutMillis` ([] if none), or nil once the peer closed.
    func readAvailable(timeoutMillis: Int32) throws -> [UInt8]? {
        guard poll(Int16(POLLIN), timeoutMillis: timeoutMillis) else { return [] }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let result: IOResult
        do {
            result = try buffer.withUnsafeMutableBytes { try socket.read(into: $0) }
        } catch {
            return nil
        }
        switch result {
        case let .transferred(count): return Array(buffer[..<count])
        case .endOfFile: return nil
        case .wouldBlock: return []
        }
    }
}

/// A TCP connection from a chosen local address (e.g. 127.0.0.2), left idle: the flood tests'
/// attacker. Raw descriptors, since `Socket` cannot bind before connecting.
final class BoundConnection {
    let descriptor: Int32

    init(from source: String, to port: UInt16) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw SystemError("socket", "test flood", errno: errno) }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, source, &local.sin_addr)
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = port.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr)
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            close(descriptor)
            throw SystemError("bind", source, errno: errno)
        }
        let connected = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 || errno == EINPROGRESS else {
            close(descriptor)
            throw SystemError("connect", "127.0.0.1:\(port)", errno: errno)
        }
    }

    deinit { close(descriptor) }
}
