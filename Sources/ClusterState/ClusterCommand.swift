/// A change to the cluster state, proposed through Raft and applied in log order on every
/// manager. Everything non-deterministic (ids, secrets, timestamps) is chosen by the proposer
/// and carried here, so applying is a pure function of the state and the command.
public enum ClusterCommand: Codable, Sendable, Equatable {
    /// The first command of a cluster: the cluster object, its first node and the secrets.
    case initialize(cluster: Cluster, firstNode: Node, secrets: ClusterSecrets)
    /// A node joined with a valid token; it proves `credential` on later connections made
    /// under its transport identity `transportID`.
    case addNode(node: Node, transportID: UInt64, credential: [UInt8])
    /// A spec update; a role change also sets or clears the Raft membership record, which the
    /// leader then carries out as a Raft membership change.
    case updateNodeSpec(id: String, version: ObjectVersion, spec: NodeSpec, at: Timestamp)
    /// Liveness seen by the leader's dispatcher (no version check: the leader is the only writer).
    case setNodeStatus(id: String, state: NodeState, message: String?, at: Timestamp)
    /// Role change bookkeeping after the Raft membership change committed.
    case setManagerStatus(id: String, managerStatus: ManagerStatus?, at: Timestamp)
    /// Removes a node; a manager must be demoted first, a live node needs `force`.
    case removeNode(id: String, force: Bool, at: Timestamp)
    case rotateJoinToken(role: NodeRole, secret: String, token: String, at: Timestamp)
    case updateClusterSpec(version: ObjectVersion, spec: ClusterSpec, at: Timestamp)

    /// A new service; the proposer chose its id and `CreatedAt`. Names are unique.
    case createService(service: Service)
    /// Replaces the spec, keeping the old one as `PreviousSpec`; a changed task template starts
    /// a rolling update (`UpdateStatus` `updating`).
    case updateService(id: String, version: ObjectVersion, spec: ServiceSpec, at: Timestamp)
    /// Swaps `Spec` and `PreviousSpec` (`docker service rollback`); `UpdateStatus` `rollback_started`.
    case rollbackService(id: String, version: ObjectVersion, at: Timestamp)
    /// The update (or rollback) control loop's progress: `updating` → `paused` | `completed`,
    /// `rollback_started` → `rollback_paused` | `rollback_completed`. Versioned, so progress
    /// recorded for a spec the user has since replaced is refused.
    case setServiceUpdateStatus(id: String, version: ObjectVersion, status: UpdateStatus, at: Timestamp)
    /// Removes a service; its tasks stay, with desired state `remove`, until the agents stop them.
    case removeService(id: String, at: Timestamp)
    /// New tasks (ids and timestamps chosen by the orchestrator); all or none are created.
    case createTasks(tasks: [SwarmTask])
    /// An agent's report; a state that moves backward is refused.
    case updateTaskStatus(id: String, status: TaskStatus)
    /// Many agents' reports in one entry (the dispatcher batches them). Best effort: each report
    /// is applied on its own, and one for a task that is gone or whose state would move backward
    /// is skipped, so one late report cannot refuse the others.
    case updateTaskStatuses(updates: [TaskStatusUpdate])
    /// The orchestrator's intent for a task; it only moves forward.
    case setTaskDesiredState(id: String, state: TaskState, at: Timestamp)
    /// The scheduler placed a task on a node.
    case assignTask(id: String, nodeID: String, at: Timestamp)
    /// Deletes tasks (history pruning, or tasks of a removed service that have stopped).
    case removeTasks(ids: [String])
}

/// One agent report: the task and its new status.
public struct TaskStatusUpdate: Codable, Sendable, Equatable {
    public var taskID: String
    public var status: TaskStatus

    public init(taskID: String, status: TaskStatus) {
        self.taskID = taskID
        self.status = status
    }
}

/// Secrets the managers share; never shown by the API (the join tokens embed their secrets).
public struct ClusterSecrets: Codable, Sendable, Equatable {
    public var workerSecret: String
    public var managerSecret: String
    /// Each member's connection credential, by transport id (decimal).
    public var members: [String: MemberCredential]

    public init(workerSecret: String, managerSecret: String, members: [String: MemberCredential]) {
        self.workerSecret = workerSecret
        self.managerSecret = managerSecret
        self.members = members
    }
}

/// Who owns a transport identity and the key it proves.
public struct MemberCredential: Codable, Sendable, Equatable {
    public var nodeID: String
    public var credential: [UInt8]

    public init(nodeID: String, credential: [UInt8]) {
        self.nodeID = nodeID
        self.credential = credential
    }
}

/// Why a command was refused; the API maps these to Docker's status codes.
public enum ClusterError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound(kind: String, id: String)
    case conflict(String)
    case staleVersion(kind: String, id: String, expected: UInt64, actual: UInt64)
    case invalid(String)
    case notInitialized

    public var description: String {
        switch self {
        case let .notFound(kind, id): "\(kind) \(id) not found"
        case let .conflict(message): message
        case let .staleVersion(kind, id, expected, actual):
            "update out of sequence: \(kind) \(id) is at version \(actual), the update was based on version \(expected)"
        case let .invalid(message): message
        case .notInitialized: "the cluster is not initialized"
        }
    }
}
