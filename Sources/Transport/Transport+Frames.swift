import Crypto
import Platform
import Raft

/// Receiving: TLS, the peer's identity, framing, delivery to the delegate, and clean-up.
extension Transport {
    func outboundConnected(_ connection: TransportConnection) {
        do {
            try connection.session.start()
        } catch {
            return refuse(connection, reason: "\(error)")
        }
        writeTLSOutput(of: connection)
        connection.io.flush()
    }

    func received(_ bytes: UnsafeRawBufferPointer, on connection: TransportConnection) {
        connection.lastReceiveMillis = Self.nowMillis()
        let plaintext: [UInt8]
        do {
            plaintext = try connection.session.receive(Array(bytes))
        } catch .closedByPeer {
            return connection.io.close(reason: "peer closed the TLS session")
        } catch {
            // The session may have queued an alert telling the peer why.
            writeTLSOutput(of: connection)
            return refuse(connection, reason: "\(error)", flush: true)
        }
        writeTLSOutput(of: connection)
        connection.io.flush()
        guard connection.io.state == .open else { return }
        if !connection.isEstablished {
            guard connection.session.isHandshakeComplete else {
                if !plaintext.isEmpty { refuse(connection, reason: "data before the TLS handshake completed") }
                return
            }
            handshakeCompleted(connection)
            guard connection.io.state == .open, connection.isEstablished else { return }
        }
        if !plaintext.isEmpty { decode(plaintext, on: connection) }
    }

    /// Feeds decrypted bytes to the frame decoder and delivers every complete frame, keeping the
    /// bytes of partial frames inside the transport-wide budget. Managers are exempt (they hold
    /// the root key; nothing is gained by limiting them): the budget is for worker and join
    /// connections, so those can never crowd out the managers' traffic.
    private func decode(_ plaintext: [UInt8], on connection: TransportConnection) {
        bufferedFrameBytes -= connection.accountedBytes
        connection.accountedBytes = 0
        connection.decoder.feed(plaintext)
        while connection.io.state == .open {
            let frame: Frame
            do {
                guard let raw = try connection.decoder.nextFrame() else { break }
                frame = try Frame(raw)
            } catch {
                return refuse(connection, reason: "\(error)")
            }
            deliver(frame, on: connection)
        }
        guard connection.io.state == .open, connection.peer?.role != .manager else { return }
        connection.accountedBytes = connection.decoder.bufferedByteCount
        bufferedFrameBytes += connection.accountedBytes
        if bufferedFrameBytes > configuration.maxBufferedFrameBytes {
            refuse(connection, reason: "frame memory budget of \(configuration.maxBufferedFrameBytes) bytes exhausted "
                + "(\(connection.accountedBytes) bytes of partial frames on this connection)")
        }
    }

    /// The TLS handshake finished: establish who the peer is from its verified certificate.
    private func handshakeCompleted(_ connection: TransportConnection) {
        if connection.kind == .joinSession { return establish(connection, peer: nil) }
        guard let leaf = connection.session.peerCertificateChain.first else {
            guard connection.kind == .inbound else { return refuse(connection, reason: "the server presented no certificate") }
            return establish(connection, peer: nil)
        }
        let peer: PeerIdentity
        switch PeerIdentity.from(leaf, clusterID: configuration.clusterID) {
        case let .failure(error): return refuseAfterHandshake(connection, reason: error.description)
        case let .success(identity): peer = identity
        }
        if let expected = connection.linkPeer {
            // Its role is the node's business: the authorization table checks every frame.
            guard peer.transportID == expected else {
                return refuseAfterHandshake(connection, reason: "expected transport id \(expected) but \(peer) (transport id \(peer.transportID)) answered")
            }
        }
        if let reason = delegate?.transport(self, shouldRefuse: peer) {
            if let farewell = delegate?.transport(self, farewellTo: peer) { write(Frame.application(farewell).encoded(), on: connection) }
            return refuseAfterHandshake(connection, reason: reason)
        }
        if connection.kind == .inbound { makeRoomForConnection(of: peer) }
        establish(connection, peer: peer)
    }

    /// Keeps at most `maxConnectionsPerPeer` authenticated inbound connections per node: the
    /// oldest make room (a reconnecting node's newest connection is the live one).
    private func makeRoomForConnection(of peer: PeerIdentity) {
        let existing = connections.values
            .filter { $0.kind == .inbound && $0.peer?.nodeID == peer.nodeID }
            .sorted { $0.id.rawValue < $1.id.rawValue }
        for old in existing.prefix(max(0, existing.count - configuration.maxConnectionsPerPeer + 1)) {
            refuse(old, reason: "\(peer) has \(existing.count) connections; keeping the newest \(configuration.maxConnectionsPerPeer)")
        }
    }

    private func establish(_ connection: TransportConnection, peer: PeerIdentity?) {
        if let timer = connection.handshakeTimer { loop.cancel(timer) }
        connection.handshakeTimer = nil
        connection.phase = .established(peer)
        if peer == nil && connection.kind == .inbound {
            // Join-only: one small frame, a deadline, and it keeps its pre-auth slot.
            connection.decoder.maxPayloadSize = configuration.maxJoinFrameSize
            let timeout = configuration.joinTimeoutMillis
            connection.handshakeTimer = loop.schedule(afterMillis: timeout) { [weak self, weak connection] in
                guard let self, let connection else { return }
                connection.handshakeTimer = nil
                refuse(connection, reason: "join-only connection still open after \(timeout) ms")
            }
        } else {
            connection.decoder.maxPayloadSize = configuration.maxFrameSize
            if connection.isPreAuth {
                preAuth.remove(connection.id, from: connection.source)
                connection.isPreAuth = false
            }
        }
        log("connection \(connection.label) established")
        if let peerID = connection.linkPeer, let link = links[peerID], link.connection === connection {
            link.backoff.reset()
            delegate?.transport(self, peerConnected: peerID)
            pump(link)
        } else if let info = connection.info {
            delegate?.transport(self, connectionEstablished: info)
        }
    }

    private func deliver(_ frame: Frame, on connection: TransportConnection) {
        guard case let .established(peer) = connection.phase else { return }
        if let peer, faultRules.isEnabled && faultRules.shouldDrop(from: peer.transportID) { return }
        switch frame {
        case let .raftMessage(message):
            guard let peer else { return refuse(connection, reason: "Raft message on a connection without a certificate") }
            guard message.from == peer.transportID, message.to == configuration.localNodeID else {
                return refuse(connection, reason: "Raft message from node \(message.from) to node \(message.to) on a connection "
                    + "authenticated as node \(peer.transportID) to node \(configuration.localNodeID)")
            }
            delegate?.transport(self, didReceive: message, from: peer)
        case let .application(application):
            if peer == nil && connection.kind == .inbound {
                connection.joinFrames += 1
                guard connection.joinFrames == 1 else {
                    return refuse(connection, reason: "a connection without a certificate may send one join request")
                }
            }
            guard let info = connection.info else { return }
            delegate?.transport(self, didReceive: application, on: info)
        }
    }

    /// Refuses a peer whose handshake completed: close_notify first, so a TLS 1.3 client that
    /// believes it is connected learns of the refusal on its next read.
    private func refuseAfterHandshake(_ connection: TransportConnection, reason: String) {
        connection.session.shutdown()
        writeTLSOutput(of: connection)
        refuse(connection, reason: "refused: \(reason)", flush: true)
    }

    /// Closes a connection that broke the protocol, was refused or timed out; the reason lands
    /// in the log via `closed`, and `refusedConnections` counts it.
    func refuse(_ connection: TransportConnection, reason: String, flush: Bool = false) {
        guard connection.io.state != .closed else { return }
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
        if connection.isPreAuth {
            preAuth.remove(connection.id, from: connection.source)
            connection.isPreAuth = false
        }
        bufferedFrameBytes -= connection.accountedBytes
        connection.accountedBytes = 0
        precondition(bufferedFrameBytes >= 0, "buffered frame bytes went negative")
        log("connection \(connection.label) closed: \(reason)")
        guard !isShutDown else { return }
        if let peer = connection.linkPeer {
            guard let link = links[peer], link.connection === connection else { return }
            link.connection = nil
            if connection.isEstablished { delegate?.transport(self, peerDisconnected: peer) }
            scheduleReconnect(link)
        } else if let info = connection.info {
            delegate?.transport(self, connectionClosed: info, reason: reason)
        } else if connection.kind == .joinSession {
            delegate?.transport(self, sessionFailed: connection.id, reason: reason)
        }
    }
}
