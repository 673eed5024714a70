import Crypto
import Glibc
import Platform
import Raft
@testable import Transport
import XCTest

/// Real transports on 127.0.0.1 with ephemeral ports, over mutual TLS: ordering, reconnects,
/// hostile input, slow peers. Every node is torn down in a teardown block, so a failure leaks
/// nothing.
final class TransportLoopbackTests: XCTestCase {
    private func link(_ a: TestNode, to b: TestNode) throws {
        let (id, address) = (b.id, b.address)
        try a.onLoop { $0.connect(to: id, at: address) }
        waitUntil("node \(a.name) connected to node \(b.name)") { a.recorder.read { $0.connected.contains(id) } }
    }

    private func send(_ count: Int, from a: TestNode, to b: NodeID, startingAt first: UInt64 = 1, padding: Int = 0) throws {
        let from = a.id
        try a.onLoop { transport in
            for index in first..<first + UInt64(count) {
                transport.send(makeMessage(from: from, to: b, index: index, padding: padding), to: b)
            }
        }
    }

    func testTenThousandMessagesEachWayArriveInOrderOverMutualTLS() throws {
        let a = try startNode("nodea")
        let b = try startNode("nodeb")
        try link(a, to: b)
        try link(b, to: a)
        try send(10_000, from: a, to: b.id)
        try send(10_000, from: b, to: a.id)
        waitUntil("10,000 messages at each node", timeoutSeconds: 30) {
            a.recorder.read { $0.messages.count } == 10_000 && b.recorder.read { $0.messages.count } == 10_000
        }
        XCTAssertEqual(b.recorder.read { $0.messages.map(\.index) }, Array(1...10_000))
        XCTAssertEqual(a.recorder.read { $0.messages.map(\.index) }, Array(1...10_000))
        XCTAssertTrue(b.recorder.read { $0.messages.allSatisfy { $0.from == a.id && $0.to == b.id } })
        XCTAssertEqual(b.recorder.read { Set($0.messagePeers.map { "\($0.nodeID) \($0.role.rawValue) \($0.transportID)" }) },
                       ["nodea swarm-manager \(a.id)"], "the sender's identity is the one its certificate names")
        XCTAssertEqual(a.statistics(for: b.id)?.sentFrames, 10_000)
        XCTAssertEqual(a.statistics(for: b.id)?.droppedQueueFull, 0)
        XCTAssertEqual(try a.onLoop { transport in
            transport.shutdown()
            return transport.loop.registeredCount
        }, 0, "shutdown leaves no descriptor registered")
    }

    func testPeersLinkOverUnixSockets() throws {
        let path = "/tmp/swarmctl-transport-\(getpid())-unix.sock"
        addTeardownBlock { unlink(path) }
        let a = try startNode("nodea", listenOn: nil)
        let b = try startNode("nodeb", listenOn: .unix(path: path))
        try link(a, to: b)
        try send(3, from: a, to: b.id)
        waitUntil("three messages over the unix socket") { b.recorder.read { $0.messages.count } == 3 }
        XCTAssertEqual(b.recorder.read { $0.messages.map(\.index) }, [1, 2, 3])
    }

    func testLinkReconnectsAfterThePeersListenerRestarts() throws {
        let a = try startNode("nodea")
        var b = try startNode("nodeb")
        let port = try XCTUnwrap(b.address.port)
        try link(a, to: b)
        try send(1, from: a, to: b.id)
        waitUntil("first message") { b.recorder.read { $0.messages.count } == 1 }

        b.shutdown()
        waitUntil("node a notices the link broke") { a.recorder.read { $0.disconnected } == [b.id] }
        try send(1, from: a, to: b.id, startingAt: 2)  // queued while the peer is away

        b = try startNode("nodeb", listenOn: .loopback(port: port))
        waitUntil("node a reconnects", timeoutSeconds: 15) { a.recorder.read { $0.connected } == [b.id, b.id] }
        try send(1, from: a, to: b.id, startingAt: 3)
        waitUntil("queued and new message after reconnect") { b.recorder.read { $0.messages.count } == 2 }
        XCTAssertEqual(b.recorder.read { $0.messages.map(\.index) }, [2, 3])
    }

    func testClientWithoutCertificateMaySendOneSmallJoinFrameAndNothingElse() throws {
        let b = try startNode("nodeb") { $0.maxJoinFrameSize = 4096 }

        let joiner = try TLSClient(connectingTo: b.address, identity: nil)
        try joiner.handshake()
        try joiner.send(.application(ApplicationFrame(kind: 1, payload: Array("join me".utf8))))
        waitUntil("the join frame is delivered") { b.recorder.read { $0.applications.count } == 1 }
        let (frame, info) = b.recorder.read { $0.applications[0] }
        XCTAssertEqual(frame.payload, Array("join me".utf8))
        XCTAssertNil(info.peer, "a connection without a certificate has no identity")
        try joiner.send(.application(ApplicationFrame(kind: 1, payload: [])))
        XCTAssertTrue(joiner.waitForClose(), "a second frame closes it")
        waitUntil("logged") { b.logs.contains("a connection without a certificate may send one join request") }

        let raft = try TLSClient(connectingTo: b.address, identity: nil)
        try raft.handshake()
        try raft.send(.raftMessage(makeMessage(from: 7, to: b.id, index: 1)))
        XCTAssertTrue(raft.waitForClose())
        waitUntil("logged") { b.logs.contains("Raft message on a connection without a certificate") }

        let big = try TLSClient(connectingTo: b.address, identity: nil)
        try big.handshake()
        try big.sendPlaintext([0x01, 0x10, 0x00, 0x00, FrameType.application.rawValue])  // 4097 bytes announced
        XCTAssertTrue(big.waitForClose())
        waitUntil("logged") { b.logs.contains("frame of 4097 bytes exceeds the limit of 4096 bytes") }
        XCTAssertEqual(b.recorder.read { $0.messages.count }, 0)
        XCTAssertEqual(b.recorder.read { $0.applications.count }, 1)
    }

    func testCertificatesFromAnotherCAExpiredOrForAnotherClusterAreRefused() throws {
        let b = try startNode("nodeb")
        let foreign = try TestPKI(clusterID: testCluster)
        let cases: [(String, TLSIdentity, String)] = [
            ("another CA", try foreign.identity("nodex"), "certificate verify failed"),
            ("expired", try TestPKI.shared.identity("nodex", validitySeconds: 3_600, now: unixNow() - 7_200), "certificate has expired"),
            ("not yet valid", try TestPKI.shared.identity("nodex", validitySeconds: 3_600, now: unixNow() + 7_200), "certificate is not yet valid"),
            ("another cluster", try TestPKI.shared.identity("nodex", cluster: "othercluster"), "is not for cluster"),
        ]
        for (label, identity, logged) in cases {
            let client = try TLSClient(connectingTo: b.address, identity: identity)
            // TLS 1.3: the client may finish its handshake before the server refuses it.
            try? client.handshake()
            try? client.send(.raftMessage(makeMessage(from: PeerIdentity.transportID(forNodeID: "nodex"), to: b.id, index: 1)))
            XCTAssertTrue(client.waitForClose(), "\(label): refused")
            waitUntil("\(label): refusal logged") { b.logs.contains(logged) }
        }
        XCTAssertEqual(b.recorder.read { $0.messages.count }, 0)
        XCTAssertEqual(b.recorder.read { $0.established.count }, 0, "none of them got an identity")
        waitUntil("four refusals counted") { (try? b.onLoop { $0.refusedConnections }) ?? 0 >= 4 }
    }

    func testServerWithAnotherCAIsRefusedByTheDialler() throws {
        let foreign = try TestPKI(clusterID: testCluster)
        let impostor = try startNode("nodeb", tls: try foreign.tls("nodeb"))
        let a = try startNode("nodea")
        let (id, address) = (impostor.id, impostor.address)
        try a.onLoop { $0.connect(to: id, at: address) }
        waitUntil("the dialler refuses the impostor's chain") { a.logs.contains("certificate verify failed") }
        XCTAssertEqual(a.recorder.read { $0.connected }, [])
    }

    func testRemovedNodesCertificateIsRefusedAndItsConnectionsClosed() throws {
        let b = try startNode("nodeb")
        let a = try startNode("nodea")
        try link(a, to: b)
        try send(1, from: a, to: b.id)
        waitUntil("first message") { b.recorder.read { $0.messages.count } == 1 }
        b.recorder.deny("nodea")
        try b.onLoop { $0.closeConnections(ofNode: "nodea", reason: "node nodea was removed") }
        waitUntil("node a's link broke") { a.recorder.read { $0.disconnected.count } == 1 }
        waitUntil("and its reconnects are refused") { b.logs.count("refused: node nodea was removed") >= 2 }
        try send(1, from: a, to: b.id, startingAt: 2)
        XCTAssertEqual(b.recorder.read { $0.messages.map(\.index) }, [1])
    }

    func testLinkRefusesAServerNamingAnotherNode() throws {
        let other = try startNode("nodeb", tls: try TestPKI.shared.tls("nodec"))
        let a = try startNode("nodea")
        let (otherID, otherAddress) = (other.id, other.address)
        try a.onLoop { $0.connect(to: otherID, at: otherAddress) }
        waitUntil("wrong node refused") { a.logs.contains("but node nodec (swarm-manager) (transport id") }
        XCTAssertEqual(a.recorder.read { $0.connected }, [])
    }

    func testHostileInputIsRefusedAndLoggedWhileGoodPeersStillConnect() throws {
        let b = try startNode("nodeb") { $0.handshakeTimeoutMillis = 300 }

        let silent = try RawSocket.connect(to: b.address)
        XCTAssertTrue(silent.waitForClose(), "a silent client is cut off")
        waitUntil("timeout logged") { b.logs.contains("closed: no TLS handshake within 300 ms") }

        let noisy = try RawSocket.connect(to: b.address)
        var generator = SystemRandomNumberGenerator()
        try noisy.send((0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) })
        XCTAssertTrue(noisy.waitForClose(), "random bytes get the connection closed")

        let plain = try RawSocket.connect(to: b.address)
        try plain.send(Frame.raftMessage(makeMessage(from: 1, to: b.id, index: 1)).encoded())
        XCTAssertTrue(plain.waitForClose(), "a frame outside TLS gets the connection closed")

        waitUntil("three refusals counted") { (try? b.onLoop { $0.refusedConnections }) ?? 0 >= 3 }
        XCTAssertEqual(try b.onLoop { $0.establishedConnections }, [])
        XCTAssertEqual(try b.onLoop { $0.pendingHandshakes }, 0)

        let a = try startNode("nodea")
        try link(a, to: b)
        try link(b, to: a)
        try send(100, from: a, to: b.id)
        try send(100, from: b, to: a.id)
        waitUntil("good peers exchange messages") {
            a.recorder.read { $0.messages.count } == 100 && b.recorder.read { $0.messages.count } == 100
        }
    }

    func testJoinSessionSeesTheServersChainAndGetsAReply() throws {
        let echo = Recorder { transport, frame, connection in
            transport.reply(application: ApplicationFrame(kind: frame.kind + 1, payload: frame.payload.reversed()), on: connection.id)
        }
        let manager = try startNode("nodem", recorder: echo)
        let joiner = try startNode("joiner", listenOn: nil, withoutCertificate: true) {
            $0.localNodeID = 0
            $0.clusterID = ""
        }
        let address = manager.address
        let context = try TestPKI.joinContext()
        let session = try joiner.onLoop { try $0.openJoinSession(to: address, context: context) }
        waitUntil("session established") { joiner.recorder.read { $0.established.count } == 1 }
        let chain = try joiner.onLoop { $0.peerCertificateChain(of: session) }
        XCTAssertEqual(chain.first?.subject.commonName, "nodem", "the joiner sees the server's leaf to check it against its token")
        XCTAssertNoThrow(try Certificate.verify(XCTUnwrap(chain.first), intermediates: [], roots: [TestPKI.shared.ca.certificate],
                                                at: unixNow()))
        XCTAssertNil(joiner.recorder.read { $0.established[0].peer }, "the transport vouches for nothing on a join session")
        try joiner.onLoop { $0.reply(application: ApplicationFrame(kind: 10, payload: [1, 2, 3]), on: session) }
        waitUntil("reply received") { joiner.recorder.read { $0.applications.count } == 1 }
        XCTAssertEqual(joiner.recorder.read { $0.applications[0].0 }, ApplicationFrame(kind: 11, payload: [3, 2, 1]))
        XCTAssertEqual(manager.recorder.read { $0.established.map(\.peer) }, [nil], "the manager sees a join-only connection")
    }

    func testRaftMessageClaimingAnotherSenderClosesTheConnection() throws {
        let a = try startNode("nodea")
        let b = try startNode("nodeb")
        try link(a, to: b)
        try a.onLoop { [a, b] in $0.send(makeMessage(from: a.id, to: b.id, index: 1), to: b.id) }
        waitUntil("genuine message") { b.recorder.read { $0.messages.count } == 1 }
        try a.onLoop { [b] transport in
            var spoofed = makeMessage(from: 3, to: b.id, index: 2)
            spoofed.from = 3
            transport.send(spoofed, to: b.id)
        }
        waitUntil("spoof refused") { b.logs.contains("Raft message from node 3 to node \(b.id) on a connection authenticated as node \(a.id)") }
        waitUntil("link re-established") { a.recorder.read { $0.connected.count } == 2 }
        XCTAssertEqual(b.recorder.read { $0.messages.map(\.index) }, [1])
    }

    func testFaultRulesDropFramesToOnePeer() throws {
        let a = try startNode("nodea")
        let b = try startNode("nodeb")
        try link(a, to: b)
        try a.onLoop { [b] in $0.faultRules = FaultRules(dropAllTo: [b.id]) }
        try send(10, from: a, to: b.id, startingAt: 1)
        try a.onLoop { $0.faultRules = .none }
        try send(1, from: a, to: b.id, startingAt: 11)
        waitUntil("the undropped message") { b.recorder.read { $0.messages.count } == 1 }
        XCTAssertEqual(b.recorder.read { $0.messages.map(\.index) }, [11])
        XCTAssertEqual(a.statistics(for: b.id)?.droppedByFaultRules, 10)
    }

    func testFaultRulesDropIncomingDuplicateAndDelay() throws {
        let a = try startNode("nodea")
        let b = try startNode("nodeb")
        try link(a, to: b)
        try b.onLoop { [a] in $0.faultRules = FaultRules(dropAllFrom: [a.id]) }
        try send(5, from: a, to: b.id, startingAt: 1)
        try a.onLoop { [b] in $0.faultRules = FaultRules(duplicateProbability: [b.id: 1]) }
        try b.onLoop { $0.faultRules = .none }
        try send(1, from: a, to: b.id, startingAt: 6)
        waitUntil("the duplicated message twice") { b.recorder.read { $0.messages.count } == 2 }
        XCTAssertEqual(b.recorder.read { $0.messages.map(\.index) }, [6, 6], "incoming drops hide 1–5; 6 arrives twice")

        try a.onLoop { [b] in $0.faultRules = FaultRules(delayMillis: [b.id: 300]) }
        let sent = monotonicNanoseconds()
        try send(1, from: a, to: b.id, startingAt: 7)
        waitUntil("the delayed message") { b.recorder.read { $0.messages.count } == 3 }
        XCTAssertGreaterThanOrEqual(monotonicNanoseconds() - sent, 300_000_000, "delivered no earlier than the delay")
    }

    func testSlowPeerNeverBlocksOtherPeersAndItsQueueStaysBounded() throws {
        let a = try startNode("nodea") {
            $0.maxQueuedFramesPerPeer = 500
            $0.maxQueuedBytesPerPeer = 32 << 20
            $0.writeBatchBytes = 64 << 10
        }
        let good = try startNode("nodeb")

        // "nodes" is a hand-driven TLS server that completes the handshake and then never reads.
        let slowListener = try Socket.listen(on: .loopback(port: 0))
        let slowAddress = try slowListener.localAddress()
        let slowID = PeerIdentity.transportID(forNodeID: "nodes")
        try a.onLoop { $0.connect(to: slowID, at: slowAddress) }
        let serverContext = try TLSContext(role: .server, identity: TestPKI.shared.identity("nodes"),
                                           trustedRoots: [TestPKI.shared.ca.certificate], peerVerification: .required)
        let slow = try TLSClient(raw: RawSocket.accept(on: slowListener), context: serverContext)
        try slow.handshake()
        try link(a, to: good)
        waitUntil("link to the slow peer") { a.recorder.read { $0.connected.contains(slowID) } }

        for round in 0..<20 {
            let first = UInt64(round * 500 + 1)
            try send(500, from: a, to: slowID, startingAt: first, padding: 4_096)
            try send(500, from: a, to: good.id, startingAt: first)
        }
        waitUntil("all 10,000 messages at the good peer", timeoutSeconds: 30) { good.recorder.read { $0.messages.count } == 10_000 }
        XCTAssertEqual(good.recorder.read { $0.messages.map(\.index) }, Array(1...10_000))
        let stalled = try XCTUnwrap(a.statistics(for: slowID))
        XCTAssertTrue(stalled.connected)
        XCTAssertLessThanOrEqual(stalled.queuedFrames, 500)
        XCTAssertGreaterThan(stalled.droppedQueueFull, 0, "the slow peer's queue overflowed and dropped its oldest frames")
        XCTAssertEqual(UInt64(stalled.queuedFrames) + stalled.sentFrames + stalled.droppedQueueFull, 10_000)
        withExtendedLifetime(slow) {}
    }
}
