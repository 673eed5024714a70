import Crypto
import Raft

/// What the driver of a handshake must do next.
///
/// It exists so both handshake state machines are pure (no sockets, clock or randomness) and the
/// socket code only executes these steps.
public enum HandshakeAction: Sendable, Equatable {
    /// Send this frame and keep waiting.
    case send(Frame)
    /// The handshake succeeded; send `reply` first if present.
    case established(HandshakeResult, reply: Frame?)
    /// Close the connection. `reason` is for the local log; `reply` (if any) tells the peer.
    case failed(reason: String, reply: Frame?)
}

/// Who is on the other end of a connection, once proven. It exists so everything after the
/// handshake (routing, the Raft `from` check) relies on proven identity, never on claims.
public struct HandshakeResult: Sendable, Equatable {
    public var remoteNodeID: NodeID
    public var purpose: HandshakePurpose

    public init(remoteNodeID: NodeID, purpose: HandshakePurpose) {
        self.remoteNodeID = remoteNodeID
        self.purpose = purpose
    }
}

/// The connecting side of the mutual handshake: hello → (challenge) → proof → (accepted).
///
/// It exists so the initiator verifies the acceptor knows the key before proving that it does
/// itself, and so every failure is a named, testable outcome.
public struct InitiatorHandshake: Sendable {
    private enum State { case awaitingChallenge, awaitingAcceptance(HandshakeResult), done }

    public let hello: Hello
    private let key: [UInt8]
    private let expectedAcceptor: NodeID?
    private var state = State.awaitingChallenge

    /// `nonce` must be 32 fresh random bytes; `expectedAcceptor` is the peer's node id when known
    /// (peer links), nil when any node may answer (joins).
    public init(
        clusterID: String, localNodeID: NodeID, purpose: HandshakePurpose, key: [UInt8], nonce: [UInt8],
        expectedAcceptor: NodeID?, protocolVersion: UInt32 = HandshakeProof.protocolVersion
    ) {
        precondition(!key.isEmpty, "handshake key must not be empty")
        hello = Hello(protocolVersion: protocolVersion, clusterID: clusterID, senderNodeID: localNodeID, purpose: purpose, nonce: nonce)
        self.key = key
        self.expectedAcceptor = expectedAcceptor
    }

    /// The first frame to send.
    public var helloFrame: Frame { .hello(hello) }

    public mutating func receive(_ frame: Frame) -> HandshakeAction {
        switch (state, frame) {
        case let (_, .rejected(reason)):
            return fail("rejected by the acceptor: \(reason)")
        case let (.awaitingChallenge, .challenge(challenge)):
            return answer(challenge)
        case let (.awaitingAcceptance(result), .accepted):
            state = .done
            return .established(result, reply: nil)
        default:
            return fail("unexpected \(frame.type) frame during the handshake")
        }
    }

    private mutating func answer(_ challenge: Challenge) -> HandshakeAction {
        if let expectedAcceptor, expectedAcceptor != challenge.acceptorNodeID {
            return fail("expected node \(expectedAcceptor) but node \(challenge.acceptorNodeID) answered")
        }
        let expected = HandshakeProof.acceptor(key: key, hello: hello, acceptorNodeID: challenge.acceptorNodeID, acceptorNonce: challenge.nonce)
        guard Crypto.constantTimeEqual(expected, challenge.proof) else {
            return fail("node \(challenge.acceptorNodeID) failed to prove the \(hello.purpose) key (keys differ)")
        }
        state = .awaitingAcceptance(HandshakeResult(remoteNodeID: challenge.acceptorNodeID, purpose: hello.purpose))
        let proof = HandshakeProof.initiator(key: key, hello: hello, acceptorNodeID: challenge.acceptorNodeID, acceptorNonce: challenge.nonce)
        return .send(.proof(mac: proof))
    }

    private mutating func fail(_ reason: String) -> HandshakeAction {
        state = .done
        return .failed(reason: reason, reply: nil)
    }
}

/// The listening side of the mutual handshake: (hello) → challenge → (proof) → accepted.
///
/// It exists so the acceptor checks version and cluster before touching keys, never reveals
/// which check failed to an unauthenticated peer (the log says; the peer hears "authentication
/// failed"), and accepts nothing but handshake frames until the initiator has proven the key.
public struct AcceptorHandshake {
    /// Returns the key a node must prove for a purpose, or nil if it is unknown or not allowed.
    public typealias KeyLookup = (NodeID, HandshakePurpose) -> [UInt8]?

    private enum State { case awaitingHello, awaitingProof(Hello, key: [UInt8]), done }

    public let clusterID: String
    public let localNodeID: NodeID
    private let nonce: [UInt8]
    private let keyLookup: KeyLookup
    private var state = State.awaitingHello

    /// `nonce` must be 32 fresh random bytes, never reused across connections.
    public init(clusterID: String, localNodeID: NodeID, nonce: [UInt8], keyLookup: @escaping KeyLookup) {
        precondition(nonce.count == Hello.nonceSize, "acceptor nonce must be \(Hello.nonceSize) bytes")
        self.clusterID = clusterID
        self.localNodeID = localNodeID
        self.nonce = nonce
        self.keyLookup = keyLookup
    }

    public mutating func receive(_ frame: Frame) -> HandshakeAction {
        switch (state, frame) {
        case let (.awaitingHello, .hello(hello)):
            return challenge(hello)
        case let (.awaitingProof(hello, key), .proof(mac)):
            return verify(mac, hello: hello, key: key)
        default:
            return fail("unexpected \(frame.type) frame during the handshake", tell: "handshake protocol violation")
        }
    }

    private mutating func challenge(_ hello: Hello) -> HandshakeAction {
        let who = "node \(hello.senderNodeID) (\(hello.purpose))"
        guard hello.protocolVersion == HandshakeProof.protocolVersion else {
            return fail("\(who) speaks protocol version \(hello.protocolVersion); this node speaks \(HandshakeProof.protocolVersion)",
                        tell: "unsupported protocol version \(hello.protocolVersion)")
        }
        guard hello.clusterID == clusterID else {
            return fail("\(who) belongs to cluster '\(hello.clusterID)', not '\(clusterID)'", tell: "wrong cluster")
        }
        guard let key = keyLookup(hello.senderNodeID, hello.purpose), !key.isEmpty else {
            return fail("\(who) is unknown or not allowed", tell: "authentication failed")
        }
        state = .awaitingProof(hello, key: key)
        let proof = HandshakeProof.acceptor(key: key, hello: hello, acceptorNodeID: localNodeID, acceptorNonce: nonce)
        return .send(.challenge(Challenge(acceptorNodeID: localNodeID, nonce: nonce, proof: proof)))
    }

    private mutating func verify(_ mac: [UInt8], hello: Hello, key: [UInt8]) -> HandshakeAction {
        let expected = HandshakeProof.initiator(key: key, hello: hello, acceptorNodeID: localNodeID, acceptorNonce: nonce)
        guard Crypto.constantTimeEqual(expected, mac) else {
            return fail("node \(hello.senderNodeID) (\(hello.purpose)) sent a proof that does not verify (wrong key or replay)",
                        tell: "authentication failed")
        }
        state = .done
        return .established(HandshakeResult(remoteNodeID: hello.senderNodeID, purpose: hello.purpose), reply: .accepted)
    }

    private mutating func fail(_ reason: String, tell peerReason: String) -> HandshakeAction {
        state = .done
        return .failed(reason: reason, reply: .rejected(reason: peerReason))
    }
}
