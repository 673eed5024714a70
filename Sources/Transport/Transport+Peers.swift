import Crypto
import Platform
import Raft

/// Sending: the per-peer queue, write batching, dialling and reconnect with backoff.
extension Transport {
    func enqueue(_ frame: Frame, to peer: NodeID) {
        guard let link = links[peer] else {
            droppedForUnknownPeer += 1
            return
        }
        if faultRules.isEnabled {
            if faultRules.shouldDrop(to: peer, roll: Double.random(in: 0..<1)) {
                link.statistics.droppedByFaultRules += 1
                return
            }
            let copies = faultRules.shouldDuplicate(to: peer, roll: Double.random(in: 0..<1)) ? 2 : 1
            let delay = faultRules.delay(to: peer, roll: Double.random(in: 0..<1))
            if delay > 0 || copies > 1 {
                for _ in 0..<copies {
                    _ = loop.schedule(afterMillis: delay) { [weak self] in self?.enqueueNow(frame, to: peer) }
                }
                return
            }
        }
        enqueueNow(frame, to: peer)
    }

    /// Queues `frame` on the link to `peer` without consulting the fault rules.
    private func enqueueNow(_ frame: Frame, to peer: NodeID) {
        guard let link = links[peer] else {
            droppedForUnknownPeer += 1
            return
        }
        let bytes = frame.encoded()
        guard bytes.count - Frame.headerSize <= configuration.maxFrameSize else {
            link.statistics.droppedOversized += 1
            return log("dropped a \(frame.type) frame of \(bytes.count) bytes to node \(peer): over the frame limit")
        }
        link.queue.append(bytes)
        schedulePump(link)
    }

    /// Moves queued frames to the socket once per loop iteration, so a burst of sends becomes a
    /// few large writes instead of one system call per frame.
    private func schedulePump(_ link: PeerLink) {
        guard link.isEstablished, !link.pumpScheduled else { return }
        link.pumpScheduled = true
        loop.afterCurrentIteration { [weak self, weak link] in
            guard let self, let link else { return }
            link.pumpScheduled = false
            pump(link)
        }
    }

    /// Fills the connection's write buffer up to `writeBatchBytes` and flushes, repeating while
    /// the kernel keeps taking everything; stops (until `drained`) when the socket is full.
    func pump(_ link: PeerLink) {
        guard !link.pumping, let connection = link.connection, connection.isEstablished else { return }
        link.pumping = true
        defer { link.pumping = false }
        while !link.queue.isEmpty && connection.io.state == .open {
            // Many frames become one TLS write (few records, one system call).
            var batch: [UInt8] = []
            let room = configuration.writeBatchBytes - connection.io.pendingWriteBytes
            while batch.count < room, let frame = link.queue.popFirst() {
                batch.append(contentsOf: frame)
                link.statistics.sentFrames += 1
            }
            if !batch.isEmpty { guard write(batch, on: connection) else { return } }
            connection.io.flush()
            if connection.io.pendingWriteBytes > 0 { return }
        }
    }

    func drained(_ connection: TransportConnection) {
        guard let peer = connection.linkPeer, let link = links[peer], link.connection === connection else { return }
        pump(link)
    }

    func dial(_ link: PeerLink) {
        guard !isShutDown, links[link.nodeID] === link, link.connection == nil else { return }
        link.statistics.connectAttempts += 1
        guard let tls else {
            log("no certificate to present to node \(link.nodeID) yet; will retry")
            return scheduleReconnect(link)
        }
        do {
            let (socket, connected) = try Socket.connect(to: link.address)
            let connection = try makeConnection(socket, connecting: !connected, kind: .link(link.nodeID), context: tls.client)
            link.connection = connection
            if connected { outboundConnected(connection) }
        } catch {
            log("connecting to node \(link.nodeID) at \(link.address) failed: \(error)")
            scheduleReconnect(link)
        }
    }

    func scheduleReconnect(_ link: PeerLink) {
        guard !isShutDown, links[link.nodeID] === link, link.connection == nil, link.reconnectTimer == nil else { return }
        let delay = link.backoff.nextDelay { Int.random(in: $0) }
        link.reconnectTimer = loop.schedule(afterMillis: delay) { [weak self, weak link] in
            guard let self, let link else { return }
            link.reconnectTimer = nil
            dial(link)
        }
    }
}
