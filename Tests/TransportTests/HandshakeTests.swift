import Crypto
import Raft
@testable import Transport
import XCTest

/// The mutual HMAC handshake as a pure state machine: no sockets, fixed nonces.
final class HandshakeTests: XCTestCase {
    private let nonceI = [UInt8](repeating: 0x11, count: 32)
    private let nonceA = [UInt8](repeating: 0x22, count: 32)

    private func initiator(key: [UInt8] = peerSecret, cluster: String = testCluster, purpose: HandshakePurpose = .peer,
                           expecting acceptor: NodeID? = 2, version: UInt32 = HandshakeProof.protocolVersion) -> InitiatorHandshake {
        InitiatorHandshake(clusterID: cluster, localNodeID: 1, purpose: purpose, key: key, nonce: nonceI,
                           expectedAcceptor: acceptor, protocolVersion: version)
    }

    private func acceptor(nonce: [UInt8]? = nil, keys: [HandshakePurpose: [NodeID: [UInt8]]] = standardKeys()) -> AcceptorHandshake {
        AcceptorHandshake(clusterID: testCluster, localNodeID: 2, nonce: nonce ?? nonceA) { keys[$1]?[$0] }
    }

    private func sent(_ action: HandshakeAction, file: StaticString = #filePath, line: UInt = #line) -> Frame? {
        guard case let .send(frame) = action else {
            XCTFail("expected a frame to send, got \(action)", file: file, line: line)
            return nil
        }
        return frame
    }

    private func assertFailed(_ action: HandshakeAction, mentioning fragment: String, reply: Frame?,
                              file: StaticString = #filePath, line: UInt = #line) {
        guard case let .failed(reason, actualReply) = action else {
            return XCTFail("expected failure, got \(action)", file: file, line: line)
        }
        XCTAssertTrue(reason.contains(fragment), "'\(reason)' does not mention '\(fragment)'", file: file, line: line)
        XCTAssertEqual(actualReply, reply, file: file, line: line)
    }

    func testMutualHandshakeEstablishesBothSides() throws {
        var client = initiator()
        var server = acceptor()
        let challenge = try XCTUnwrap(sent(server.receive(client.helloFrame)))
        let proof = try XCTUnwrap(sent(client.receive(challenge)))
        XCTAssertEqual(server.receive(proof), .established(HandshakeResult(remoteNodeID: 1, purpose: .peer), reply: .accepted))
        XCTAssertEqual(client.receive(.accepted), .established(HandshakeResult(remoteNodeID: 2, purpose: .peer), reply: nil))
    }

    func testJoinWithTheWorkerTokenEstablishesAJoinConnection() throws {
        var client = initiator(key: workerToken, purpose: .joinWorker, expecting: nil)
        var server = acceptor()
        let proof = try XCTUnwrap(sent(client.receive(XCTUnwrap(sent(server.receive(client.helloFrame))))))
        XCTAssertEqual(server.receive(proof), .established(HandshakeResult(remoteNodeID: 1, purpose: .joinWorker), reply: .accepted))
    }

    func testSecretNeverAppearsInAnyFrame() throws {
        var client = initiator()
        var server = acceptor()
        let hello = client.helloFrame
        let challenge = try XCTUnwrap(sent(server.receive(hello)))
        let proof = try XCTUnwrap(sent(client.receive(challenge)))
        for frame in [hello, challenge, proof] {
            let bytes = frame.encoded()
            let found = (0...(bytes.count - peerSecret.count)).contains { Array(bytes[$0..<$0 + peerSecret.count]) == peerSecret }
            XCTAssertFalse(found, "\(frame.type) frame carries the secret")
        }
    }

    func testInitiatorWithWrongKeyRefusesTheAcceptorsProof() throws {
        var client = initiator(key: Array("not the secret".utf8))
        var server = acceptor()
        let challenge = try XCTUnwrap(sent(server.receive(client.helloFrame)))
        assertFailed(client.receive(challenge), mentioning: "failed to prove", reply: nil)
    }

    func testAcceptorRefusesAProofMadeWithTheWrongKey() throws {
        let client = initiator()
        var server = acceptor()
        guard case let .challenge(challenge) = try XCTUnwrap(sent(server.receive(client.helloFrame))) else { return XCTFail() }
        // A client that ignores the acceptor's proof and answers with what it believes the key is.
        let forged = HandshakeProof.initiator(key: Array("guess".utf8), hello: client.hello, acceptorNodeID: 2, acceptorNonce: challenge.nonce)
        assertFailed(server.receive(.proof(mac: forged)), mentioning: "does not verify", reply: .rejected(reason: "authentication failed"))
    }

    func testWrongClusterIsRefusedBeforeAnyKeyIsUsed() {
        let client = initiator(cluster: "other-cluster")
        var server = acceptor()
        assertFailed(server.receive(client.helloFrame), mentioning: "belongs to cluster 'other-cluster'", reply: .rejected(reason: "wrong cluster"))
    }

    func testWrongProtocolVersionIsRefused() {
        let client = initiator(version: 99)
        var server = acceptor()
        assertFailed(server.receive(client.helloFrame), mentioning: "protocol version 99",
                     reply: .rejected(reason: "unsupported protocol version 99"))
    }

    func testUnknownNodeIsRefusedWithoutSayingWhy() {
        var client = InitiatorHandshake(clusterID: testCluster, localNodeID: 77, purpose: .peer, key: peerSecret, nonce: nonceI,
                                        expectedAcceptor: 2)
        var server = acceptor()
        assertFailed(server.receive(client.helloFrame), mentioning: "node 77 (peer) is unknown", reply: .rejected(reason: "authentication failed"))
        assertFailed(client.receive(.rejected(reason: "authentication failed")), mentioning: "rejected by the acceptor: authentication failed",
                     reply: nil)
    }

    func testReplayedProofFailsAgainstAFreshAcceptorNonce() throws {
        var client = initiator()
        var first = acceptor()
        let proof = try XCTUnwrap(sent(client.receive(XCTUnwrap(sent(first.receive(client.helloFrame))))))
        guard case .established = first.receive(proof) else { return XCTFail("the original handshake must succeed") }

        // An eavesdropper replays the same hello and proof on a new connection.
        var second = acceptor(nonce: [UInt8](repeating: 0x33, count: 32))
        XCTAssertNotNil(sent(second.receive(client.helloFrame)))
        assertFailed(second.receive(proof), mentioning: "does not verify", reply: .rejected(reason: "authentication failed"))
    }

    func testAcceptorProofCannotBeReflectedAsTheInitiatorProof() throws {
        let client = initiator()
        var server = acceptor()
        guard case let .challenge(challenge) = try XCTUnwrap(sent(server.receive(client.helloFrame))) else { return XCTFail() }
        assertFailed(server.receive(.proof(mac: challenge.proof)), mentioning: "does not verify", reply: .rejected(reason: "authentication failed"))
    }

    func testFramesBeforeTheHandshakeCompletesAreRefused() throws {
        let message = Frame.raftMessage(makeMessage(from: 1, to: 2, index: 1))
        var server = acceptor()
        assertFailed(server.receive(message), mentioning: "unexpected raftMessage frame", reply: .rejected(reason: "handshake protocol violation"))

        var afterHello = acceptor()
        let client = initiator()
        _ = afterHello.receive(client.helloFrame)
        assertFailed(afterHello.receive(.application(ApplicationFrame(kind: 1, payload: []))), mentioning: "unexpected application frame",
                     reply: .rejected(reason: "handshake protocol violation"))

        var early = initiator()
        assertFailed(early.receive(.accepted), mentioning: "unexpected accepted frame", reply: nil)
    }

    func testInitiatorRefusesAnAcceptorThatIsNotThePeerItDialled() throws {
        var client = initiator(expecting: 3)
        var server = acceptor()
        assertFailed(client.receive(try XCTUnwrap(sent(server.receive(client.helloFrame)))), mentioning: "expected node 3 but node 2 answered",
                     reply: nil)
    }
}
