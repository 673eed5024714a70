/// A task's state, in swarmkit's order (NEW=0, PENDING=64, ALLOCATED=128, … ORPHANED=832): a
/// task's state only moves forward, so a late or replayed report can never undo a newer one.
/// `rawValue` is Docker's JSON name.
public enum TaskState: String, Codable, Sendable, Equatable, Comparable, CaseIterable {
    case new, pending, allocated, assigned, accepted, preparing, ready, starting, running
    case complete, shutdown, failed, rejected, remove, orphaned

    public static func < (lhs: TaskState, rhs: TaskState) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// The task has stopped for good (or will never start).
    public var isTerminal: Bool { self >= .complete }
}

/// One replica of a service on one node (Docker's `Task`). Named `SwarmTask` so modules that
/// import ClusterState keep Swift concurrency's `Task` unambiguous; its JSON is Docker's.
public struct SwarmTask: Codable, Sendable, Equatable {
    public var id: String
    public var version: ObjectVersion
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var serviceID: String
    /// The replica number of a replicated service; absent for global services.
    public var slot: UInt64?
    /// Set when the scheduler assigns the task (always set for global services).
    public var nodeID: String?
    /// The service's task template when this task was created.
    public var spec: TaskTemplate
    public var desiredState: TaskState
    public var status: TaskStatus
    /// The task's addresses on each of its networks, given by the apply when it is created.
    public var networksAttachments: [NetworkAttachment]?
    /// The service's name when the task was made (swarmkit's `ServiceAnnotations`), so the node
    /// that runs it can name its container `SERVICE.SLOT.TASK` without the cluster state.
    public var serviceAnnotations: TaskServiceAnnotations? = nil

    public init(id: String, version: ObjectVersion = ObjectVersion(index: 0), createdAt: Timestamp, serviceID: String,
                slot: UInt64? = nil, nodeID: String? = nil, spec: TaskTemplate, desiredState: TaskState = .running,
                status: TaskStatus) {
        self.id = id
        self.version = version
        self.createdAt = createdAt
        updatedAt = createdAt
        self.serviceID = serviceID
        self.slot = slot
        self.nodeID = nodeID
        self.spec = spec
        self.desiredState = desiredState
        self.status = status
    }

    enum CodingKeys: String, CodingKey {
        case id = "ID", version = "Version", createdAt = "CreatedAt", updatedAt = "UpdatedAt", serviceID = "ServiceID"
        case slot = "Slot", nodeID = "NodeID", spec = "Spec", desiredState = "DesiredState", status = "Status"
        case networksAttachments = "NetworksAttachments"
        case serviceAnnotations = "ServiceAnnotations"
    }
}

/// The part of a service's annotations a task carries: its name.
public struct TaskServiceAnnotations: Codable, Sendable, Equatable {
    public var name: String

    public init(name: String) { self.name = name }

    enum CodingKeys: String, CodingKey { case name = "Name" }
}

public struct TaskStatus: Codable, Sendable, Equatable {
    /// The message of a task the leader's dispatcher marked failed because its node never
    /// acknowledged it: the manager ended it, so it is replaced at once, whatever the restart policy.
    public static let notAcknowledgedMessage = "not acknowledged"

    public var timestamp: Timestamp
    public var state: TaskState
    public var message: String
    public var err: String?
    public var containerStatus: ContainerStatus?

    public init(timestamp: Timestamp, state: TaskState, message: String, err: String? = nil,
                containerStatus: ContainerStatus? = nil) {
        self.timestamp = timestamp
        self.state = state
        self.message = message
        self.err = err
        self.containerStatus = containerStatus
    }

    enum CodingKeys: String, CodingKey {
        case timestamp = "Timestamp", state = "State", message = "Message", err = "Err", containerStatus = "ContainerStatus"
    }
}

public struct ContainerStatus: Codable, Sendable, Equatable {
    public var containerID: String?
    public var pid: Int64?
    public var exitCode: Int64?

    public init(containerID: String? = nil, pid: Int64? = nil, exitCode: Int64? = nil) {
        self.containerID = containerID
        self.pid = pid
        self.exitCode = exitCode
    }

    enum CodingKeys: String, CodingKey { case containerID = "ContainerID", pid = "PID", exitCode = "ExitCode" }
}
