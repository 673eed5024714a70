import Crypto
import Platform
import Raft

/// Mutually authenticated (TLS 1.3), framed TCP (or unix socket) links between nodes, living on
/// one `EventLoop`.
///
/// It exists so the node shell sees only "a frame from the node this certificate names" and
/// "send this to node N": listening, dialling, TLS over memory BIOs, the peer's identity from its
/// verified certificate, per-peer bounded queues, write coalescing, reconnect with backoff,
/// connection and memory limits, and fault injection all stay here.
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
    /// The TLS configurations for NEW connections (nil: no certificate yet, so inbound
    /// connections are refused and links wait). Replace it on renewal or CA rotation;
    /// established connections keep the one they started with.
    public var tls: TransportTLS?
    let log: @Sendable (String) -> Void

    private var listener: Socket?
    private var idleSweep: TimerHandle?
    var connections: [ConnectionID: TransportConnection] = [:]
    var links: [NodeID: PeerLink] = [:]
    private var nextConnectionID: UInt64 = 1
    var preAuth: PreAuthTable
    var handshakeRate: HandshakeRateLimiter
    private var lastRateLimitLogMillis: UInt64 = 0
    private(set) var isShutDown = false

    /// Frames sent to a node with no link (`connect(to:at:)` was never called for it).
    public internal(set) var droppedForUnknownPeer: UInt64 = 0
    /// Connections closed for a failed handshake, a refused certificate, a framing error, a
    /// timeout or a limit.
    public internal(set) var refusedConnections: UInt64 = 0
    /// Of those, connections closed at accept because their source exceeded its handshake rate.
    public internal(set) var rateLimitedConnections: UInt64 = 0
    /// Bytes of partial frames held by worker and join-only connections (bounded by
    /// `maxBufferedFrameBytes`).
    public internal(set) var bufferedFrameBytes = 0

    public init(loop: EventLoop, configuration: TransportConfiguration, logger: @escaping @Sendable (String) -> Void) {
        configuration.validate()
        self.loop = loop
        self.configuration = configuration
        self.log = logger
        preAuth = PreAuthTable(perSource: configuration.maxPendingHandshakesPerSource, total: configuration.maxPendingHandshakes)
        handshakeRate = HandshakeRateLimiter(perSecond: configuration.maxHandshakesPerSourcePerSecond,
                                             burst: configuration.handshakeBurstPerSource)
        Signals.ignoreBrokenPipe()
    }

    /// Unauthenticated inbound connections (TLS handshakes and join-only connections) held now.
    public var pendingHandshakes: Int { preAuth.count }

    // MARK: Listening

    /// Starts accepting connections on `address`; returns the bound address (the real port when
    /// `address` asked for port 0).
    @discardableResult
    public func listen(on address: SocketAddress) throws -> SocketAddress {
        assertInLoop()
        precondition(listener == nil, "Transport is already listening")
        precondition(!isShutDown, "listen after shutdown")
        // A deep accept queue: a flood of connection attempts must not crowd out SYNs from other
        // sources before the pre-auth table gets to evict them.
        let socket = try Socket.listen(on: address, backlog: 1024)
        try loop.register(fd: socket.descriptor, readable: true, writable: false) { [weak self] _ in
            self?.acceptPending()
        }
        listener = socket
        let period = max(10, min(configuration.idleTimeoutMillis / 4, 10_000))
        idleSweep = loop.scheduleRepeating(everyMillis: period) { [weak self] in self?.closeIdleConnections() }
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
            startInbound(socket)
        }
    }

    private func startInbound(_ socket: Socket) {
        guard let tls else {
            refusedConnections += 1
            socket.close()
            return log("refused a connection from \(socket.address): this node has no certificate yet")
        }
        guard admitHandshake(from: socket) else { return }
        do {
            let connection = try makeConnection(socket, connecting: false, kind: .inbound, context: tls.server)
            let source = connection.source
            for evicted in preAuth.admit(connection.id, from: source) {
                guard let old = connections[evicted] else { continue }
                old.isPreAuth = false
                refuse(old, reason: "evicted: \(preAuth.count) unauthenticated connections pending, "
                    + "\(preAuth.count(from: source)) from \(SocketAddress.describeSource(source))")
            }
            connection.isPreAuth = true
        } catch {
            log("could not set up an inbound connection from \(socket.address): \(error)")
        }
    }

    /// Applies the per-source handshake rate; closes the socket (logged at most once a second) if over.
    private func admitHandshake(from socket: Socket) -> Bool {
        let source = SocketAddress.sourceKey(of: socket.address)
        let now = Self.nowMillis()
        if handshakeRate.admit(from: source, nowMillis: now) { return true }
        refusedConnections += 1
        rateLimitedConnections += 1
        socket.close()
        if now >= lastRateLimitLogMillis + 1_000 {
            lastRateLimitLogMillis = now
            log("refused new connections from \(SocketAddress.describeSource(source)): over \(configuration.maxHandshakesPerSourcePerSecond) "
                + "handshakes per second from one address (\(rateLimitedConnections) refused so far)")
        }
        return false
    }

    /// Closes authenticated inbound connections that received nothing for `idleTimeoutMillis`.
    private func closeIdleConnections() {
        let now = Self.nowMillis()
        for connection in Array(connections.values) where connection.kind == .inbound && connection.peer != nil {
            let idle = now - min(now, connection.lastReceiveMillis)
            if idle > UInt64(configuration.idleTimeoutMillis) { connection.io.close(reason: "idle for \(idle) ms") }
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

    /// Opens a join session: TLS with `context` (a client context that verifies nothing, since a
    /// joining node has no roots yet). Once the handshake completes the delegate hears
    /// `connectionEstablished`, and must check `peerCertificateChain(of:)` against the token
    /// before sending anything; or `sessionFailed`.
    public func openJoinSession(to address: SocketAddress, context: TLSContext) throws -> ConnectionID {
        assertInLoop()
        precondition(!isShutDown, "openJoinSession after shutdown")
        precondition(context.role == .client, "a join session needs a client context")
        let (socket, connected) = try Socket.connect(to: address)
        let connection = try makeConnection(socket, connecting: !connected, kind: .joinSession, context: context)
        if connected { outboundConnected(connection) }
        return connection.id
    }

    /// The certificate chain the peer presented on connection `id` (leaf first), empty if none
    /// or if the connection is gone.
    public func peerCertificateChain(of id: ConnectionID) -> [Certificate] {
        assertInLoop()
        guard let connection = connections[id], connection.isEstablished else { return [] }
        return connection.session.peerCertificateChain
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
        guard write(bytes, on: connection) else { return false }
        scheduleFlush(connection)
        return true
    }

    /// Closes every connection whose verified certificate names node `nodeID` (it was removed,
    /// or its role changed and it must reconnect with its new certificate).
    public func closeConnections(ofNode nodeID: String, reason: String) {
        assertInLoop()
        for connection in Array(connections.values) where connection.peer?.nodeID == nodeID {
            refuse(connection, reason: reason, flush: true)
        }
    }

    /// Closes our established peer links so they reconnect with the current `tls` (after this
    /// node's certificate changed role). Queued frames are kept.
    public func reconnectLinks(reason: String) {
        assertInLoop()
        for link in links.values { link.connection?.io.close(reason: reason) }
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
        if let idleSweep { loop.cancel(idleSweep) }
        idleSweep = nil
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

    func makeConnection(_ socket: Socket, connecting: Bool, kind: TransportConnection.Kind, context: TLSContext) throws -> TransportConnection {
        let session = try TLSSession(context: context)
        let io = try BufferedConnection(socket: socket, loop: loop, connecting: connecting)
        let id = ConnectionID(rawValue: nextConnectionID)
        nextConnectionID += 1
        let connection = TransportConnection(id: id, kind: kind, io: io, session: session, source: SocketAddress.sourceKey(of: socket.address),
                                             now: Self.nowMillis())
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
            refuse(connection, reason: "no TLS handshake within \(timeout) ms")
        }
        connections[id] = connection
        return connection
    }

    /// Encrypts `plaintext` (whole frames) into the connection's write queue; false (and the
    /// connection closed) if TLS refuses.
    @discardableResult
    func write(_ plaintext: [UInt8], on connection: TransportConnection) -> Bool {
        do {
            try connection.session.send(plaintext)
        } catch {
            connection.io.close(reason: "\(error)")
            return false
        }
        writeTLSOutput(of: connection)
        return true
    }

    /// Moves the session's pending ciphertext (handshake records, alerts, data) to the socket queue.
    func writeTLSOutput(of connection: TransportConnection) {
        let output = connection.session.takeOutgoing()
        if !output.isEmpty && connection.io.state != .closed { connection.io.enqueue(output) }
    }

    static func nowMillis() -> UInt64 { monotonicNanoseconds() / 1_000_000 }

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
