/// A replicated or global service (Docker's `Service`): the spec users write, the spec it
/// replaced (for `rollback`), and where a rolling update stands.
public struct Service: Codable, Sendable, Equatable {
    public var id: String
    public var version: ObjectVersion
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    /// The specs live behind shared references (`SharedValue`): copying a service, or the whole
    /// services dictionary when a snapshot is captured, no longer copies them.
    private var specStorage: SharedValue<ServiceSpec>
    private var previousSpecStorage: SharedValue<ServiceSpec>?
    public var updateStatus: UpdateStatus?
    /// Published ports and VIPs, allocated by the apply (nil before networking existed).
    public var endpoint: ServiceEndpoint?

    public var spec: ServiceSpec {
        get { specStorage.value }
        set { specStorage = SharedValue(newValue) }
    }

    public var previousSpec: ServiceSpec? {
        get { previousSpecStorage?.value }
        set { previousSpecStorage = newValue.map(SharedValue.init) }
    }

    public init(id: String, version: ObjectVersion = ObjectVersion(index: 0), createdAt: Timestamp, spec: ServiceSpec,
                previousSpec: ServiceSpec? = nil, updateStatus: UpdateStatus? = nil) {
        self.id = id
        self.version = version
        self.createdAt = createdAt
        updatedAt = createdAt
        specStorage = SharedValue(spec)
        previousSpecStorage = previousSpec.map(SharedValue.init)
        self.updateStatus = updateStatus
    }

    enum CodingKeys: String, CodingKey {
        case id = "ID", version = "Version", createdAt = "CreatedAt", updatedAt = "UpdatedAt", spec = "Spec"
        case previousSpec = "PreviousSpec", updateStatus = "UpdateStatus", endpoint = "Endpoint"
    }

    // The form the synthesized conformance had (same keys, order and optionals), so logs,
    // snapshots and answers are unchanged.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        version = try container.decode(ObjectVersion.self, forKey: .version)
        createdAt = try container.decode(Timestamp.self, forKey: .createdAt)
        updatedAt = try container.decode(Timestamp.self, forKey: .updatedAt)
        specStorage = SharedValue(try container.decode(ServiceSpec.self, forKey: .spec))
        previousSpecStorage = try container.decodeIfPresent(ServiceSpec.self, forKey: .previousSpec).map(SharedValue.init)
        updateStatus = try container.decodeIfPresent(UpdateStatus.self, forKey: .updateStatus)
        endpoint = try container.decodeIfPresent(ServiceEndpoint.self, forKey: .endpoint)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(version, forKey: .version)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(spec, forKey: .spec)
        try container.encodeIfPresent(previousSpec, forKey: .previousSpec)
        try container.encodeIfPresent(updateStatus, forKey: .updateStatus)
        try container.encodeIfPresent(endpoint, forKey: .endpoint)
    }

    public static func == (lhs: Service, rhs: Service) -> Bool {
        guard lhs.id == rhs.id, lhs.version == rhs.version, lhs.createdAt == rhs.createdAt, lhs.updatedAt == rhs.updatedAt,
              lhs.updateStatus == rhs.updateStatus, lhs.endpoint == rhs.endpoint,
              SharedValue.same(lhs.specStorage, rhs.specStorage) else { return false }
        switch (lhs.previousSpecStorage, rhs.previousSpecStorage) {
        case (nil, nil): return true
        case let (left?, right?): return SharedValue.same(left, right)
        default: return false
        }
    }
}

/// Docker's `UpdateStatus.State`: `updating` → `completed` (or `paused`), and for a rollback
/// `rollback_started` → `rollback_completed` (or `rollback_paused`).
public enum UpdateState: String, Codable, Sendable, Equatable {
    case updating, paused, completed
    case rollbackStarted = "rollback_started", rollbackPaused = "rollback_paused", rollbackCompleted = "rollback_completed"
}

public struct UpdateStatus: Codable, Sendable, Equatable {
    public var state: UpdateState
    public var startedAt: Timestamp?
    public var completedAt: Timestamp?
    public var message: String?

    public init(state: UpdateState, startedAt: Timestamp? = nil, completedAt: Timestamp? = nil, message: String? = nil) {
        self.state = state
        self.startedAt = startedAt
        self.completedAt = completedAt
        self.message = message
    }

    enum CodingKeys: String, CodingKey {
        case state = "State", startedAt = "StartedAt", completedAt = "CompletedAt", message = "Message"
    }
}

/// What users write for a service (`docker service create|update`).
public struct ServiceSpec: Codable, Sendable, Equatable {
    public var name: String
    public var labels: [String: String]
    public var taskTemplate: TaskTemplate
    public var mode: ServiceMode
    public var updateConfig: UpdateConfig?
    public var rollbackConfig: UpdateConfig?
    public var endpointSpec: EndpointSpec?
    /// The legacy place for networks (`Spec.Networks`); the API moves them into
    /// `TaskTemplate.Networks`, as dockerd does, so stored specs keep this nil.
    public var networks: [NetworkAttachmentConfig]?

    public init(name: String, labels: [String: String] = [:], taskTemplate: TaskTemplate,
                mode: ServiceMode = .replicated(replicas: 1), updateConfig: UpdateConfig? = nil,
                rollbackConfig: UpdateConfig? = nil, endpointSpec: EndpointSpec? = nil, networks: [NetworkAttachmentConfig]? = nil) {
        self.name = name
        self.labels = labels
        self.taskTemplate = taskTemplate
        self.mode = mode
        self.updateConfig = updateConfig
        self.rollbackConfig = rollbackConfig
        self.endpointSpec = endpointSpec
        self.networks = networks
    }

    enum CodingKeys: String, CodingKey {
        case name = "Name", labels = "Labels", taskTemplate = "TaskTemplate", mode = "Mode"
        case updateConfig = "UpdateConfig", rollbackConfig = "RollbackConfig", endpointSpec = "EndpointSpec"
        case networks = "Networks"
    }

    /// Docker leaves `Labels` and `Mode` out when empty or default; so may clients.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? ""
        labels = try container.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
        taskTemplate = try container.decode(TaskTemplate.self, forKey: .taskTemplate)
        mode = try container.decodeIfPresent(ServiceMode.self, forKey: .mode) ?? .replicated(replicas: 1)
        updateConfig = try container.decodeIfPresent(UpdateConfig.self, forKey: .updateConfig)
        rollbackConfig = try container.decodeIfPresent(UpdateConfig.self, forKey: .rollbackConfig)
        endpointSpec = try container.decodeIfPresent(EndpointSpec.self, forKey: .endpointSpec)
        networks = try container.decodeIfPresent([NetworkAttachmentConfig].self, forKey: .networks)
    }
}

/// Docker's `Mode`: `{"Replicated": {"Replicas": n}}` or `{"Global": {}}`.
public enum ServiceMode: Codable, Sendable, Equatable {
    case replicated(replicas: UInt64)
    case global

    enum CodingKeys: String, CodingKey { case replicated = "Replicated", global = "Global" }

    public struct Replicated: Codable, Sendable, Equatable {
        public var replicas: UInt64?
        enum CodingKeys: String, CodingKey { case replicas = "Replicas" }
    }

    public struct Global: Codable, Sendable, Equatable {}

    public var isGlobal: Bool { self == .global }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let replicated = try container.decodeIfPresent(Replicated.self, forKey: .replicated) {
            self = .replicated(replicas: replicated.replicas ?? 1)
        } else if try container.decodeIfPresent(Global.self, forKey: .global) != nil {
            self = .global
        } else {
            self = .replicated(replicas: 1)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case let .replicated(replicas): try container.encode(Replicated(replicas: replicas), forKey: .replicated)
        case .global: try container.encode(Global(), forKey: .global)
        }
    }
}

/// What every task of a service runs (Docker's `TaskSpec`); a task carries its own copy.
public struct TaskTemplate: Codable, Sendable, Equatable {
    public var containerSpec: ContainerSpec
    public var resources: ResourceRequirements?
    public var restartPolicy: RestartPolicy?
    public var placement: Placement?
    /// Bumped by `docker service update --force` to redeploy an unchanged template.
    public var forceUpdate: UInt64?
    public var runtime: String?
    /// The overlay networks the task joins (ids; the API resolves names), with DNS aliases.
    public var networks: [NetworkAttachmentConfig]?

    public init(containerSpec: ContainerSpec, resources: ResourceRequirements? = nil, restartPolicy: RestartPolicy? = nil,
                placement: Placement? = nil, forceUpdate: UInt64? = nil, runtime: String? = nil,
                networks: [NetworkAttachmentConfig]? = nil) {
        self.containerSpec = containerSpec
        self.resources = resources
        self.restartPolicy = restartPolicy
        self.placement = placement
        self.forceUpdate = forceUpdate
        self.runtime = runtime
        self.networks = networks
    }

    enum CodingKeys: String, CodingKey {
        case containerSpec = "ContainerSpec", resources = "Resources", restartPolicy = "RestartPolicy"
        case placement = "Placement", forceUpdate = "ForceUpdate", runtime = "Runtime", networks = "Networks"
    }
}

public struct ContainerSpec: Codable, Sendable, Equatable {
    public var image: String
    public var labels: [String: String]?
    public var command: [String]?
    public var args: [String]?
    public var hostname: String?
    public var env: [String]?
    public var dir: String?
    public var user: String?
    public var initProcess: Bool?
    /// Nanoseconds.
    public var stopGracePeriod: Int64?
    public var stopSignal: String?
    public var healthcheck: HealthConfig?
    public var isolation: String?
    /// Supplementary groups (`--group`): names in the image's /etc/group, or numbers.
    public var groups: [String]?
    public var privileges: Privileges?
    /// The root file system is mounted read-only (`--read-only`).
    public var readOnly: Bool?
    public var mounts: [Mount]?
    /// Extra /etc/hosts lines, `IP NAME [ALIAS…]` (the CLI's `--host NAME:IP` becomes `IP NAME`).
    public var hosts: [String]?
    public var dnsConfig: DNSConfig?
    public var sysctls: [String: String]?
    /// Capability names as given (`NET_ADMIN`, `CAP_NET_ADMIN`, `ALL`).
    public var capabilityAdd: [String]?
    public var capabilityDrop: [String]?
    public var ulimits: [Ulimit]?
    /// Secrets the task sees under /run/secrets (each a revision id and name).
    public var secrets: [SecretReference]?
    /// Configs the task sees at their targets.
    public var configs: [ConfigReference]?

    public init(image: String, labels: [String: String]? = nil, command: [String]? = nil, args: [String]? = nil,
                hostname: String? = nil, env: [String]? = nil, dir: String? = nil, user: String? = nil,
                initProcess: Bool? = nil, stopGracePeriod: Int64? = nil, stopSignal: String? = nil,
                healthcheck: HealthConfig? = nil, isolation: String? = nil) {
        self.image = image
        self.labels = labels
        self.command = command
        self.args = args
        self.hostname = hostname
        self.env = env
        self.dir = dir
        self.user = user
        self.initProcess = initProcess
        self.stopGracePeriod = stopGracePeriod
        self.stopSignal = stopSignal
        self.healthcheck = healthcheck
        self.isolation = isolation
    }

    enum CodingKeys: String, CodingKey {
        case image = "Image", labels = "Labels", command = "Command", args = "Args", hostname = "Hostname", env = "Env"
        case dir = "Dir", user = "User", initProcess = "Init", stopGracePeriod = "StopGracePeriod"
        case stopSignal = "StopSignal", healthcheck = "Healthcheck", isolation = "Isolation"
        case groups = "Groups", privileges = "Privileges", readOnly = "ReadOnly", mounts = "Mounts", hosts = "Hosts"
        case dnsConfig = "DNSConfig", sysctls = "Sysctls", capabilityAdd = "CapabilityAdd", capabilityDrop = "CapabilityDrop"
        case ulimits = "Ulimits"
        case secrets = "Secrets", configs = "Configs"
    }
}

/// Docker's `HealthConfig`; durations in nanoseconds.
public struct HealthConfig: Codable, Sendable, Equatable {
    public var test: [String]?
    public var interval: Int64?
    public var timeout: Int64?
    public var retries: Int64?
    public var startPeriod: Int64?

    public init(test: [String]? = nil, interval: Int64? = nil, timeout: Int64? = nil, retries: Int64? = nil,
                startPeriod: Int64? = nil) {
        self.test = test
        self.interval = interval
        self.timeout = timeout
        self.retries = retries
        self.startPeriod = startPeriod
    }

    enum CodingKeys: String, CodingKey {
        case test = "Test", interval = "Interval", timeout = "Timeout", retries = "Retries", startPeriod = "StartPeriod"
    }
}

/// Docker's `Resources` of a task: `{"Limits": {…}, "Reservations": {…}}`.
public struct ResourceRequirements: Codable, Sendable, Equatable {
    public var limits: ResourceAmounts?
    public var reservations: ResourceAmounts?

    public init(limits: ResourceAmounts? = nil, reservations: ResourceAmounts? = nil) {
        self.limits = limits
        self.reservations = reservations
    }

    enum CodingKeys: String, CodingKey { case limits = "Limits", reservations = "Reservations" }
}

public struct ResourceAmounts: Codable, Sendable, Equatable {
    public var nanoCPUs: Int64?
    public var memoryBytes: Int64?
    /// Only meaningful as a limit.
    public var pids: Int64?

    public init(nanoCPUs: Int64? = nil, memoryBytes: Int64? = nil, pids: Int64? = nil) {
        self.nanoCPUs = nanoCPUs
        self.memoryBytes = memoryBytes
        self.pids = pids
    }

    enum CodingKeys: String, CodingKey { case nanoCPUs = "NanoCPUs", memoryBytes = "MemoryBytes", pids = "Pids" }
}

public enum RestartCondition: String, Codable, Sendable, Equatable {
    case none, onFailure = "on-failure", any
}

public struct RestartPolicy: Codable, Sendable, Equatable {
    public var condition: RestartCondition?
    /// Nanoseconds.
    public var delay: Int64?
    /// 0 means unlimited.
    public var maxAttempts: UInt64?
    /// Nanoseconds.
    public var window: Int64?

    public init(condition: RestartCondition? = nil, delay: Int64? = nil, maxAttempts: UInt64? = nil, window: Int64? = nil) {
        self.condition = condition
        self.delay = delay
        self.maxAttempts = maxAttempts
        self.window = window
    }

    enum CodingKeys: String, CodingKey { case condition = "Condition", delay = "Delay", maxAttempts = "MaxAttempts", window = "Window" }
}

public struct Placement: Codable, Sendable, Equatable {
    public var constraints: [String]?
    public var preferences: [PlacementPreference]?
    /// 0 or absent means unlimited.
    public var maxReplicas: UInt64?

    public init(constraints: [String]? = nil, preferences: [PlacementPreference]? = nil, maxReplicas: UInt64? = nil) {
        self.constraints = constraints
        self.preferences = preferences
        self.maxReplicas = maxReplicas
    }

    enum CodingKeys: String, CodingKey { case constraints = "Constraints", preferences = "Preferences", maxReplicas = "MaxReplicas" }
}

/// `{"Spread": {"SpreadDescriptor": "node.labels.zone"}}`.
public struct PlacementPreference: Codable, Sendable, Equatable {
    public var spread: Spread?

    public init(spreadDescriptor: String) { spread = Spread(spreadDescriptor: spreadDescriptor) }

    public struct Spread: Codable, Sendable, Equatable {
        public var spreadDescriptor: String
        enum CodingKeys: String, CodingKey { case spreadDescriptor = "SpreadDescriptor" }
    }

    enum CodingKeys: String, CodingKey { case spread = "Spread" }
}

public enum UpdateFailureAction: String, Codable, Sendable, Equatable {
    case pause, `continue`, rollback
}

public enum UpdateOrder: String, Codable, Sendable, Equatable {
    case stopFirst = "stop-first", startFirst = "start-first"
}

/// Docker's `UpdateConfig`, also used for `RollbackConfig`. Durations in nanoseconds.
public struct UpdateConfig: Codable, Sendable, Equatable {
    public var parallelism: UInt64?
    public var delay: Int64?
    public var failureAction: UpdateFailureAction?
    public var monitor: Int64?
    public var maxFailureRatio: Double?
    public var order: UpdateOrder?

    public init(parallelism: UInt64? = nil, delay: Int64? = nil, failureAction: UpdateFailureAction? = nil,
                monitor: Int64? = nil, maxFailureRatio: Double? = nil, order: UpdateOrder? = nil) {
        self.parallelism = parallelism
        self.delay = delay
        self.failureAction = failureAction
        self.monitor = monitor
        self.maxFailureRatio = maxFailureRatio
        self.order = order
    }

    /// What dockerd shows with `insertDefaults=true`.
    public static let dockerDefault = UpdateConfig(parallelism: 1, failureAction: .pause, monitor: 5_000_000_000,
                                                   maxFailureRatio: 0, order: .stopFirst)

    enum CodingKeys: String, CodingKey {
        case parallelism = "Parallelism", delay = "Delay", failureAction = "FailureAction", monitor = "Monitor"
        case maxFailureRatio = "MaxFailureRatio", order = "Order"
    }
}

public struct EndpointSpec: Codable, Sendable, Equatable {
    /// `vip` or `dnsrr`.
    public var mode: String?
    public var ports: [PortConfig]?

    public init(mode: String? = nil, ports: [PortConfig]? = nil) {
        self.mode = mode
        self.ports = ports
    }

    enum CodingKeys: String, CodingKey { case mode = "Mode", ports = "Ports" }
}

public struct PortConfig: Codable, Sendable, Equatable {
    public var name: String?
    public var `protocol`: String?
    public var targetPort: UInt32
    public var publishedPort: UInt32?
    /// `ingress` or `host`.
    public var publishMode: String?
    /// This cluster's extension for ingress ports (`--publish mode=ingress,policy=local`):
    /// `local` sends a connection only to a task on the node that received it, keeping the
    /// client's address; `cluster` (the default) balances over every task (Docker's mesh).
    public var publishPolicy: String?

    public init(name: String? = nil, protocol: String? = nil, targetPort: UInt32, publishedPort: UInt32? = nil,
                publishMode: String? = nil, publishPolicy: String? = nil) {
        self.name = name
        self.protocol = `protocol`
        self.targetPort = targetPort
        self.publishedPort = publishedPort
        self.publishMode = publishMode
        self.publishPolicy = publishPolicy
    }

    enum CodingKeys: String, CodingKey {
        case name = "Name", `protocol` = "Protocol", targetPort = "TargetPort", publishedPort = "PublishedPort"
        case publishMode = "PublishMode", publishPolicy = "PublishPolicy"
    }
}

extension ServiceSpec {
    /// The spec as dockerd shows it with `insertDefaults=true`: a 10 s stop grace period,
    /// restart `any` after 5 s with unlimited attempts, and the default update and rollback
    /// configs, each only where the user left it unset.
    public func withDockerDefaults() -> ServiceSpec {
        var spec = self
        spec.taskTemplate.containerSpec.stopGracePeriod = spec.taskTemplate.containerSpec.stopGracePeriod ?? 10_000_000_000
        var restart = spec.taskTemplate.restartPolicy ?? RestartPolicy()
        restart.condition = restart.condition ?? .any
        restart.delay = restart.delay ?? 5_000_000_000
        restart.maxAttempts = restart.maxAttempts ?? 0
        spec.taskTemplate.restartPolicy = restart
        spec.updateConfig = (spec.updateConfig ?? UpdateConfig()).filled(from: .dockerDefault)
        spec.rollbackConfig = (spec.rollbackConfig ?? UpdateConfig()).filled(from: .dockerDefault)
        return spec
    }
}

extension UpdateConfig {
    /// This config with every unset field taken from `defaults`.
    public func filled(from defaults: UpdateConfig) -> UpdateConfig {
        UpdateConfig(parallelism: parallelism ?? defaults.parallelism, delay: delay ?? defaults.delay,
                     failureAction: failureAction ?? defaults.failureAction, monitor: monitor ?? defaults.monitor,
                     maxFailureRatio: maxFailureRatio ?? defaults.maxFailureRatio, order: order ?? defaults.order)
    }
}
