import Raft

/// Settings of a `Transport`; every queue and timeout has an explicit limit.
///
/// It exists so limits are chosen once, visibly, and tests can shrink them (short handshake
/// timeout, small queues) without touching the code.
public struct TransportConfiguration: Sendable {
    public var clusterID: String
    public var localNodeID: NodeID
    /// Largest frame payload accepted or sent (checked before allocating).
    public var maxFrameSize = FrameDecoder.defaultMaxPayloadSize
    /// A connection that has not completed the handshake by then is closed.
    public var handshakeTimeoutMillis = 5_000
    /// Unauthenticated inbound connections allowed at once; more are closed on accept.
    public var maxPendingHandshakes = 256
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
        precondition(!clusterID.isEmpty && clusterID.utf8.count <= Hello.maxClusterIDLength, "cluster id must be 1...256 bytes")
        precondition(maxFrameSize > 0 && maxFrameSize <= Int(UInt32.max), "maxFrameSize out of range: \(maxFrameSize)")
        precondition(handshakeTimeoutMillis > 0, "handshake timeout must be positive")
        precondition(maxQueuedBytesPerPeer >= maxFrameSize + Frame.headerSize, "peer queue must hold one maximal frame")
        precondition(writeBatchBytes > 0 && maxPendingHandshakes > 0 && maxQueuedFramesPerPeer > 0, "limits must be positive")
    }
}

/// Identifies one connection for its lifetime (never reused within a Transport). It exists so the
/// node can answer on the connection a request came in on (joins) without holding the socket.
public struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public var description: String { "#\(rawValue)" }
}

/// An authenticated connection as the node shell sees it. It exists so the shell decides what to
/// do with a frame from who sent it and why they connected, not from socket details.
public struct ConnectionInfo: Sendable, Equatable {
    public enum Direction: Sendable, Equatable {
        /// Accepted by our listener.
        case inbound
        /// Opened by us: a peer link (`connect(to:at:)`) or a session (`openSession`).
        case outbound
    }

    public var id: ConnectionID
    public var remoteNodeID: NodeID
    public var purpose: HandshakePurpose
    public var direction: Direction
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
    /// The key `nodeID` must prove for `purpose`: the node credential for `.peer`, the join-token
    /// secret for joins; nil refuses. A peer link is keyed by the dialling node's credential, so
    /// when we dial, this is asked with our own node id.
    func handshakeKey(for nodeID: NodeID, purpose: HandshakePurpose) -> [UInt8]?
    /// A Raft message from an authenticated peer (its `from` equals `peer`).
    func transport(_ transport: Transport, didReceive message: Message, from peer: NodeID)
    /// An application frame on any authenticated connection; answer with `reply(application:on:)`.
    func transport(_ transport: Transport, didReceive application: ApplicationFrame, on connection: ConnectionInfo)
    /// Our outbound link to `peer` completed its handshake; queued frames now flow.
    func transport(_ transport: Transport, peerConnected peer: NodeID)
    /// Our outbound link to `peer` broke (it reconnects with backoff). Frames keep queueing.
    func transport(_ transport: Transport, peerDisconnected peer: NodeID)
    /// An inbound connection or a session we opened completed its handshake.
    func transport(_ transport: Transport, connectionEstablished connection: ConnectionInfo)
    /// An established inbound connection or session closed.
    func transport(_ transport: Transport, connectionClosed connection: ConnectionInfo, reason: String)
    /// A session from `openSession` closed before its handshake completed.
    func transport(_ transport: Transport, sessionFailed connection: ConnectionID, reason: String)
}

extension TransportDelegate {
    public func transport(_ transport: Transport, didReceive application: ApplicationFrame, on connection: ConnectionInfo) {}
    public func transport(_ transport: Transport, peerConnected peer: NodeID) {}
    public func transport(_ transport: Transport, peerDisconnected peer: NodeID) {}
    public func transport(_ transport: Transport, connectionEstablished connection: ConnectionInfo) {}
    public func transport(_ transport: Transport, connectionClosed connection: ConnectionInfo, reason: String) {}
    public func transport(_ transport: Transport, sessionFailed connection: ConnectionID, reason: String) {}
}
