import Crypto
import Raft

/// Who is on the other end of a connection, as its verified certificate states it: CN = node id,
/// OU = role, O = cluster id (checked against ours before this value exists).
///
/// It exists so everything after the TLS handshake (routing, the Raft `from` check, the node's
/// authorization table) relies on what the cluster CA signed, never on what a peer claims in a
/// frame. The transport id is derived from the node id, so any node can map a certificate to
/// its Raft identity without the replicated state (a worker, or a manager that just joined).
public struct PeerIdentity: Sendable, Hashable, CustomStringConvertible {
    /// The role a certificate grants, spelled as Docker swarm writes it in the OU.
    public enum Role: String, Sendable, Hashable {
        case manager = "swarm-manager"
        case worker = "swarm-worker"
    }

    public var nodeID: String
    public var role: Role
    public var transportID: NodeID
    /// The leaf certificate's serial (lowercase hex), for logs.
    public var serialNumber: String

    public init(nodeID: String, role: Role, serialNumber: String = "") {
        self.nodeID = nodeID
        self.role = role
        self.transportID = Self.transportID(forNodeID: nodeID)
        self.serialNumber = serialNumber
    }

    public var description: String { "node \(nodeID.prefix(12)) (\(role.rawValue))" }

    /// Longest node id accepted in a certificate.
    static let maxNodeIDLength = 64

    /// The identity `leaf` states for cluster `clusterID`, or why it states none.
    public static func from(_ leaf: Certificate, clusterID: String) -> Result<PeerIdentity, PeerIdentityError> {
        let subject = leaf.subject
        guard subject.organization == clusterID else {
            return .failure(PeerIdentityError("certificate of organization '\(subject.organization ?? "")' is not for cluster '\(clusterID)'"))
        }
        guard let unit = subject.organizationalUnit, let role = Role(rawValue: unit) else {
            return .failure(PeerIdentityError("certificate role '\(subject.organizationalUnit ?? "")' is neither swarm-manager nor swarm-worker"))
        }
        let nodeID = subject.commonName
        guard !nodeID.isEmpty, nodeID.utf8.count <= maxNodeIDLength,
              nodeID.utf8.allSatisfy({ (48...57).contains($0) || (97...122).contains($0) }) else {
            return .failure(PeerIdentityError("certificate common name '\(nodeID.prefix(80))' is not a node id"))
        }
        return .success(PeerIdentity(nodeID: nodeID, role: role, serialNumber: leaf.serialNumber))
    }

    /// The Raft and transport identity of node `nodeID`: the first 63 bits of
    /// SHA-256("swarmctl transport id:" + nodeID), never 0. Managers assign node ids and refuse
    /// one whose transport id is already taken, so the mapping is one-to-one in a cluster.
    public static func transportID(forNodeID nodeID: String) -> NodeID {
        let digest = Crypto.sha256(Array("swarmctl transport id:\(nodeID)".utf8))
        let value = digest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } & 0x7FFF_FFFF_FFFF_FFFF
        return value == 0 ? 1 : value
    }
}

/// Why a verified certificate does not name a member of this cluster.
public struct PeerIdentityError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The TLS configurations a transport uses for NEW connections: the server side (client
/// certificates verified if presented, so joining nodes without one can connect) and the client
/// side of peer links (the server must present a cluster certificate).
///
/// It exists as one value so a certificate renewal or a CA rotation swaps both at once
/// (`Transport.tls`); established connections keep the configuration they started with.
public struct TransportTLS: Sendable {
    public var server: TLSContext
    public var client: TLSContext

    public init(server: TLSContext, client: TLSContext) {
        precondition(server.role == .server && client.role == .client, "TransportTLS needs a server and a client context")
        self.server = server
        self.client = client
    }
}
