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
/// the test thread, hence the mutex) and answers key lookups from a fixed table.
final class Recorder: TransportDelegate, @unchecked Sendable {
    struct Events {
        var messages: [Message] = []
        var applications: [(ApplicationFrame, ConnectionInfo)] = []
        var connected: [NodeID] = []
        var disconnected: [NodeID] = []
        var established: [ConnectionInfo] = []
        var closed: [(ConnectionInfo, String)] = []
        var sessionFailures: [String] = []
    }

    private let keys: [HandshakePurpose: [NodeID: [UInt8]]]
    private let events = Mutex(Events())
    /// Optional hook run on the loop thread for each application frame (e.g. to reply).
    let onApplication: (@Sendable (Transport, ApplicationFrame, ConnectionInfo) -> Void)?

    init(keys: [HandshakePurpose: [NodeID: [UInt8]]], onApplication: (@Sendable (Transport, ApplicationFrame, ConnectionInfo) -> Void)? = nil) {
        self.keys = keys
        self.onApplication = onApplication
    }

    func read<T>(_ body: (Events) -> T) -> T { events.withLock { body($0) } }

    func handshakeKey(for nodeID: NodeID, purpose: HandshakePurpose) -> [UInt8]? { keys[purpose]?[nodeID] }

    func transport(_ transport: Transport, didReceive message: Message, from peer: NodeID) {
        events.withLock { $0.messages.append(message) }
    }

    func transport(_ transport: Transport, didReceive application: ApplicationFrame, on connection: ConnectionInfo) {
        events.withLock { $0.applications.append((application, connection)) }
        onApplication?(transport, application, connection)
    }

    func transport(_ transport: Transport, peerConnected peer: NodeID) { events.withLock { $0.connected.append(peer) } }
    func transport(_ transport: Transport, peerDisconnected peer: NodeID) { events.withLock { $0.disconnected.append(peer) } }
    func transport(_ transport: Transport, connectionEstablished connection: ConnectionInfo) {
        events.withLock { $0.established.append(connection) }
    }
    func transport(_ transport: Transport, connectionClosed connection: ConnectionInfo, reason: String) {
        events.withLock { $0.closed.append((connection, reason)) }
    }
    func transport(_ transport: Transport, sessionFailed connection: ConnectionID, reason: String) {
        events.withLock { $0.sessionFailures.append(reason) }
    }
}

let testCluster = "test-cluster"
let peerSecret = Array("peer-credential-secret".utf8)
let workerToken = Array("worker-join-token-secret".utf8)

/// Keys every test node accepts: nodes 1...9 as peers with `peerSecret`, any node id up to 100
/// joining as a worker with `workerToken`.
func standardKeys() -> [HandshakePurpose: [NodeID: [UInt8]]] {
    var peers: [NodeID: [UInt8]] = [:]
    var joins: [NodeID: [UInt8]] = [:]
    for id in NodeID(1)...9 { peers[id] = peerSecret }
    for id in NodeID(0)...100 { joins[id] = workerToken }
    return [.peer: peers, .joinWorker: joins]
}

/// One node's transport on its own loop thread, listening on an ephemeral loopback port.
final class TestNode: @unchecked Sendable {
    let id: NodeID
    let thread: EventLoopThread
    let transport: Transport
    let recorder: Recorder
    let logs = LogCapture()
    private(set) var address: SocketAddress = .loopback(port: 0)

    init(
        id: NodeID, listenOn requested: SocketAddress? = .loopback(port: 0), recorder: Recorder = Recorder(keys: standardKeys()),
        configure: (inout TransportConfiguration) -> Void = { _ in }
    ) throws {
        self.id = id
        self.recorder = recorder
        var configuration = TransportConfiguration(clusterID: testCluster, localNodeID: id)
        configure(&configuration)
        thread = try EventLoopThread(name: "node-\(id)")
        transport = Transport(loop: thread.loop, configuration: configuration, logger: logs.logger)
        let transport = transport
        try thread.loop.executeAndWait { transport.delegate = recorder }
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
        _ id: NodeID, listenOn address: SocketAddress? = .loopback(port: 0), recorder: Recorder = Recorder(keys: standardKeys()),
        configure: (inout TransportConfiguration) -> Void = { _ in }
    ) throws -> TestNode {
        let node = try TestNode(id: id, listenOn: address, recorder: recorder, configure: configure)
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
