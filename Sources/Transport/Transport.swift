import Crypto
import Platform
import Raft

/// Authenticated, framed TCP (or unix socket) links between nodes, living on one `EventLoop`.
///
/// It exists so the node shell sees only "a message from an authenticated node" and "send this to
/// node N": listening, dialling, the mutual HMAC handshake, per-peer bounded queues, write
/// coalescing, reconnect with backoff and fault injection all stay here.
///
/// Threading: create it anywhere; call every method on `loop`'s thread (checked). Delegate
/// callbacks and the logger run on that thread. Call `shutdown()` on the loop before stopping it.
/// State is confined to the loop thread, hence `@unchecked Sendable` (so closures handed to
/// `loop.execute` may capture it).
public final class Transport: @unchecked Sendable {
    public let loop: EventLoop
    public let configuration: TransportConfiguration
    public weak var delegate: (any TransportDelegate)?
    /// Faults applied on send; `.none` unless a test or `swarmctl chaos` sets them.
    public var faultRules = FaultRules.none
    let log: @Sendable (String) -> Void

    private var listener: Socket?
    var connections: [ConnectionID: TransportConnection] = [:]
    var links: [NodeID: PeerLink] = [:]
    private var nextConnectionID: UInt64 = 1
    var pendingHandshakes = 0
    private(set) var isShutDown = false

    /// Frames sent to a node with no link (`connect(to:at:)` was never called for it).
    public internal(set) var droppedForUnknownPeer: UInt64 = 0
    /// Connections closed for a failed handshake, framing error, timeout or overload.
    public internal(set) var refusedConnections: UInt64 = 0

    public init(loop: EventLoop, configuration: TransportConfiguration, logger: @escaping @Sendable (String) -> Void) {
        configuration.validate()
        self.loop = loop
        self.configuration = configuration
        self.log = logger
        Signals.ignoreBrokenPipe()
    }

    // MARK: Listening

    /// Starts accepting connections on `address`; returns the bound address (the real port when
    /// `address` asked for port 0).
    @discardableResult
    public func listen(on address: SocketAddress) throws -> SocketAddress {
        assertInLoop()
        precondition(listener == nil, "Transport is already listening")
        precondition(!isShutDown, "listen after shutdown")
        let socket = try Socket.listen(on: address)
        try loop.register(fd: socket.descriptor, readable: true, writable: false) { [weak self] _ in
            self?.acceptPending()
        }
        listener = socket
        return try socket.localAddress()
    }

    private func acceptPending() {
        guard let listener else { return }
        for _ in 0..<64 {
            let accepted: Socket?
            do {
                accepted = try listener.accept()
            } catch {
                return log("accept on \(listener.address) failed: \(error)")
            }
            guard let socket = accepted else { return }
            guard pendingHandshakes < configuration.maxPendingHandshakes else {
                refusedConnections += 1
                log("refused a connection on \(listener.address): \(pendingHandshakes) handshakes already pending")
                socket.close()
                continue
            }
            startInbound(socket)
        }
    }

    private func startInbound(_ socket: Socket) {
        do {
            let acceptor = AcceptorHandshake(
                clusterID: configuration.clusterID, localNodeID: configuration.localNodeID, nonce: try Crypto.randomBytes(Hello.nonceSize)
            ) { [weak self] node, purpose in
                guard let self else { return nil }
                return delegate?.handshakeKey(for: node, purpose: purpose)
            }
            _ = try makeConnection(socket, connecting: false, direction: .inbound, linkPeer: nil, phase: .accepting(acceptor))
            pendingHandshakes += 1
        } catch {
            log("could not set up an inbound connection on \(socket.address): \(error)")
        }
    }

    // MARK: Peers

    /// Keeps an outbound link to `peer` at `address`, reconnecting with backoff until
    /// `disconnect(from:)`. Calling it again for a known peer only changes the address used next.
    public func connect(to peer: NodeID, at address: SocketAddress) {
        assertInLoop()
        precondition(peer != configuration.localNodeID, "a node does not link to itself (node \(peer))")
        if let link = links[peer] {
            link.address = address
            return
        }
        let link = PeerLink(nodeID: peer, address: address, configuration: configuration)
        links[peer] = link
        dial(link)
    }

    /// Drops the link to `peer`, its queue and its connection; no callbacks follow.
    public func disconnect(from peer: NodeID) {
        assertInLoop()
        guard let link = links.removeValue(forKey: peer) else { return }
        if let timer = link.reconnectTimer { loop.cancel(timer) }
        link.connection?.io.close(reason: "link to node \(peer) removed")
        link.queue.removeAll()
    }

    /// Queues a Raft message for `peer`. Never blocks; see `PeerQueue` for what happens when full.
    public func send(_ message: Message, to peer: NodeID) {
        assertInLoop()
        precondition(message.to == peer, "message addressed to node \(message.to) sent to node \(peer)")
        enqueue(.raftMessage(message), to: peer)
    }

    /// Queues an application frame for `peer` on the same ordered link as Raft messages.
    public func send(application: ApplicationFrame, to peer: NodeID) {
        assertInLoop()
        enqueue(.application(application), to: peer)
    }

    /// Whether the outbound link to `peer` is established.
    public func isConnected(to peer: NodeID) -> Bool {
        assertInLoop()
        return links[peer]?.isEstablished ?? false
    }

    /// Counters of the link to `peer`, nil if there is none.
    public func statistics(for peer: NodeID) -> PeerStatistics? {
        assertInLoop()
        return links[peer]?.currentStatistics
    }

    // MARK: Connections and sessions

    /// Opens a one-off authenticated connection (e.g. a join with the token secret as `key`).
    /// The delegate hears `connectionEstablished` then application frames, or `sessionFailed`.
    public func openSession(to address: SocketAddress, purpose: HandshakePurpose, key: [UInt8]) throws -> ConnectionID {
        assertInLoop()
        precondition(!isShutDown, "openSession after shutdown")
        let initiator = InitiatorHandshake(
            clusterID: configuration.clusterID, localNodeID: configuration.localNodeID, purpose: purpose, key: key,
            nonce: try Crypto.randomBytes(Hello.nonceSize), expectedAcceptor: nil)
        let (socket, connected) = try Socket.connect(to: address)
        let connection = try makeConnection(socket, connecting: !connected, direction: .outbound, linkPeer: nil, phase: .initiating(initiator))
        if connected { outboundConnected(connection) }
        return connection.id
    }

    /// Sends an application frame on one established connection (an inbound join or session).
    /// Returns false if the connection is gone, the frame is too large, or the peer is so far
    /// behind that the connection was closed.
    @discardableResult
    public func reply(application: ApplicationFrame, on id: ConnectionID) -> Bool {
        assertInLoop()
        guard let connection = connections[id], connection.isEstablished, connection.io.state == .open else { return false }
        let bytes = Frame.application(application).encoded()
        guard bytes.count - Frame.headerSize <= configuration.maxFrameSize else {
            log("reply of \(bytes.count) bytes on \(connection.label) exceeds the frame limit; not sent")
            return false
        }
        guard connection.io.pendingWriteBytes + bytes.count <= configuration.maxReplyBacklogBytes else {
            connection.io.close(reason: "reply backlog over \(configuration.maxReplyBacklogBytes) bytes (peer not reading)")
            return false
        }
        connection.io.enqueue(bytes)
        scheduleFlush(connection)
        return true
    }

    /// Closes one connection; the usual close callbacks follow (a peer link reconnects).
    public func close(connection id: ConnectionID, reason: String) {
        assertInLoop()
        connections[id]?.io.close(reason: reason)
    }

    /// Established connections (inbound, sessions and peer links), for diagnostics.
    public var establishedConnections: [ConnectionInfo] {
        assertInLoop()
        return connections.values.compactMap(\.info).sorted { $0.id.rawValue < $1.id.rawValue }
    }

    /// Stops listening, closes every connection and cancels reconnects. No delegate callbacks
    /// are made from here on. Idempotent.
    public func shutdown() {
        assertInLoop()
        guard !isShutDown else { return }
        isShutDown = true
        if let listener {
            loop.unregister(fd: listener.descriptor)
            listener.close()
            self.listener = nil
        }
        for link in links.values {
            if let timer = link.reconnectTimer { loop.cancel(timer) }
        }
        for connection in Array(connections.values) { connection.io.close(reason: "transport shut down") }
        connections.removeAll()
        links.removeAll()
    }

    // MARK: Internals shared with the extensions

    func makeConnection(
        _ socket: Socket, connecting: Bool, direction: ConnectionInfo.Direction, linkPeer: NodeID?, phase: TransportConnection.Phase
    ) throws -> TransportConnection {
        let io = try BufferedConnection(socket: socket, loop: loop, connecting: connecting)
        let id = ConnectionID(rawValue: nextConnectionID)
        nextConnectionID += 1
        let connection = TransportConnection(
            id: id, direction: direction, io: io, linkPeer: linkPeer, phase: phase, maxFrameSize: configuration.maxFrameSize)
        io.onConnected = { [weak self, weak connection] in
            if let self, let connection { outboundConnected(connection) }
        }
        io.onData = { [weak self, weak connection] bytes in
            if let self, let connection { received(bytes, on: connection) }
        }
        io.onDrained = { [weak self, weak connection] in
            if let self, let connection { drained(connection) }
        }
        io.onClose = { [weak self, weak connection] reason in
            if let self, let connection { closed(connection, reason: reason) }
        }
        let timeout = configuration.handshakeTimeoutMillis
        connection.handshakeTimer = loop.schedule(afterMillis: timeout) { [weak self, weak connection] in
            guard let self, let connection else { return }
            connection.handshakeTimer = nil
            refuse(connection, reason: "no handshake within \(timeout) ms")
        }
        connections[id] = connection
        return connection
    }

    func scheduleFlush(_ connection: TransportConnection) {
        guard !connection.flushScheduled else { return }
        connection.flushScheduled = true
        loop.afterCurrentIteration { [weak connection] in
            guard let connection else { return }
            connection.flushScheduled = false
            connection.io.flush()
        }
    }

    func assertInLoop(function: StaticString = #function) {
        precondition(loop.inEventLoop, "Transport.\(function) must be called on its loop thread")
    }
}
