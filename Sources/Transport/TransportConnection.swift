import Crypto
import Platform
import Raft

/// One socket of a Transport with its TLS session, framing and limits. Loop-confined.
///
/// It exists to keep per-connection state (TLS session, decoder, phase, timers) in one place so
/// the Transport only routes. Bytes flow socket → TLS → frame decoder on the way in and frames →
/// TLS → socket on the way out; only established connections deliver anything to the node.
final class TransportConnection {
    enum Kind: Equatable {
        /// Accepted by our listener.
        case inbound
        /// Our link to a peer (we verify its server certificate names that peer).
        case link(NodeID)
        /// Our join session: the server's chain is checked by the caller, not here.
        case joinSession
    }

    enum Phase: Equatable {
        case handshaking
        /// `peer` is nil on a join-only inbound connection and on a join session.
        case established(PeerIdentity?)
    }

    let id: ConnectionID
    let kind: Kind
    let io: BufferedConnection
    let session: TLSSession
    /// The source address key for the pre-auth table (inbound only).
    let source: UInt64
    var decoder: FrameDecoder
    var phase = Phase.handshaking
    /// Counted in the transport's pre-auth table (handshaking, or join-only).
    var isPreAuth = false
    var handshakeTimer: TimerHandle?
    var flushScheduled = false
    /// Partial-frame bytes this connection holds in the transport's budget.
    var accountedBytes = 0
    /// Frames received on a join-only connection (one is allowed).
    var joinFrames = 0
    var lastReceiveMillis: UInt64

    init(id: ConnectionID, kind: Kind, io: BufferedConnection, session: TLSSession, source: UInt64, now: UInt64) {
        self.id = id
        self.kind = kind
        self.io = io
        self.session = session
        self.source = source
        lastReceiveMillis = now
        // Nothing is decoded before the TLS handshake; the limit is set once the peer is known.
        decoder = FrameDecoder(maxPayloadSize: 1)
    }

    var direction: ConnectionInfo.Direction { kind == .inbound ? .inbound : .outbound }

    var linkPeer: NodeID? {
        if case let .link(peer) = kind { return peer }
        return nil
    }

    var isEstablished: Bool { phase != .handshaking }

    /// The verified peer, nil before the handshake and on connections without a certificate.
    var peer: PeerIdentity? {
        if case let .established(peer) = phase { return peer }
        return nil
    }

    /// What the node sees, once established.
    var info: ConnectionInfo? {
        guard case let .established(peer) = phase else { return nil }
        return ConnectionInfo(id: id, peer: peer, direction: direction)
    }

    /// For logs: "#7 inbound from tcp://127.0.0.1:51234 (node abc (swarm-worker))".
    var label: String {
        let side = direction == .inbound ? "inbound from" : "outbound to"
        var text = "\(id) \(side) \(io.socket.address)"
        switch phase {
        case .handshaking: break
        case let .established(peer?): text += " (\(peer))"
        case .established(nil): text += kind == .joinSession ? " (join session)" : " (join-only)"
        }
        if session.isBenchmarkPlaintext { text += " [BENCHMARK ONLY: NOT ENCRYPTED]" }
        return text
    }
}

/// Our outbound link to one peer: its address, bounded queue, connection and reconnect state.
///
/// It exists so frames for a peer survive reconnects (within the queue bounds) and so backoff is
/// tracked per peer. Loop-confined.
final class PeerLink {
    let nodeID: NodeID
    var address: SocketAddress
    var queue: PeerQueue
    var backoff: ReconnectBackoff
    var connection: TransportConnection?
    var reconnectTimer: TimerHandle?
    var pumpScheduled = false
    var pumping = false
    var statistics = PeerStatistics()

    init(nodeID: NodeID, address: SocketAddress, configuration: TransportConfiguration) {
        self.nodeID = nodeID
        self.address = address
        queue = PeerQueue(maxFrames: configuration.maxQueuedFramesPerPeer, maxBytes: configuration.maxQueuedBytesPerPeer)
        backoff = ReconnectBackoff(initialMillis: configuration.reconnectInitialMillis, maxMillis: configuration.reconnectMaxMillis)
    }

    var isEstablished: Bool { connection?.isEstablished ?? false }

    var currentStatistics: PeerStatistics {
        var result = statistics
        result.connected = isEstablished
        result.queuedFrames = queue.count
        result.queuedBytes = queue.byteCount
        result.droppedQueueFull = queue.droppedFrames
        return result
    }
}
