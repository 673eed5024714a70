import Raft

/// Settings of a `Transport`; every queue and timeout has an explicit limit.
///
/// It exists so limits are chosen once, visibly, and tests can shrink them (short handshake
/// timeout, small queues) without touching the code.
public struct TransportConfiguration: Sendable {
    /// The cluster id every peer certificate must carry as its organization (O).
    public var clusterID: String
    /// Our transport (Raft) id; 0 for a transport that only opens join sessions.
    public var localNodeID: NodeID
    /// Largest frame payload accepted or sent (checked before allocating).
    public var maxFrameSize = FrameDecoder.defaultMaxPayloadSize
    /// Largest frame a connection without a certificate may send (one join request).
    public var maxJoinFrameSize = 64 << 10
    /// A connection that has not completed the TLS handshake by then is closed.
    public var handshakeTimeoutMillis = 5_000
    /// A join-only connection (no certificate) is closed this long after it connected.
    public var joinTimeoutMillis = 30_000
    /// Unauthenticated inbound connections (handshakes and joins) allowed at once, in total and
    /// per source address; the oldest of the source (or of the busiest source) is closed for a
    /// newcomer (see `PreAuthTable`).
    public var maxPendingHandshakes = 256
    public var maxPendingHandshakesPerSource = 32
    /// New inbound connections (TLS handshakes) accepted per source address per second, and the
    /// burst allowed above that rate; the rest are closed at accept (see `HandshakeRateLimiter`).
    public var maxHandshakesPerSourcePerSecond = 50
    public var handshakeBurstPerSource = 100
    /// Authenticated inbound connections per peer node; the oldest is closed for a newer one.
    public var maxConnectionsPerPeer = 8
    /// Bytes of partial frames buffered over all worker and join-only connections (managers are
    /// exempt); the connection that would exceed it is closed.
    public var maxBufferedFrameBytes = 96 << 20
    /// An authenticated inbound connection that receives nothing for this long is closed.
    public var idleTimeoutMillis = 300_000
    /// Per-peer queue bounds; when exceeded the oldest frames are dropped (see `PeerQueue`).
    public var maxQueuedFramesPerPeer = 16_384
    public var maxQueuedBytesPerPeer = 64 << 20
    /// Bytes handed to one connection per `send` batch (many frames per system call).
    public var writeBatchBytes = 256 << 10
    /// Replies on a connection (`reply(application:on:)`) buffered beyond this close it.
    public var maxReplyBacklogBytes = 64 << 20
    /// Reconnect backoff for peer links.
    public var reconnectInitialMillis = 50
    public var reconnectMaxMillis = 2_000

    public init(clusterID: String, localNodeID: NodeID) {
        self.clusterID = clusterID
        self.localNodeID = localNodeID
    }

    func validate() {
        precondition(clusterID.utf8.count <= 256, "cluster id must be at most 256 bytes")
        precondition(localNodeID == 0 || !clusterID.isEmpty, "a member's transport needs its cluster id")
        precondition(maxFrameSize > 0 && maxFrameSize <= Int(UInt32.max), "maxFrameSize out of range: \(maxFrameSize)")
        precondition(maxJoinFrameSize > 0 && maxJoinFrameSize <= maxFrameSize, "maxJoinFrameSize out of range: \(maxJoinFrameSize)")
        precondition(handshakeTimeoutMillis > 0 && joinTimeoutMillis > 0 && idleTimeoutMillis > 0, "timeouts must be positive")
        precondition(maxQueuedBytesPerPeer >= maxFrameSize + Frame.headerSize, "peer queue must hold one maximal frame")
        precondition(maxBufferedFrameBytes >= maxFrameSize + Frame.headerSize, "the frame budget must hold one maximal frame")
        precondition(writeBatchBytes > 0 && maxPendingHandshakes > 0 && maxQueuedFramesPerPeer > 0 && maxConnectionsPerPeer > 0,
                     "limits must be positive")
        precondition(maxHandshakesPerSourcePerSecond > 0 && handshakeBurstPerSource > 0, "handshake rate limits must be positive")
        precondition(maxPendingHandshakesPerSource > 0 && maxPendingHandshakesPerSource <= maxPendingHandshakes,
                     "per-source handshake limit must be in 1...maxPendingHandshakes")
    }
}

/// Identifies one connection for its lifetime (never reused within a Transport). It exists so the
/// node can answer on the connection a request came in on (joins) without holding the socket.
public struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public var description: String { "#\(rawValue)" }
    public init(rawValue: UInt64) { self.rawValue = rawValue }
}

/// An established connection as the node shell sees it. It exists so the shell decides what to
/// do with a frame from who sent it (its verified certificate), not from socket details.
public struct ConnectionInfo: Sendable, Equatable {
    public enum Direction: Sendable, Equatable {
        /// Accepted by our listener.
        case inbound
        /// Opened by us: a peer link (`connect(to:at:)`) or a session (`openSession`).
        case outbound
    }

    public var id: ConnectionID
    /// The verified certificate's identity; nil on a join-only connection (an inbound
    /// connection without a client certificate) and on our own join sessions (whose server the
    /// caller checks against the token, see `Transport.peerCertificateChain(of:)`).
    public var peer: PeerIdentity?
    public var direction: Direction

    public init(id: ConnectionID, peer: PeerIdentity?, direction: Direction) {
        self.id = id
        self.peer = peer
        self.direction = direction
    }

    /// The peer's transport id, 0 without a certificate.
    public var remoteNodeID: NodeID { peer?.transportID ?? 0 }
}

/// Counters for one peer link. They exist because drops are deliberate (bounded queues, fault
/// rules) and must be visible in metrics and assertable in tests.
public struct PeerStatistics: Sendable, Equatable {
    public var connected = false
    public var queuedFrames = 0
    public var queuedBytes = 0
    public var sentFrames: UInt64 = 0
    public var droppedQueueFull: UInt64 = 0
    public var droppedByFaultRules: UInt64 = 0
    public var droppedOversized: UInt64 = 0
    public var connectAttempts: UInt64 = 0
}

/// Receives what a `Transport` observes. Every callback runs on the transport's loop thread and
/// may call back into the transport.
///
/// It exists as the single seam between the network and the node shell: the shell feeds Raft
/// from `didReceive(message:)`, routes application frames, and tells Raft when a link breaks.
public protocol TransportDelegate: AnyObject {
    /// Called once a peer's certificate verified (chain to a trusted root, our cluster id):
    /// a reason refuses the connection (a removed node), nil accepts it.
    func transport(_ transport: Transport, shouldRefuse peer: PeerIdentity) -> String?
    /// A Raft message from an authenticated peer (its `from` equals the certificate's transport id).
    func transport(_ transport: Transport, didReceive message: Message, from peer: PeerIdentity)
    /// An application frame on any authenticated connection; answer with `reply(application:on:)`.
    func transport(_ transport: Transport, didReceive application: ApplicationFrame, on connection: ConnectionInfo)
    /// Our outbound link to `peer` completed its handshake; queued frames now flow.
    func transport(_ transport: Transport, peerConnected peer: NodeID)
    /// Our outbound link to `peer` broke (it reconnects with backoff). Frames keep queueing.
    func transport(_ transport: Transport, peerDisconnected peer: NodeID)
    /// An inbound connection or a join session we opened completed its TLS handshake.
    func transport(_ transport: Transport, connectionEstablished connection: ConnectionInfo)
    /// An established inbound connection or session closed.
    func transport(_ transport: Transport, connectionClosed connection: ConnectionInfo, reason: String)
    /// A session from `openJoinSession` closed before its handshake completed.
    func transport(_ transport: Transport, sessionFailed connection: ConnectionID, reason: String)
}

extension TransportDelegate {
    public func transport(_ transport: Transport, shouldRefuse peer: PeerIdentity) -> String? { nil }
    public func transport(_ transport: Transport, didReceive application: ApplicationFrame, on connection: ConnectionInfo) {}
    public func transport(_ transport: Transport, peerConnected peer: NodeID) {}
    public func transport(_ transport: Transport, peerDisconnected peer: NodeID) {}
    public func transport(_ transport: Transport, connectionEstablished connection: ConnectionInfo) {}
    public func transport(_ transport: Transport, connectionClosed connection: ConnectionInfo, reason: String) {}
    public func transport(_ transport: Transport, sessionFailed connection: ConnectionID, reason: String) {}
}
