import Crypto
import Raft
import Wire

/// Why a connection is being opened. It exists because one cluster port serves members and
/// joining nodes alike, and the purpose selects which key the initiator must prove.
public enum HandshakePurpose: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// A cluster member (manager or worker) with a node credential.
    case peer = 0
    /// A new node presenting the worker join token.
    case joinWorker = 1
    /// A new node presenting the manager join token.
    case joinManager = 2

    public var description: String {
        switch self {
        case .peer: "peer"
        case .joinWorker: "join-worker"
        case .joinManager: "join-manager"
        }
    }
}

/// The initiator's opening frame: who it is, which cluster it means and a fresh nonce. It exists
/// so the acceptor can refuse wrong versions and clusters before any key is looked up, and so the
/// initiator's nonce makes the acceptor's proof unique to this connection.
public struct Hello: Sendable, Equatable {
    public static let nonceSize = 32
    static let maxClusterIDLength = 256

    public var protocolVersion: UInt32
    public var clusterID: String
    public var senderNodeID: NodeID
    public var purpose: HandshakePurpose
    public var nonce: [UInt8]

    public init(protocolVersion: UInt32, clusterID: String, senderNodeID: NodeID, purpose: HandshakePurpose, nonce: [UInt8]) {
        precondition(nonce.count == Self.nonceSize, "hello nonce must be \(Self.nonceSize) bytes")
        self.protocolVersion = protocolVersion
        self.clusterID = clusterID
        self.senderNodeID = senderNodeID
        self.purpose = purpose
        self.nonce = nonce
    }

    func encode(to writer: inout WireWriter) {
        writer.writeUInt32(protocolVersion)
        writer.writeString(clusterID)
        writer.writeUInt64(senderNodeID)
        writer.writeUInt8(purpose.rawValue)
        writer.writeBytes(nonce)
    }

    init(from reader: inout WireReader) throws {
        let version = try reader.readUInt32()
        let cluster = try reader.readString(limit: Self.maxClusterIDLength)
        let sender = try reader.readUInt64()
        let purposeByte = try reader.readUInt8()
        guard let purpose = HandshakePurpose(rawValue: purposeByte) else { throw WireError.unknownTag("handshake purpose", UInt64(purposeByte)) }
        let nonce = try reader.readBytes(limit: Self.nonceSize)
        guard nonce.count == Self.nonceSize else { throw WireError.invalidValue("hello nonce of \(nonce.count) bytes") }
        self.init(protocolVersion: version, clusterID: cluster, senderNodeID: sender, purpose: purpose, nonce: nonce)
    }
}

/// The acceptor's answer to a hello: its identity, its nonce and its proof of the key. It exists
/// so the initiator authenticates the acceptor (mutual authentication) before proving anything,
/// and so the acceptor's fresh nonce defeats replayed initiator proofs.
public struct Challenge: Sendable, Equatable {
    public var acceptorNodeID: NodeID
    public var nonce: [UInt8]
    public var proof: [UInt8]

    public init(acceptorNodeID: NodeID, nonce: [UInt8], proof: [UInt8]) {
        self.acceptorNodeID = acceptorNodeID
        self.nonce = nonce
        self.proof = proof
    }

    func encode(to writer: inout WireWriter) {
        writer.writeUInt64(acceptorNodeID)
        writer.writeBytes(nonce)
        writer.writeBytes(proof)
    }

    init(from reader: inout WireReader) throws {
        acceptorNodeID = try reader.readUInt64()
        nonce = try reader.readBytes(limit: Hello.nonceSize)
        guard nonce.count == Hello.nonceSize else { throw WireError.invalidValue("challenge nonce of \(nonce.count) bytes") }
        proof = try reader.readBytes(limit: 64)
    }
}

/// The two HMAC proofs of the handshake.
///
/// Each side MACs a transcript with its role label, the protocol version, cluster id, purpose,
/// both nonces and both node ids, so a proof is bound to this one exchange: it cannot be replayed
/// on a connection with a fresh nonce, reflected to the other role, or moved to another cluster.
public enum HandshakeProof {
    /// The wire protocol version this build speaks.
    public static let protocolVersion: UInt32 = 1

    /// HMAC(key, "acceptor" | version | cluster | purpose | nonceI | nonceA | initiatorID | acceptorID).
    public static func acceptor(key: [UInt8], hello: Hello, acceptorNodeID: NodeID, acceptorNonce: [UInt8]) -> [UInt8] {
        Crypto.hmacSHA256(key: key, message: transcript(
            role: "acceptor", hello: hello, first: hello.nonce, second: acceptorNonce, acceptorNodeID: acceptorNodeID))
    }

    /// HMAC(key, "initiator" | version | cluster | purpose | nonceA | nonceI | initiatorID | acceptorID).
    public static func initiator(key: [UInt8], hello: Hello, acceptorNodeID: NodeID, acceptorNonce: [UInt8]) -> [UInt8] {
        Crypto.hmacSHA256(key: key, message: transcript(
            role: "initiator", hello: hello, first: acceptorNonce, second: hello.nonce, acceptorNodeID: acceptorNodeID))
    }

    private static func transcript(role: String, hello: Hello, first: [UInt8], second: [UInt8], acceptorNodeID: NodeID) -> [UInt8] {
        var writer = WireWriter(capacity: 160)
        writer.writeString("swarmctl-handshake/\(role)")
        writer.writeUInt32(hello.protocolVersion)
        writer.writeString(hello.clusterID)
        writer.writeUInt8(hello.purpose.rawValue)
        writer.writeBytes(first)
        writer.writeBytes(second)
        writer.writeUInt64(hello.senderNodeID)
        writer.writeUInt64(acceptorNodeID)
        return writer.bytes
    }
}
