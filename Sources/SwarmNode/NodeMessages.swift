import API
import ClusterState
import Dispatcher
import Foundation
import Transport

/// The application frames nodes exchange over the cluster port besides Raft messages. Each
/// payload is a small Codable value; these are rare (joins, heartbeats, forwarded writes), so
/// their format favours clarity.
enum NodeFrameKind: UInt8 {
    case joinRequest = 1
    case joinResponse = 2
    case heartbeat = 3
    case forwardCommand = 4
    case forwardResult = 5
    case heartbeatResponse = 7
    case assignments = 8
    case taskReports = 9
    case logsRequest = 10
    case logsResponse = 11
    case certificateRequest = 12
    case certificateResponse = 13
    case nodeRemoved = 30
    case networkTables = 31
}

/// A manager tells a node it was removed from the cluster (`node rm`), just before it closes the
/// node's connections for good, so the node stops its tasks and exits instead of retrying forever.
struct NodeRemovedNotice: Codable {
    var nodeID: String
}

/// A new node's request to join, sent on a TLS session whose server the joiner has checked
/// against the token's CA digest. It names no id: the manager assigns them. The secret selects
/// the role.
struct JoinRequest: Codable {
    var secret: String
    /// The joiner's key, proven by the CSR's self-signature; the manager chooses the subject.
    var csrPEM: String
    var advertiseAddress: String
    var description: NodeDescription
}

/// The answer to a join: the ids and certificate the manager assigned and the managers to
/// dial, or a refusal with a reason.
struct JoinResponse: Codable {
    var accepted: Bool
    var reason: String?
    var nodeID: String = ""
    var clusterID: String = ""
    var role: NodeRole = .worker
    /// Leaf first (then the cross-signed root during a CA rotation).
    var certificateChainPEM: String = ""
    var rootsPEM: String = ""
    /// By transport id.
    var managerAddresses: [UInt64: String] = [:]
}

/// A member asks a manager for a new certificate (renewal, role change, CA rotation). The
/// subject is not asked for: the manager takes the node id from the connection's certificate
/// and the role from the replicated state.
struct CertificateRequest: Codable {
    var csrPEM: String
}

struct CertificateResponse: Codable {
    var certificateChainPEM: String?
    var rootsPEM: String?
    var reason: String?
}

/// "I am alive" from every node to the managers, once per dispatcher period.
struct Heartbeat: Codable {
    var nodeID: String
    /// The assignment stream this node has applied, so the leader resends the full set when the
    /// node is out of step (a hole, a new leader, a restart).
    var assignments: AssignmentAck? = nil
    /// The network table stream this node has applied (same rules as `assignments`).
    var networkTables: NetworkTableAck? = nil
    /// What this node is and can do (with its task networking), once its agent started; the
    /// leader records it when it differs from the state. nil from nodes before the field.
    var description: NodeDescription? = nil
}

/// A manager asks the node that ran some tasks for their output (from byte offsets).
struct LogsRequest: Codable {
    var requestID: UInt64
    var tasks: [TaskLogRequest]
}

struct LogsResponse: Codable {
    var requestID: UInt64
    var chunks: [TaskLogChunk]
}

/// An agent's status reports, sent to the leader (any manager forwards them).
struct TaskReports: Codable {
    var updates: [TaskStatusUpdate]
}

/// A write a follower manager hands to the leader; the result comes back with the same id.
struct ForwardCommand: Codable {
    var requestID: UInt64
    var command: ClusterCommand
}

struct ForwardResult: Codable {
    var requestID: UInt64
    var failure: ForwardedFailure?
}

extension ApplicationFrame {
    init<T: Encodable>(_ kind: NodeFrameKind, _ value: T) {
        let payload = (try? JSONEncoder().encode(value)).map(Array.init) ?? []
        self.init(kind: kind.rawValue, payload: payload)
    }

    func decode<T: Decodable>(_ type: T.Type) -> T? {
        try? JSONDecoder().decode(type, from: Data(payload))
    }

    var nodeKind: NodeFrameKind? { NodeFrameKind(rawValue: kind) }
}
