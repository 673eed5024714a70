import ClusterState

/// One task container of the node that answers, as the node shell reports it: its task and the
/// executor's view of it.
///
/// It exists so the node-level container routes (`docker ps`, `inspect`, `top`, `stats`, `logs`
/// against a node) are a translation of facts the node already has, testable with a fake.
public struct LocalContainer: Sendable, Equatable {
    public enum State: String, Sendable { case created, running, exited }

    /// The executor's container id (the task status' `ContainerID`).
    public var id: String
    public var task: SwarmTask
    public var serviceName: String
    public var state: State
    public var pid: Int32?
    public var exitCode: Int32?
    /// Seconds since the epoch.
    public var startedAt: Double?
    public var health: String?

    public init(id: String, task: SwarmTask, serviceName: String, state: State, pid: Int32? = nil, exitCode: Int32? = nil,
                startedAt: Double? = nil, health: String? = nil) {
        self.id = id
        self.task = task
        self.serviceName = serviceName
        self.state = state
        self.pid = pid
        self.exitCode = exitCode
        self.startedAt = startedAt
        self.health = health
    }

    /// Docker's container name for a task: `SERVICE.SLOT.TASKID` (`SERVICE.NODEID.TASKID` when global).
    public var name: String { DockerEventDeriver.containerName(task, serviceName: serviceName) }

    /// The labels dockerd's swarm executor puts on the container, and the container spec's own.
    public var labels: [String: String] {
        var labels = DockerEventDeriver.containerAttributes(task, serviceName: serviceName)
        labels["image"] = nil
        labels["name"] = nil
        return labels
    }

    /// Whether `reference` names this container: its id or a prefix of it, its name, or its task id.
    public func matches(_ reference: String) -> Bool {
        guard !reference.isEmpty else { return false }
        return id.hasPrefix(reference) || name == reference || name == "/" + reference || task.id == reference
    }
}

/// The processes of one container (`docker top`), as `ps` would title them.
public struct ContainerProcesses: Sendable, Equatable {
    public var titles: [String]
    public var processes: [[String]]

    public init(titles: [String], processes: [[String]]) {
        self.titles = titles
        self.processes = processes
    }
}

/// Resource use of one container at one moment (`docker stats`): cumulative CPU time of its
/// processes and of the whole host, memory in use and the limit, process count.
public struct ContainerUsage: Sendable, Equatable {
    public var readNanos: Int64
    public var cpuNanos: UInt64
    public var systemCPUNanos: UInt64
    public var onlineCPUs: Int
    public var memoryBytes: UInt64
    public var memoryLimitBytes: UInt64
    public var pids: Int

    public init(readNanos: Int64, cpuNanos: UInt64, systemCPUNanos: UInt64, onlineCPUs: Int, memoryBytes: UInt64, memoryLimitBytes: UInt64,
                pids: Int) {
        self.readNanos = readNanos
        self.cpuNanos = cpuNanos
        self.systemCPUNanos = systemCPUNanos
        self.onlineCPUs = onlineCPUs
        self.memoryBytes = memoryBytes
        self.memoryLimitBytes = memoryLimitBytes
        self.pids = pids
    }
}

/// One image of the node's store (`docker images` against a node).
public struct LocalImage: Sendable, Equatable {
    /// `sha256:HEX`.
    public var id: String
    public var repoTags: [String]
    /// Seconds since the epoch.
    public var created: Int64
    public var size: Int64

    public init(id: String, repoTags: [String], created: Int64, size: Int64) {
        self.id = id
        self.repoTags = repoTags
        self.created = created
        self.size = size
    }
}
