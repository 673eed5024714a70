import Crypto
import Glibc
import Platform
import Raft
@testable import Transport
import XCTest

/// Real transports on 127.0.0.1 with ephemeral ports: ordering, reconnects, hostile input,
/// slow peers. Every node is torn down in a teardown block, so a failure leaks nothing.
final class TransportLoopbackTests: XCTestCase {
    private func link(_ a: TestNode, to b: TestNode) throws {
        let (id, address) = (b.id, b.address)
        try a.onLoop { $0.connect(to: id, at: address) }
        waitUntil("node \(a.id) connected to node \(b.id)") { a.recorder.read { $0.connected.contains(id) } }
    }

    private func send(_ count: Int, from a: TestNode, to b: NodeID, startingAt first: UInt64 = 1, padding: Int = 0) throws {
        let from = a.id
        try a.onLoop { transport in
            for index in first..<first + UInt64(count) {
                transport.send(makeMessage(from: from, to: b, index: index, padding: padding), to: b)
            }
        }
    }

    func testTenThousandMessagesEachWayArriveInOrder() throws {
        let a = try startNode(1)
        let b = try startNode(2)
        try link(a, to: b)
        try link(b, to: a)
        try send(10_000, from: a, to: 2)
        try send(10_000, from: b, to: 1)
        waitUntil("10,000 messages at each node", timeoutSeconds: 30) {
            a.recorder.read { $0.messages.count } == 10_000 && b.recorder.read { $0.messages.count } == 10_000
        }
        XCTAssertEqual(b.recorder.read { $0.messages.map(\.index) }, Array(1...10_000))
        XCTAssertEqual(a.recorder.read { $0.messages.map(\.index) }, Array(1...10_000))
        XCTAssertTrue(b.recorder.read { $0.messages.allSatisfy { $0.from == 1 && $0.to == 2 } })
        XCTAssertEqual(a.statistics(for: 2)?.sentFrames, 10_000)
        XCTAssertEqual(a.statistics(for: 2)?.droppedQueueFull, 0)
        XCTAssertEqual(try a.onLoop { transport in
            transport.shutdown()
            return transport.loop.registeredCount
        }, 0, "shutdown leaves no descriptor registered")
    }

    func testPeersLinkOverUnixSockets() throws {
        let path = "/tmp/swarmctl-transport-\(getpid())-unix.sock"
        addTeardownBlock { unlink(path) }
        let a = try startNode(1, listenOn: nil)
        let b = try startNode(2, listenOn: .unix(path: path))
        try link(a, to: b)
        try send(3, from: a, to: 2)
        waitUntil("three messages over the unix socket") { b.recorder.read { $0.messages.count } == 3 }
        XCTAssertEqual(b.recorder.read { $0.messages.map(\.index) }, [1, 2, 3])
    }

    func testStrangerCannotAnnounceALargeFrameBeforeAuthenticating() throws {
        let b = try startNode(2)
        let client = try RawSocket.connect(to: b.address)
        try client.send([0x01, 0x10, 0x00, 0x00, FrameType.hello.rawValue])  // 4097 bytes: fine later, not now
        XCTAssertTrue(client.waitForClose())
        waitUntil("refusal logged") { b.logs.contains("closed: frame of 4097 bytes exceeds the limit of 4096 bytes") }
    }

    func testLinkReconnectsAfterThePeersListenerRestarts() throws {
        let a = try startNode(1)
        var b = try startNode(2)
        let port = try XCTUnwrap(b.address.port)
        try link(a, to: b)
        try send(1, from: a, to: 2)
        waitUntil("first message") { b.recorder.read { $0.messages.count } == 1 }

        b.shutdown()
        waitUntil("node 1 notices the link broke") { a.recorder.read { $0.disconnected } == [2] }
        try send(1, from: a, to: 2, startingAt: 2)  // queued while the peer is away

        b = try startNode(2, listenOn: .loopback(port: port))
        waitUntil("node 1 reconnects", timeoutSeconds: 15) { a.recorder.read { $0.connected } == [2, 2] }
        try send(1, from: a, to: 2, startingAt: 3)
        waitUntil("queued and new message after reconnect") { b.recorder.read { $0.messages.count } == 2 }
        XCTAssertEqual(b.recorder.read { $0.messages.map(\.index) }, [2, 3])
    }

    func testHostileInputIsRefusedAndLoggedWhileGoodPeersStillConnect() throws {
        let b = try startNode(2) { $0.handshakeTimeoutMillis = 300 }

        let silent = try RawSocket.connect(to: b.address)
        XCTAssertTrue(silent.waitForClose(), "a silent client is cut off")
        waitUntil("timeout logged") { b.logs.contains("closed: no handshake within 300 ms") }

        let noisy = try RawSocket.connect(to: b.address)
        var generator = SystemRandomNumberGenerator()
        try noisy.send((0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) })
        XCTAssertTrue(noisy.waitForClose(), "random bytes get the connection closed")

        let huge = try RawSocket.connect(to: b.address)
        try huge.send([0xff, 0xff, 0xff, 0xff, FrameType.hello.rawValue])
        XCTAssertTrue(huge.waitForClose())
        waitUntil("oversized frame logged") { b.logs.contains("closed: frame of 4294967295 bytes exceeds the limit") }

        let forger = try RawSocket.connect(to: b.address)
        let hello = Hello(protocolVersion: 1, clusterID: testCluster, senderNodeID: 50, purpose: .joinWorker, nonce: try Crypto.randomBytes(32))
        try forger.send(.hello(hello))
        guard case let .challenge(challenge) = try forger.readFrame() else { return XCTFail("expected a challenge") }
        let wrongProof = HandshakeProof.initiator(key: Array("stolen-looking-token".utf8), hello: hello, acceptorNodeID: 2,
                                                  acceptorNonce: challenge.nonce)
        try forger.send(.proof(mac: wrongProof))
        XCTAssertEqual(try forger.readFrame(), .rejected(reason: "authentication failed"))
        XCTAssertTrue(forger.waitForClose())
        waitUntil("bad token logged") { b.logs.contains("node 50 (join-worker) sent a proof that does not verify") }

        let wrongCluster = try RawSocket.connect(to: b.address)
        try wrongCluster.send(.hello(Hello(protocolVersion: 1, clusterID: "elsewhere", senderNodeID: 1, purpose: .peer,
                                           nonce: try Crypto.randomBytes(32))))
        XCTAssertEqual(try wrongCluster.readFrame(), .rejected(reason: "wrong cluster"))
        XCTAssertTrue(wrongCluster.waitForClose())

        waitUntil("five refusals counted") { (try? b.onLoop { $0.refusedConnections }) ?? 0 >= 5 }
        XCTAssertEqual(b.logs.count(" closed: "), 5, b.logs.all.joined(separator: "\n"))
        XCTAssertEqual(try b.onLoop { $0.establishedConnections }, [])

        let a = try startNode(1)
        try link(a, to: b)
        try link(b, to: a)
        try send(100, from: a, to: 2)
        try send(100, from: b, to: 1)
        waitUntil("good peers exchange messages") {
            a.recorder.read { $0.messages.count } == 100 && b.recorder.read { $0.messages.count } == 100
        }
    }

    func testWrongJoinTokenSessionFailsAndRightOneGetsAReply() throws {
        let echo = Recorder(keys: standardKeys()) { transport, frame, connection in
            transport.reply(application: ApplicationFrame(kind: frame.kind + 1, payload: frame.payload.reversed()), on: connection.id)
        }
        let manager = try startNode(2, recorder: echo)
        let joiner = try startNode(60, listenOn: nil)
        let address = manager.address

        try joiner.onLoop { _ = try $0.openSession(to: address, purpose: .joinWorker, key: Array("wrong".utf8)) }
        waitUntil("the joiner sees the failure") { joiner.recorder.read { $0.sessionFailures.count } == 1 }
        XCTAssertTrue(joiner.recorder.read { $0.sessionFailures[0] }.contains("failed to prove the join-worker key"))

        let session = try joiner.onLoop { try $0.openSession(to: address, purpose: .joinWorker, key: workerToken) }
        waitUntil("session established") { joiner.recorder.read { $0.established.count } == 1 }
        try joiner.onLoop { $0.reply(application: ApplicationFrame(kind: 10, payload: [1, 2, 3]), on: session) }
        waitUntil("reply received") { joiner.recorder.read { $0.applications.count } == 1 }
        let (reply, info) = joiner.recorder.read { $0.applications[0] }
        XCTAssertEqual(reply, ApplicationFrame(kind: 11, payload: [3, 2, 1]))
        XCTAssertEqual(info.remoteNodeID, 2)
        XCTAssertEqual(manager.recorder.read { $0.established.map(\.purpose) }, [.joinWorker])
    }

    func testRaftMessageClaimingAnotherSenderClosesTheConnection() throws {
        let a = try startNode(1)
        let b = try startNode(2)
        try link(a, to: b)
        try a.onLoop { $0.send(makeMessage(from: 1, to: 2, index: 1), to: 2) }
        waitUntil("genuine message") { b.recorder.read { $0.messages.count } == 1 }
        try a.onLoop { transport in
            var spoofed = makeMessage(from: 1, to: 2, index: 2)
            spoofed.from = 3
            transport.send(spoofed, to: 2)
        }
        waitUntil("spoof refused") { b.logs.contains("Raft message from node 3 to node 2 on a connection authenticated as node 1") }
        waitUntil("link re-established") { a.recorder.read { $0.connected.count } == 2 }
        XCTAssertEqual(b.recorder.read { $0.messages.map(\.index) }, [1])
    }

    func testFaultRulesDropFramesToOnePeer() throws {
        let a = try startNode(1)
        let b = try startNode(2)
        try link(a, to: b)
        try a.onLoop { $0.faultRules = FaultRules(dropAllTo: [2]) }
        try send(10, from: a, to: 2, startingAt: 1)
        try a.onLoop { $0.faultRules = .none }
        try send(1, from: a, to: 2, startingAt: 11)
        waitUntil("the undropped message") { b.recorder.read { $0.messages.count } == 1 }
        XCTAssertEqual(b.recorder.read { $0.messages.map(\.index) }, [11])
        XCTAssertEqual(a.statistics(for: 2)?.droppedByFaultRules, 10)
    }

    func testFaultRulesDropIncomingDuplicateAndDelay() throws {
        let a = try startNode(1)
        let b = try startNode(2)
        try link(a, to: b)
        try b.onLoop { $0.faultRules = FaultRules(dropAllFrom: [1]) }
        try send(5, from: a, to: 2, startingAt: 1)
        try a.onLoop { $0.faultRules = FaultRules(duplicateProbability: [2: 1]) }
        try b.onLoop { $0.faultRules = .none }
        try send(1, from: a, to: 2, startingAt: 6)
        waitUntil("the duplicated message twice") { b.recorder.read { $0.messages.count } == 2 }
        XCTAssertEqual(b.recorder.read { $0.messages.map(\.index) }, [6, 6], "incoming drops hide 1–5; 6 arrives twice")

        try a.onLoop { $0.faultRules = FaultRules(delayMillis: [2: 300]) }
        let sent = monotonicNanoseconds()
        try send(1, from: a, to: 2, startingAt: 7)
        waitUntil("the delayed message") { b.recorder.read { $0.messages.count } == 3 }
        XCTAssertGreaterThanOrEqual(monotonicNanoseconds() - sent, 300_000_000, "delivered no earlier than the delay")
    }

    func testSlowPeerNeverBlocksOtherPeersAndItsQueueStaysBounded() throws {
        let a = try startNode(1) {
            $0.maxQueuedFramesPerPeer = 500
            $0.maxQueuedBytesPerPeer = 32 << 20
            $0.writeBatchBytes = 64 << 10
        }
        let good = try startNode(2)

        // Node 3 is a raw socket that completes the handshake and then never reads again.
        let slowListener = try Socket.listen(on: .loopback(port: 0))
        let slowAddress = try slowListener.localAddress()
        try a.onLoop { $0.connect(to: 3, at: slowAddress) }
        let slow = try RawSocket.accept(on: slowListener)
        guard case let .hello(hello) = try slow.readFrame() else { return XCTFail("expected hello from node 1") }
        var acceptor = AcceptorHandshake(clusterID: testCluster, localNodeID: 3, nonce: try Crypto.randomBytes(32)) { _, _ in peerSecret }
        guard case let .send(challenge) = acceptor.receive(.hello(hello)) else { return XCTFail("challenge") }
        try slow.send(challenge)
        guard case .established(_, let accepted?) = acceptor.receive(try XCTUnwrap(slow.readFrame())) else { return XCTFail("proof") }
        try slow.send(accepted)
        try link(a, to: good)
        waitUntil("link to the slow peer") { a.recorder.read { $0.connected.contains(3) } }

        for round in 0..<20 {
            let first = UInt64(round * 500 + 1)
            try send(500, from: a, to: 3, startingAt: first, padding: 4_096)
            try send(500, from: a, to: 2, startingAt: first)
        }
        waitUntil("all 10,000 messages at the good peer", timeoutSeconds: 30) { good.recorder.read { $0.messages.count } == 10_000 }
        XCTAssertEqual(good.recorder.read { $0.messages.map(\.index) }, Array(1...10_000))
        let stalled = try XCTUnwrap(a.statistics(for: 3))
        XCTAssertTrue(stalled.connected)
        XCTAssertLessThanOrEqual(stalled.queuedFrames, 500)
        XCTAssertGreaterThan(stalled.droppedQueueFull, 0, "the slow peer's queue overflowed and dropped its oldest frames")
        XCTAssertEqual(UInt64(stalled.queuedFrames) + stalled.sentFrames + stalled.droppedQueueFull, 10_000)
        withExtendedLifetime(slow) {}
    }
}
