import Platform
import Raft

/// Receiving: framing, the handshake, delivery to the delegate, and connection clean-up.
extension Transport {
    func outboundConnected(_ connection: TransportConnection) {
        guard case let .initiating(handshake) = connection.phase else { return }
        write(handshake.helloFrame, on: connection)
    }

    func received(_ bytes: UnsafeRawBufferPointer, on connection: TransportConnection) {
        connection.decoder.feed(bytes)
        while connection.io.state == .open {
            let frame: Frame
            do {
                guard let raw = try connection.decoder.nextFrame() else { return }
                frame = try Frame(raw)
            } catch {
                return refuse(connection, reason: "\(error)")
            }
            handle(frame, on: connection)
        }
    }

    private func handle(_ frame: Frame, on connection: TransportConnection) {
        switch connection.phase {
        case var .initiating(handshake):
            let action = handshake.receive(frame)
            connection.phase = .initiating(handshake)
            perform(action, on: connection)
        case var .accepting(handshake):
            let action = handshake.receive(frame)
            connection.phase = .accepting(handshake)
            perform(action, on: connection)
        case let .established(result):
            deliver(frame, from: result, on: connection)
        }
    }

    private func perform(_ action: HandshakeAction, on connection: TransportConnection) {
        switch action {
        case let .send(frame):
            write(frame, on: connection)
        case let .established(result, reply):
            if let reply { write(reply, on: connection) }
            connection.phase = .established(result)
            connection.decoder.maxPayloadSize = configuration.maxFrameSize
            established(connection)
        case let .failed(reason, reply):
            if let reply { connection.io.enqueue(reply.encoded()) }
            refuse(connection, reason: "handshake failed: \(reason)", flush: true)
        }
    }

    private func established(_ connection: TransportConnection) {
        if let timer = connection.handshakeTimer { loop.cancel(timer) }
        connection.handshakeTimer = nil
        if connection.direction == .inbound { pendingHandshakes -= 1 }
        log("connection \(connection.label) established")
        if let peer = connection.linkPeer, let link = links[peer], link.connection === connection {
            link.backoff.reset()
            delegate?.transport(self, peerConnected: peer)
            pump(link)
        } else if let info = connection.info {
            delegate?.transport(self, connectionEstablished: info)
        }
    }

    private func deliver(_ frame: Frame, from result: HandshakeResult, on connection: TransportConnection) {
        if faultRules.isEnabled && faultRules.shouldDrop(from: result.remoteNodeID) { return }
        switch frame {
        case let .raftMessage(message):
            guard result.purpose == .peer else {
                return refuse(connection, reason: "Raft message on a \(result.purpose) connection")
            }
            guard message.from == result.remoteNodeID, message.to == configuration.localNodeID else {
                return refuse(connection, reason: "Raft message from node \(message.from) to node \(message.to) on a connection "
                    + "authenticated as node \(result.remoteNodeID) to node \(configuration.localNodeID)")
            }
            delegate?.transport(self, didReceive: message, from: result.remoteNodeID)
        case let .application(application):
            guard let info = connection.info else { return }
            delegate?.transport(self, didReceive: application, on: info)
        default:
            refuse(connection, reason: "unexpected \(frame.type) frame after the handshake")
        }
    }

    /// Handshake frames go out at once: they are small and the peer is waiting for them.
    private func write(_ frame: Frame, on connection: TransportConnection) {
        connection.io.enqueue(frame.encoded())
        connection.io.flush()
    }

    /// Closes a connection that broke the protocol or timed out; the reason lands in the log via
    /// `closed`, and `refusedConnections` counts it.
    func refuse(_ connection: TransportConnection, reason: String, flush: Bool = false) {
        refusedConnections += 1
        if flush {
            connection.io.flushAndClose(reason: reason)
        } else {
            connection.io.close(reason: reason)
        }
    }

    func closed(_ connection: TransportConnection, reason: String) {
        connections.removeValue(forKey: connection.id)
        if let timer = connection.handshakeTimer { loop.cancel(timer) }
        connection.handshakeTimer = nil
        let wasEstablished = connection.isEstablished
        if connection.direction == .inbound && !wasEstablished { pendingHandshakes -= 1 }
        precondition(pendingHandshakes >= 0, "pending handshake count went negative")
        log("connection \(connection.label) closed: \(reason)")
        guard !isShutDown else { return }
        if let peer = connection.linkPeer {
            guard let link = links[peer], link.connection === connection else { return }
            link.connection = nil
            if wasEstablished { delegate?.transport(self, peerDisconnected: peer) }
            scheduleReconnect(link)
        } else if let info = connection.info {
            delegate?.transport(self, connectionClosed: info, reason: reason)
        } else if connection.direction == .outbound {
            delegate?.transport(self, sessionFailed: connection.id, reason: reason)
        }
    }
}
