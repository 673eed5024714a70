import ClusterState
import Raft
import Transport

/// What one frame from the cluster port asks for, reduced to the fields the authorization rules
/// read. It exists so the rules are checked on decoded, typed requests, before any handler runs.
enum FrameRequest: Equatable, CustomStringConvertible {
    case raftMessage(from: NodeID)
    case joinRequest
    case joinResponse
    case heartbeat(nodeID: String)
    case heartbeatResponse
    case forwardCommand
    case forwardResult
    case assignments
    case taskReports(taskIDs: [String])
    case logsRequest
    case logsResponse
    case certificateRequest
    case certificateResponse
    case nodeRemoved
    case networkTables

    /// The frame kind's name, for logs and the refusal counters.
    var description: String {
        switch self {
        case .raftMessage: "raft-message"
        case .joinRequest: "join-request"
        case .joinResponse: "join-response"
        case .heartbeat: "heartbeat"
        case .heartbeatResponse: "heartbeat-response"
        case .forwardCommand: "forward-command"
        case .forwardResult: "forward-result"
        case .assignments: "assignments"
        case .taskReports: "task-reports"
        case .logsRequest: "logs-request"
        case .logsResponse: "logs-response"
        case .certificateRequest: "certificate-request"
        case .certificateResponse: "certificate-response"
        case .nodeRemoved: "node-removed"
        case .networkTables: "network-tables"
        }
    }
}

/// Where a task stands in this node's view of the state, for the task-report rule.
enum TaskOwner: Equatable {
    /// Not in the state (gone, or not yet replicated here): a report for it changes nothing.
    case unknown
    case unassigned
    case node(String)
}

/// What the receiving node knows when it authorizes a frame: its role, the replicated state's
/// view of the sender, the Raft membership and leader. Closures keep it cheap to build per
/// frame (nothing is copied) and trivial to fake in tests.
struct AuthorizationFacts {
    /// This node runs Raft (only managers serve Raft, forwarded writes, heartbeats, joins, CSRs).
    var localIsManager: Bool
    /// This node has applied state, so roles come from it rather than from certificates alone.
    var hasState: Bool
    /// The replicated role of a node id (nil: unknown here).
    var stateRole: (String) -> NodeRole?
    /// Removed nodes, whose certificates are refused.
    var isDenied: (String) -> Bool
    /// Raft voters and learners; nil before this manager has learned its membership (a new
    /// manager before its first snapshot), when any manager certificate may speak Raft to it.
    var raftMembers: Set<NodeID>?
    /// The Raft leader as this node knows it (`noNode` if none).
    var leader: NodeID
    var taskOwner: (String) -> TaskOwner
}

/// The outcome of the authorization table for one frame.
enum FrameVerdict: Equatable {
    case allowed
    /// Dropped, logged and counted; `close` also closes the connection (the peer broke the
    /// protocol outright rather than raced a state change).
    case refused(reason: String, close: Bool)
}

/// The cluster port's authorization table: one pure function deciding, for every frame kind,
/// whether the verified sender may send it. Every frame passes through it before any handler
/// runs (`SwarmNode+Transport`), so a rule lives here and nowhere else.
///
/// A sender's rights are those of BOTH its certificate (OU) and the replicated state: a manager
/// certificate of a node the state has demoted gives worker rights only, and a promoted
/// worker keeps worker rights until it holds a manager certificate. Raft alone follows the Raft
/// membership (with a manager certificate), so a demotion can commit.
enum FrameAuthorization {
    static func check(_ request: FrameRequest, from peer: PeerIdentity?, direction: ConnectionInfo.Direction,
                      facts: AuthorizationFacts) -> FrameVerdict {
        guard let peer else { return checkUnauthenticated(request, direction: direction) }
        if facts.isDenied(peer.nodeID) { return .refused(reason: "node \(peer.nodeID) was removed from the cluster", close: true) }
        let manager = isManager(peer, facts)
        switch request {
        case .joinRequest, .joinResponse:
            return .refused(reason: "joins are only accepted on connections without a certificate", close: true)
        case let .raftMessage(from):
            guard facts.localIsManager else { return refuse("this node does not run Raft") }
            // Raft membership, not the state's role, is the authority here: a node being demoted
            // must keep answering until the membership change that removes it commits.
            guard peer.role == .manager else { return refuse("Raft messages are accepted from manager certificates only") }
            guard from == peer.transportID else {
                return .refused(reason: "Raft message from \(from) on a connection of transport id \(peer.transportID)", close: true)
            }
            if let members = facts.raftMembers, !members.contains(peer.transportID) {
                return refuse("transport id \(peer.transportID) is not a Raft member")
            }
            return .allowed
        case let .heartbeat(nodeID):
            guard facts.localIsManager else { return refuse("this node is not a manager") }
            guard nodeID == peer.nodeID else { return refuse("heartbeat for node \(nodeID) on node \(peer.nodeID)'s certificate") }
            return .allowed
        case .heartbeatResponse, .forwardResult, .logsRequest, .certificateResponse:
            return manager ? .allowed : refuse("only managers send \(request)")
        case .forwardCommand:
            guard facts.localIsManager else { return refuse("this node is not a manager") }
            return manager ? .allowed : refuse("only managers forward commands")
        case .assignments:
            guard manager else { return refuse("only the leader sends assignments") }
            guard facts.leader != noNode, peer.transportID == facts.leader else {
                return refuse("assignments from transport id \(peer.transportID), but the leader is \(facts.leader)")
            }
            return .allowed
        case let .taskReports(taskIDs):
            guard facts.localIsManager else { return refuse("this node is not a manager") }
            for id in taskIDs {
                switch facts.taskOwner(id) {
                case .unknown: continue
                case .unassigned: return refuse("report for task \(id), which is not assigned to any node")
                case let .node(owner) where owner != peer.nodeID:
                    return refuse("report for task \(id) of node \(owner) on node \(peer.nodeID)'s certificate")
                case .node: continue
                }
            }
            return .allowed
        case .logsResponse:
            return .allowed
        case .certificateRequest:
            return facts.localIsManager ? .allowed : refuse("this node is not a manager")
        case .nodeRemoved:
            return manager ? .allowed : refuse("only managers send \(request)")
        case .networkTables:
            guard manager else { return refuse("only the leader sends network tables") }
            guard facts.leader != noNode, peer.transportID == facts.leader else {
                return refuse("network tables from transport id \(peer.transportID), but the leader is \(facts.leader)")
            }
            return .allowed
        }
    }

    /// A connection without a verified certificate: an inbound join, or our own join session
    /// (whose server the join code pins by the token's CA digest).
    private static func checkUnauthenticated(_ request: FrameRequest, direction: ConnectionInfo.Direction) -> FrameVerdict {
        switch (request, direction) {
        case (.joinRequest, .inbound), (.joinResponse, .outbound): .allowed
        default: .refused(reason: "a connection without a certificate may only join", close: true)
        }
    }

    /// Manager rights need a manager certificate and, where the state is known, a manager role
    /// in it.
    static func isManager(_ peer: PeerIdentity, _ facts: AuthorizationFacts) -> Bool {
        guard peer.role == .manager else { return false }
        guard facts.hasState else { return true }
        return facts.stateRole(peer.nodeID) == .manager
    }

    private static func refuse(_ reason: String) -> FrameVerdict { .refused(reason: reason, close: false) }
}
