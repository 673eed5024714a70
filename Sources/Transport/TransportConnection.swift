import Platform
import Raft

/// One socket of a Transport with its framing and handshake state. Loop-confined.
///
/// It exists to keep per-connection state (decoder, handshake phase, timers) in one place so the
/// Transport only routes; a connection is either still proving who it is or fully established,
/// and only established connections deliver anything to the node.
final class TransportConnection {
    enum Phase {
        case initiating(InitiatorHandshake)
        case accepting(AcceptorHandshake)
        case established(HandshakeResult)
    }

    /// Largest frame accepted before the handshake completes (hello, challenge, proof, rejected).
    static let maxHandshakeFrameSize = 4096

    let id: ConnectionID
    let direction: ConnectionInfo.Direction
    let io: BufferedConnection
    /// The peer whose outbound link this is; nil for inbound connections and sessions.
    let linkPeer: NodeID?
    var decoder: FrameDecoder
    var phase: Phase
    var handshakeTimer: TimerHandle?
    var flushScheduled = false

    init(id: ConnectionID, direction: ConnectionInfo.Direction, io: BufferedConnection, linkPeer: NodeID?,
         phase: Phase, maxFrameSize: Int) {
        self.id = id
        self.direction = direction
        self.io = io
        self.linkPeer = linkPeer
        self.phase = phase
        // Until the peer is authenticated only small handshake frames are accepted, so a stranger
        // cannot make this node buffer a maximal frame per connection.
        self.decoder = FrameDecoder(maxPayloadSize: min(maxFrameSize, Self.maxHandshakeFrameSize))
    }

    var isEstablished: Bool {
        if case .established = phase { return true }
        return false
    }

    /// What the node sees, once the peer has proven its identity.
    var info: ConnectionInfo? {
        guard case let .established(result) = phase else { return nil }
        return ConnectionInfo(id: id, remoteNodeID: result.remoteNodeID, purpose: result.purpose, direction: direction)
    }

    /// For logs: "#7 inbound from tcp://127.0.0.1:51234 (node 3, peer)".
    var label: String {
        let side = direction == .inbound ? "inbound from" : "outbound to"
        var text = "\(id) \(side) \(io.socket.address)"
        if case let .established(result) = phase { text += " (node \(result.remoteNodeID), \(result.purpose))" }
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
