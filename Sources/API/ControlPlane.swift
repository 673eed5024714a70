import ClusterState
import Crypto

/// What the Docker API routes need from the node, implemented by the node shell (`SwarmNode`).
///
/// It exists so the routes stay a thin translation between HTTP and the replicated state, testable
/// with a fake, while the shell owns Raft, forwarding to the leader and membership changes. Every
/// requirement is called on the node's loop thread and every completion must be called on it too,
/// exactly once, possibly later (after a commit or a forwarded reply).
public protocol ControlPlane: AnyObject {
    /// Facts about this node, read without consensus (cheap; called once per request).
    var localNode: LocalNodeInfo { get }

    /// A linearizable read of the cluster state plus the reader's live view of Raft. Fails fast
    /// with `APIError.noQuorum` (503) when no leader can confirm it, `.notManager` on a worker.
    func readState(_ done: @escaping (Result<ClusterStateView, APIError>) -> Void)

    /// This manager's applied state without a quorum round: possibly stale, so only for checks
    /// the apply repeats (a create's name check), where it saves a round trip per write.
    /// `.notManager` on a worker. The default is `readState`.
    func readLocalState(_ done: @escaping (Result<ClusterStateView, APIError>) -> Void)

    /// Proposes `command` (forwarded to the leader if needed) and completes once it is committed
    /// and applied, with the apply result (a refused command maps through `APIError(_:)`).
    func propose(_ command: ClusterCommand, _ done: @escaping (Result<Void, APIError>) -> Void)

    /// A node spec update; a role change is a promotion or demotion, which the shell carries out
    /// as a Raft membership change. The default proposes `.updateNodeSpec`.
    func updateNode(id: String, version: ObjectVersion, spec: NodeSpec, at: Timestamp,
                    _ done: @escaping (Result<Void, APIError>) -> Void)

    /// Removes a node (`docker node rm`); managers must be demoted first. The default proposes
    /// `.removeNode`.
    func removeNode(id: String, force: Bool, at: Timestamp, _ done: @escaping (Result<Void, APIError>) -> Void)

    /// A fresh join secret and the token embedding it, for `rotate*Token` (proposed by the route).
    func newJoinToken(role: NodeRole) -> (secret: String, token: String)

    /// Leaves the swarm (`docker swarm leave`). Refuses a manager without `force` with
    /// `APIError.leaveManager`. Completes before the node shuts its API down.
    func leave(force: Bool, _ done: @escaping (Result<Void, APIError>) -> Void)

    /// This node's identity on the cluster port and its injected faults (`enabled` false unless
    /// the node runs with chaos enabled). The default: disabled.
    var chaosStatus: ChaosStatus { get }

    /// Replaces this node's injected faults. Only called when `chaosStatus.enabled`.
    func applyChaos(_ settings: ChaosSettings, _ done: @escaping (Result<Void, APIError>) -> Void)

    /// Carries out a one-off fault (pause the node, kill or freeze tasks). Only called when enabled.
    func performChaos(_ action: ChaosAction, _ done: @escaping (Result<Void, APIError>) -> Void)

    /// Reads tasks' output from the nodes that ran them (a node that does not answer in time
    /// contributes nothing this round). Completes once, on the loop.
    func fetchLogs(_ requests: [TaskLogRequest], _ done: @escaping ([TaskLogChunk]) -> Void)

    /// Runs `body` on the loop after `millis` (log following).
    func after(millis: Int, _ body: @escaping () -> Void)

    /// This node's named volumes (DATA/volumes). The default: none.
    func localVolumes() -> [LocalVolume]

    /// Removes one of this node's volumes: 404 if there is none of that name, 409 while a task of
    /// this node mounts it. The default: 404.
    func removeVolume(_ name: String) -> Result<Void, APIError>
    /// Signs `csr` as an API client certificate (OU client) with the cluster CA. The default
    /// refuses with 503: a node without a cluster CA cannot issue one.
    func issueClientCertificate(_ csr: CertificateSigningRequest,
                                _ done: @escaping (Result<ClientCertificateResponse, APIError>) -> Void)

    /// Records one privileged action done through the API (promote, demote, rm, token rotation,
    /// leave, client certificate) with who asked. The default does nothing.
    func audit(_ line: String)

    /// This node's metrics for `GET /metrics`, read on the loop (cheap: values the node already
    /// keeps). Workers give what they have (no Raft). The default: none.
    func metricFamilies() -> [MetricFamily]

    /// The Docker events this node keeps and streams (`GET /events`): a manager's derived from
    /// the commands it applies. nil: this node keeps none (the route answers 503). The default: nil.
    var eventHistory: EventHistory? { get }

    /// This node's task containers, newest task first (`docker ps` on a node). The default: none.
    func localContainers() -> [LocalContainer]

    /// The processes of one of this node's containers (`docker top`); completes on the loop.
    /// The default: 404.
    func containerProcesses(_ container: LocalContainer, _ done: @escaping (Result<ContainerProcesses, APIError>) -> Void)

    /// Two readings of a container's resource use `intervalMillis` apart (`docker stats`: the
    /// CPU share is their difference); completes on the loop. The default: 404.
    func containerUsage(_ container: LocalContainer, intervalMillis: Int,
                        _ done: @escaping (Result<(ContainerUsage, ContainerUsage), APIError>) -> Void)

    /// The images of this node's store (`docker images` on a node). The default: none.
    func localImages() -> [LocalImage]

    /// Starts `configuration` in `container`, one of this node's running task containers
    /// (`docker exec`); completes on the loop. The default: 501.
    func startExec(_ container: LocalContainer, _ configuration: ExecConfiguration,
                   _ done: @escaping (Result<any ExecProcessHandle, APIError>) -> Void)

    /// Whether this node is a manager, asked by every manager-only request: answered without
    /// building `localNode` (which cost about 3% of a write's CPU). The default: `localNode`'s role.
    var isManagerNode: Bool { get }
}

extension ControlPlane {
    public func audit(_ line: String) {}

    public func metricFamilies() -> [MetricFamily] { [] }

    public var eventHistory: EventHistory? { nil }

    public func localContainers() -> [LocalContainer] { [] }

    public func containerProcesses(_ container: LocalContainer, _ done: @escaping (Result<ContainerProcesses, APIError>) -> Void) {
        done(.failure(APIError(status: 404, "No such container: \(container.id)")))
    }

    public func containerUsage(_ container: LocalContainer, intervalMillis: Int,
                               _ done: @escaping (Result<(ContainerUsage, ContainerUsage), APIError>) -> Void) {
        done(.failure(APIError(status: 404, "No such container: \(container.id)")))
    }

    public func localImages() -> [LocalImage] { [] }

    public func startExec(_ container: LocalContainer, _ configuration: ExecConfiguration,
                          _ done: @escaping (Result<any ExecProcessHandle, APIError>) -> Void) {
        done(.failure(APIError(status: 501, "this node cannot run commands in its containers")))
    }

    public func issueClientCertificate(_ csr: CertificateSigningRequest,
                                       _ done: @escaping (Result<ClientCertificateResponse, APIError>) -> Void) {
        done(.failure(APIError(status: 503, "this node cannot issue client certificates: the cluster has no certificate authority")))
    }
}

extension ControlPlane {
    public var isManagerNode: Bool { localNode.isManager }

    public func readLocalState(_ done: @escaping (Result<ClusterStateView, APIError>) -> Void) {
        readState(done)
    }

    public var chaosStatus: ChaosStatus {
        ChaosStatus(nodeID: localNode.nodeID, transportID: 0, enabled: false, settings: ChaosSettings())
    }

    public func applyChaos(_ settings: ChaosSettings, _ done: @escaping (Result<Void, APIError>) -> Void) {
        done(.failure(.chaosDisabled))
    }

    public func performChaos(_ action: ChaosAction, _ done: @escaping (Result<Void, APIError>) -> Void) {
        done(.failure(.chaosDisabled))
    }

    public func fetchLogs(_ requests: [TaskLogRequest], _ done: @escaping ([TaskLogChunk]) -> Void) {
        done([])
    }

    public func localVolumes() -> [LocalVolume] { [] }

    public func removeVolume(_ name: String) -> Result<Void, APIError> {
        .failure(APIError(status: 404, "get \(name): no such volume"))
    }

    /// The default cannot schedule, so a followed stream stays open without new rounds.
    public func after(millis: Int, _ body: @escaping () -> Void) {}

    public func updateNode(id: String, version: ObjectVersion, spec: NodeSpec, at: Timestamp,
                           _ done: @escaping (Result<Void, APIError>) -> Void) {
        propose(.updateNodeSpec(id: id, version: version, spec: spec, at: at), done)
    }

    public func removeNode(id: String, force: Bool, at: Timestamp, _ done: @escaping (Result<Void, APIError>) -> Void) {
        propose(.removeNode(id: id, force: force, at: at), done)
    }
}

/// This node as it knows itself, without asking the cluster.
///
/// It exists because `/info` and `/_ping` must answer on workers and on managers without quorum,
/// where no linearizable read is possible.
public struct LocalNodeInfo: Sendable, Equatable {
    public var nodeID: String
    /// The role in the last applied state.
    public var role: NodeRole
    /// The advertised IP (Docker's `Swarm.NodeAddr`).
    public var addr: String
    /// Hostname, platform, resources, engine version (for `/info`).
    public var description: NodeDescription
    /// Raft progress; nil on workers.
    public var raft: RaftStatus?
    /// Managers this node knows of (Docker's `RemoteManagers`), used when the state is unreadable.
    public var knownManagers: [RemoteManager]
    /// The dispatcher's repair counters (our extra `Swarm.Dispatcher` object in `/info`).
    public var dispatcher: DispatcherCounters?
    /// The network tables this node holds (our extra `Swarm.NetworkTables` object in `/info`).
    public var networkTables: NetworkTablesStatus?

    public init(nodeID: String, role: NodeRole, addr: String, description: NodeDescription, raft: RaftStatus? = nil,
                knownManagers: [RemoteManager] = [], dispatcher: DispatcherCounters? = nil, networkTables: NetworkTablesStatus? = nil) {
        self.networkTables = networkTables
        self.nodeID = nodeID
        self.role = role
        self.addr = addr
        self.description = description
        self.raft = raft
        self.knownManagers = knownManagers
        self.dispatcher = dispatcher
    }

    public var isManager: Bool { role == .manager }
}

/// A manager's Raft progress as this node sees it (our extra `Swarm.Raft` object in `/info`).
public struct RaftStatus: Codable, Sendable, Equatable {
    public var raftID: UInt64
    /// 0 when no leader is known.
    public var leader: UInt64
    public var leaderNodeID: String
    public var term: UInt64
    public var commitIndex: UInt64
    public var appliedIndex: UInt64
    /// The Raft membership this manager has applied.
    public var voters: [UInt64]
    public var learners: [UInt64]

    public init(raftID: UInt64, leader: UInt64, leaderNodeID: String, term: UInt64, commitIndex: UInt64, appliedIndex: UInt64,
                voters: [UInt64] = [], learners: [UInt64] = []) {
        self.voters = voters
        self.learners = learners
        self.raftID = raftID
        self.leader = leader
        self.leaderNodeID = leaderNodeID
        self.term = term
        self.commitIndex = commitIndex
        self.appliedIndex = appliedIndex
    }

    enum CodingKeys: String, CodingKey {
        case raftID = "RaftID", leader = "Leader", leaderNodeID = "LeaderNodeID", term = "Term"
        case commitIndex = "CommitIndex", appliedIndex = "AppliedIndex", voters = "Voters", learners = "Learners"
    }
}

/// How often this node's dispatcher had to repair an assignment stream since the node started.
///
/// It exists so an operator sees lost assignments being repaired (and a non-zero failure count
/// means some other cause keeps tasks from being acknowledged) without reading logs.
public struct DispatcherCounters: Codable, Sendable, Equatable {
    /// Full sets the leader sent because a node had a hole, another stream or lagged.
    public var resyncs: UInt64
    /// Full sets resent because tasks stayed unacknowledged past `dispatcher-ack-timeout`.
    public var unacknowledgedResends: UInt64
    /// Tasks marked failed ("not acknowledged by node X") and replaced.
    public var unacknowledgedFailures: UInt64
    /// Holes this node's agent found in its own assignment stream.
    public var gapsSeen: UInt64

    public init(resyncs: UInt64, unacknowledgedResends: UInt64, unacknowledgedFailures: UInt64, gapsSeen: UInt64) {
        self.resyncs = resyncs
        self.unacknowledgedResends = unacknowledgedResends
        self.unacknowledgedFailures = unacknowledgedFailures
        self.gapsSeen = gapsSeen
    }

    enum CodingKeys: String, CodingKey {
        case resyncs = "Resyncs", unacknowledgedResends = "UnacknowledgedResends"
        case unacknowledgedFailures = "UnacknowledgedFailures", gapsSeen = "GapsSeen"
    }
}

/// Docker's `{NodeID, Addr}` entry of `Swarm.RemoteManagers`.
public struct RemoteManager: Codable, Sendable, Equatable {
    public var nodeID: String
    public var addr: String

    public init(nodeID: String, addr: String) {
        self.nodeID = nodeID
        self.addr = addr
    }

    enum CodingKeys: String, CodingKey { case nodeID = "NodeID", addr = "Addr" }
}

/// A linearizable snapshot of the cluster state with the reader's live Raft view.
///
/// It exists because `ManagerStatus.Leader` and `Reachability` are not replicated facts: the
/// reading manager fills them in from its own Raft progress when it answers.
public struct ClusterStateView: Sendable, Equatable {
    public var state: ClusterState
    /// Raft id of the current leader, nil if none is known.
    public var leaderRaftID: UInt64?
    /// Raft ids of managers the reader has heard from recently (itself included).
    public var reachableRaftIDs: Set<UInt64>
    /// Raft ids that vote in the reader's applied membership; nil if unknown. A manager of the
    /// cluster state that does not vote yet (a learner catching up) is shown `joining`: it does
    /// not count toward a quorum, so stopping another manager meanwhile can lose it.
    public var voterRaftIDs: Set<UInt64>?

    public init(state: ClusterState, leaderRaftID: UInt64?, reachableRaftIDs: Set<UInt64>, voterRaftIDs: Set<UInt64>? = nil) {
        self.state = state
        self.leaderRaftID = leaderRaftID
        self.reachableRaftIDs = reachableRaftIDs
        self.voterRaftIDs = voterRaftIDs
    }

    /// `node` with `ManagerStatus.Leader` (true or absent, as dockerd) and `Reachability` set:
    /// `joining` until it votes, then `reachable` or `unreachable`.
    public func presented(_ node: Node) -> Node {
        guard var status = node.managerStatus else { return node }
        status.leader = status.raftID == leaderRaftID ? true : nil
        if let voterRaftIDs, !voterRaftIDs.contains(status.raftID) {
            status.reachability = "joining"
        } else {
            status.reachability = reachableRaftIDs.contains(status.raftID) ? "reachable" : "unreachable"
        }
        var copy = node
        copy.managerStatus = status
        return copy
    }

    /// Every node, ordered by id, as `presented`.
    public var presentedNodes: [Node] { state.sortedNodes.map(presented) }
}

/// An API failure: the HTTP status and Docker's message.
///
/// It exists so every layer (routes, the node shell, the Raft forwarding path) reports failures
/// with the status and wording dockerd uses, which the docker CLI and SDK branch on.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var message: String
    /// For a `docker exec` that could not start: the exit code its record gets (dockerd's 127
    /// for a command not found, 126 for one that cannot run); nil: 126.
    public var execExitCode: Int32?

    public init(status: Int, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status): \(message)" }

    /// The JSON error response `{"message": ...}`.
    public var response: HTTPResponse { .error(status, message) }

    public static let notManager = APIError(status: 503,
        "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.")
    public static let alreadyInSwarm = APIError(status: 503,
        "This node is already part of a swarm. Use \"docker swarm leave\" to leave this swarm and join another one.")
    public static let noQuorum = APIError(status: 503,
        "rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online.")
    public static let leaveManager = APIError(status: 503,
        "You are attempting to leave the swarm on a node that is participating as a manager. Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message. ")
    /// dockerd 20.10 answers a stale `?version=` with 500 and this text.
    public static let outOfSequence = APIError(status: 500, "rpc error: code = Unknown desc = update out of sequence")
    public static let pageNotFound = APIError(status: 404, "page not found")

    public static func badRequest(_ message: String) -> APIError { APIError(status: 400, message) }
    public static func notFound(kind: String, id: String) -> APIError { APIError(status: 404, "\(kind) \(id) not found") }
    public static func failedPrecondition(_ message: String) -> APIError {
        APIError(status: 400, "rpc error: code = FailedPrecondition desc = \(message)")
    }
    public static func internalError(_ message: String) -> APIError { APIError(status: 500, message) }

    /// dockerd's status and wording for a refused cluster command.
    public init(_ error: ClusterError) {
        switch error {
        case let .notFound(kind, id): self = .notFound(kind: kind, id: id)
        case let .conflict(message): self = APIError(status: 409, message)
        case .staleVersion: self = .outOfSequence
        case let .invalid(message): self = .failedPrecondition(message)
        case .notInitialized: self = .notManager
        }
    }
}
