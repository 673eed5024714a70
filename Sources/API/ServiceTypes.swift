import ClusterState
import Crypto
import Platform

/// Docker's `Service` as dockerd 20.10 answers it: the stored object plus `Endpoint` and, when
/// asked (`status=true`, API ≥ 1.41), `ServiceStatus`.
///
/// It exists because the JSON carries facts that are not replicated (the task counts, the
/// `Runtime`/`Isolation` values dockerd always shows, the defaults of `insertDefaults=true`),
/// so they are added when answering instead of being stored.
struct ServiceResponse: Encodable {
    var service: Service
    var insertDefaults: Bool
    var status: ServiceStatusCounts?

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: DynamicKey.self)
        try container.encode(service.id, forKey: DynamicKey("ID"))
        try container.encode(service.version, forKey: DynamicKey("Version"))
        try container.encode(service.createdAt, forKey: DynamicKey("CreatedAt"))
        try container.encode(service.updatedAt, forKey: DynamicKey("UpdatedAt"))
        let spec = insertDefaults ? service.spec.withDockerDefaults() : service.spec
        try container.encode(ServicePresentation.shown(spec), forKey: DynamicKey("Spec"))
        if let previous = service.previousSpec {
            try container.encode(ServicePresentation.shown(previous), forKey: DynamicKey("PreviousSpec"))
        }
        try container.encode(EndpointResponse(endpoint: service.endpoint), forKey: DynamicKey("Endpoint"))
        try container.encodeIfPresent(service.updateStatus, forKey: DynamicKey("UpdateStatus"))
        try container.encodeIfPresent(status, forKey: DynamicKey("ServiceStatus"))
    }
}

/// `ServiceStatus` of `GET /services?status=true`, counted as swarmkit's `ListServiceStatuses`:
/// running = desired running and observed running; desired = the replica count, or for a global
/// service the tasks whose desired state is running.
struct ServiceStatusCounts: Encodable, Equatable {
    var runningTasks: UInt64
    var desiredTasks: UInt64
    var completedTasks: UInt64 = 0

    enum CodingKeys: String, CodingKey {
        case runningTasks = "RunningTasks", desiredTasks = "DesiredTasks", completedTasks = "CompletedTasks"
    }

    /// The counts of every service in `state`, in one pass over the tasks.
    static func all(in state: ClusterState) -> [String: ServiceStatusCounts] {
        var running: [String: UInt64] = [:]
        var desiredRunning: [String: UInt64] = [:]
        for task in state.tasks.values where task.desiredState == .running {
            desiredRunning[task.serviceID, default: 0] += 1
            if task.status.state == .running { running[task.serviceID, default: 0] += 1 }
        }
        var counts: [String: ServiceStatusCounts] = [:]
        for (id, service) in state.services {
            let desired: UInt64 = switch service.spec.mode {
            case let .replicated(replicas): replicas
            case .global: desiredRunning[id] ?? 0
            }
            counts[id] = ServiceStatusCounts(runningTasks: running[id] ?? 0, desiredTasks: desired)
        }
        return counts
    }
}

/// Docker's `Endpoint`: `{"Spec": {}}` for services with neither published ports nor networks,
/// as dockerd shows them; otherwise the spec it answered, the ports with their numbers and the
/// VIPs the apply allocated.
struct EndpointResponse: Encodable {
    var endpoint: ServiceEndpoint?

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: DynamicKey.self)
        guard let endpoint, !endpoint.ports.isEmpty || !endpoint.virtualIPs.isEmpty else {
            try container.encode([String: String](), forKey: DynamicKey("Spec"))
            return
        }
        try container.encode(endpoint.spec, forKey: DynamicKey("Spec"))
        if !endpoint.ports.isEmpty { try container.encode(endpoint.ports, forKey: DynamicKey("Ports")) }
        if !endpoint.virtualIPs.isEmpty { try container.encode(endpoint.virtualIPs, forKey: DynamicKey("VirtualIPs")) }
    }
}

/// One of a task's `NetworksAttachments` as dockerd shows it: the network in swarm's shape
/// (`swarm.Network`: `ID`, `Spec`, `DriverState`, `IPAMOptions`), then the task's addresses on it.
/// A network removed while the task stops is left out (its addresses stay).
struct NetworkAttachmentResponse: Encodable {
    var network: Network?
    var attachment: NetworkAttachment

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: DynamicKey.self)
        if let network { try container.encode(SwarmNetworkResponse(network: network), forKey: DynamicKey("Network")) }
        try container.encode(attachment.addresses, forKey: DynamicKey("Addresses"))
    }
}

/// Docker's `swarm.Network`, the shape tasks embed.
struct SwarmNetworkResponse: Encodable {
    var network: Network

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: DynamicKey.self)
        let options = ["com.docker.network.driver.overlay.vxlanid_list": String(network.vxlanID)]
        let ipam = IPAMOptions(configs: [["Subnet": network.subnet.description, "Gateway": network.gateway.description]])
        try container.encode(network.id, forKey: DynamicKey("ID"))
        try container.encode(network.version, forKey: DynamicKey("Version"))
        try container.encode(network.createdAt, forKey: DynamicKey("CreatedAt"))
        try container.encode(network.updatedAt, forKey: DynamicKey("UpdatedAt"))
        try container.encode(Spec(network: network, ipam: ipam), forKey: DynamicKey("Spec"))
        try container.encode(Driver(name: network.spec.driver, options: options), forKey: DynamicKey("DriverState"))
        try container.encode(ipam, forKey: DynamicKey("IPAMOptions"))
    }

    struct Driver: Encodable {
        var name: String
        var options: [String: String]?
        enum CodingKeys: String, CodingKey { case name = "Name", options = "Options" }
    }

    struct IPAMOptions: Encodable {
        var driver = Driver(name: "default")
        var configs: [[String: String]]
        enum CodingKeys: String, CodingKey { case driver = "Driver", configs = "Configs" }
    }

    struct Spec: Encodable {
        var network: Network
        var ipam: IPAMOptions

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: DynamicKey.self)
            try container.encode(network.spec.name, forKey: DynamicKey("Name"))
            try container.encode(network.spec.labels, forKey: DynamicKey("Labels"))
            try container.encode(Driver(name: network.spec.driver), forKey: DynamicKey("DriverConfiguration"))
            try container.encode("swarm", forKey: DynamicKey("Scope"))
            if network.spec.attachable { try container.encode(true, forKey: DynamicKey("Attachable")) }
            if network.spec.ingress { try container.encode(true, forKey: DynamicKey("Ingress")) }
            try container.encode(ipam, forKey: DynamicKey("IPAMOptions"))
        }
    }
}

/// Docker's `Task` as dockerd 20.10 answers it: the stored task plus the empty `Labels` and
/// `Status.PortStatus` objects and the `Isolation` value it always shows.
struct TaskResponse: Encodable {
    var task: SwarmTask
    /// The networks of the task's attachments (nil: attachments not shown).
    var networks: [String: Network]? = nil

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: DynamicKey.self)
        try container.encode(task.id, forKey: DynamicKey("ID"))
        try container.encode(task.version, forKey: DynamicKey("Version"))
        try container.encode(task.createdAt, forKey: DynamicKey("CreatedAt"))
        try container.encode(task.updatedAt, forKey: DynamicKey("UpdatedAt"))
        try container.encode([String: String](), forKey: DynamicKey("Labels"))
        try container.encode(ServicePresentation.shown(task.spec, runtime: false), forKey: DynamicKey("Spec"))
        try container.encode(task.serviceID, forKey: DynamicKey("ServiceID"))
        if let slot = task.slot, slot != 0 { try container.encode(slot, forKey: DynamicKey("Slot")) }
        if let nodeID = task.nodeID, !nodeID.isEmpty { try container.encode(nodeID, forKey: DynamicKey("NodeID")) }
        try container.encode(TaskStatusResponse(status: task.status), forKey: DynamicKey("Status"))
        try container.encode(task.desiredState, forKey: DynamicKey("DesiredState"))
        if let attachments = task.networksAttachments, !attachments.isEmpty {
            try container.encode(attachments.map { NetworkAttachmentResponse(network: networks?[$0.networkID], attachment: $0) },
                                 forKey: DynamicKey("NetworksAttachments"))
        }
    }
}

struct TaskStatusResponse: Encodable {
    var status: TaskStatus

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: DynamicKey.self)
        try container.encode(status.timestamp, forKey: DynamicKey("Timestamp"))
        try container.encode(status.state, forKey: DynamicKey("State"))
        try container.encode(status.message, forKey: DynamicKey("Message"))
        if let err = status.err, !err.isEmpty { try container.encode(err, forKey: DynamicKey("Err")) }
        try container.encodeIfPresent(status.containerStatus, forKey: DynamicKey("ContainerStatus"))
        try container.encode([String: String](), forKey: DynamicKey("PortStatus"))
    }
}

/// `{"ID": ...}` of `POST /services/create` (dockerd leaves `Warnings` out when there are none).
struct ServiceCreateResponse: Encodable {
    var id: String
    enum CodingKeys: String, CodingKey { case id = "ID" }

    /// The encoded answer, written directly: what `JSONEncoder` gives for it (ids are letters and
    /// digits, nothing to escape), without an encoder per create on the node's loop.
    static func body(id: String) -> [UInt8] {
        guard id.utf8.allSatisfy({ $0.isASCIIAlphanumeric }) else {
            return (try? DockerAPI.encode(ServiceCreateResponse(id: id))) ?? []
        }
        return Array("{\"ID\":\"\(id)\"}\n".utf8)
    }
}

private extension UInt8 {
    var isASCIIAlphanumeric: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
    }
}

/// `{"Warnings": null}` of `POST /services/{id}/update`, byte for byte as dockerd.
struct ServiceUpdateResponse: Encodable {
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: DynamicKey.self)
        try container.encodeNil(forKey: DynamicKey("Warnings"))
    }
}

/// The two spec fields dockerd reports with a value even when nobody set them: `Runtime`
/// (`container`) and `ContainerSpec.Isolation` (`default`).
///
/// It exists because clients echo what they read: the docker CLI sends the inspected spec back
/// with these values on every `scale` or `update`. Specs are stored without them
/// (`canonical`) and shown with them (`shown`), so an echoed spec equals the stored one and
/// `docker service scale` does not look like a task template change (a rolling update).
enum ServicePresentation {
    static let defaultRuntime = "container"
    static let defaultIsolation = "default"

    static func canonical(_ spec: ServiceSpec) -> ServiceSpec {
        var copy = spec
        copy.taskTemplate = canonical(spec.taskTemplate)
        return copy
    }

    static func canonical(_ template: TaskTemplate) -> TaskTemplate {
        var copy = template
        if copy.runtime == defaultRuntime || copy.runtime == "" { copy.runtime = nil }
        if copy.containerSpec.isolation == defaultIsolation || copy.containerSpec.isolation == "" { copy.containerSpec.isolation = nil }
        copy.containerSpec = canonicalSettings(copy.containerSpec)
        if copy.networks?.isEmpty == true { copy.networks = nil }
        return copy
    }

    /// Container settings at their defaults (`"DNSConfig": {}`, `"Mounts": []`, `"ReadOnly": false`,
    /// … as the docker CLI sends them) stored as absent, so a spec sent back without them is the
    /// same spec (no update starts).
    static func canonicalSettings(_ container: ContainerSpec) -> ContainerSpec {
        var copy = container
        func emptyToNil<T: Collection>(_ value: T?) -> T? { value?.isEmpty == false ? value : nil }
        copy.groups = emptyToNil(copy.groups)
        copy.mounts = emptyToNil(copy.mounts)
        copy.hosts = emptyToNil(copy.hosts)
        copy.sysctls = emptyToNil(copy.sysctls)
        copy.capabilityAdd = emptyToNil(copy.capabilityAdd)
        copy.capabilityDrop = emptyToNil(copy.capabilityDrop)
        copy.ulimits = emptyToNil(copy.ulimits)
        if copy.readOnly == false { copy.readOnly = nil }
        if copy.dnsConfig?.isEmpty == true { copy.dnsConfig = nil }
        if var privileges = copy.privileges {
            if ["", "default"].contains(privileges.seccomp?.mode ?? "") { privileges.seccomp = nil }
            if privileges.noNewPrivileges == false { privileges.noNewPrivileges = nil }
            copy.privileges = privileges == Privileges() ? nil : privileges
        }
        return copy
    }

    static func shown(_ spec: ServiceSpec) -> ServiceSpec {
        var copy = spec
        copy.taskTemplate = shown(spec.taskTemplate, runtime: true)
        return copy
    }

    /// Tasks show `Isolation` but no `Runtime` (swarmkit keeps the runtime as the spec's kind).
    static func shown(_ template: TaskTemplate, runtime: Bool) -> TaskTemplate {
        var copy = template
        if runtime, copy.runtime == nil { copy.runtime = defaultRuntime }
        if copy.containerSpec.isolation == nil { copy.containerSpec.isolation = defaultIsolation }
        return copy
    }
}

/// What swarmkit's `validateServiceSpec` refuses before a service is created or updated, with
/// its gRPC code and wording (dockerd answers `InvalidArgument` with 400).
enum ServiceSpecValidation {
    static func problem(_ spec: ServiceSpec) -> APIError? {
        if let problem = nameProblem(spec.name) { return invalidArgument(problem) }
        if spec.taskTemplate.containerSpec.image.isEmpty {
            return invalidArgument("ContainerSpec: image reference must be provided")
        }
        if spec.taskTemplate.containerSpec.image.contains(where: { $0 == " " || $0.isNewline }) {
            return invalidArgument("ContainerSpec: \"\(spec.taskTemplate.containerSpec.image)\" is not a valid repository/tag")
        }
        if let grace = spec.taskTemplate.containerSpec.stopGracePeriod, grace < 0 {
            return invalidArgument("TaskSpec: stop grace period cannot be negative")
        }
        if let signal = spec.taskTemplate.containerSpec.stopSignal, !signal.isEmpty, Signals.number(named: signal) == nil {
            return invalidArgument("ContainerSpec: invalid stop signal \"\(signal)\": use a name such as SIGTERM, SIGINT or SIGKILL, or a number")
        }
        if let problem = ContainerSettingsValidation.problem(spec.taskTemplate.containerSpec) {
            return invalidArgument("ContainerSpec: \(problem)")
        }
        if let restart = spec.taskTemplate.restartPolicy {
            if let delay = restart.delay, delay < 0 { return invalidArgument("TaskSpec: restart-delay cannot be negative") }
            if let window = restart.window, window < 0 { return invalidArgument("TaskSpec: restart-window cannot be negative") }
        }
        for (label, config) in [("UpdateConfig", spec.updateConfig), ("RollbackConfig", spec.rollbackConfig)] {
            guard let config else { continue }
            if let delay = config.delay, delay < 0 { return invalidArgument("\(label): update-delay cannot be negative") }
            if let monitor = config.monitor, monitor < 0 { return invalidArgument("\(label): update-monitor cannot be negative") }
            if let ratio = config.maxFailureRatio, !(0...1).contains(ratio) {
                return invalidArgument("\(label): update-maxfailureratio cannot be less than 0 or bigger than 1")
            }
        }
        return nil
    }

    /// swarmkit's `validateAnnotations`: a DNS label of letters, digits, `-` and `_` that starts
    /// and ends with a letter or digit, at most 63 characters.
    static func nameProblem(_ name: String) -> String? {
        if name.isEmpty { return "meta: name must be provided" }
        let bytes = Array(name.utf8)
        func isAlphanumeric(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        let valid = isAlphanumeric(bytes.first!) && isAlphanumeric(bytes.last!)
            && bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
        if !valid { return "name must be valid as a DNS name component" }
        if bytes.count > 63 { return "name must be 63 characters or fewer" }
        return nil
    }

    static func invalidArgument(_ message: String) -> APIError {
        APIError(status: 400, "rpc error: code = InvalidArgument desc = \(message)")
    }
}

/// Ids and names the API chooses for new services, as dockerd does.
public enum DockerNames {
    /// A 25-character lowercase alphanumeric id, like swarmkit's `identity.NewID`.
    /// Each character from one random byte below 252 (7 × 36, so every character is equally
    /// likely): 32 bytes drawn at once cover an id almost always, where a draw per character
    /// cost a `getrandom` system call each (25 per created service).
    public static func randomID() -> String {
        var id: [UInt8] = []
        id.reserveCapacity(idLength)
        while id.count < idLength {
            for byte in randomBytes(32) where byte < 252 && id.count < idLength {
                id.append(idAlphabet[Int(byte % 36)])
            }
        }
        return String(decoding: id, as: UTF8.self)
    }

    private static let idLength = 25
    private static let idAlphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)

    /// OpenSSL's generator; the system's if OpenSSL fails.
    private static func randomBytes(_ count: Int) -> [UInt8] {
        if let bytes = try? Crypto.randomBytes(count) { return bytes }
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// `adjective_name` for a service created without a name (dockerd's `GetRandomName`).
    static func randomName(avoiding taken: (String) -> Bool) -> String {
        var generator = SystemRandomNumberGenerator()
        let adjectives = ["brave", "calm", "eager", "gentle", "happy", "jolly", "keen", "lucid", "merry", "nimble",
                          "quiet", "sharp", "steady", "swift", "tender", "vivid", "wise", "zealous"]
        let names = ["babbage", "curie", "dijkstra", "euler", "fermat", "gauss", "hopper", "kepler", "lamport",
                     "liskov", "lovelace", "noether", "pascal", "ritchie", "shannon", "thompson", "turing", "wirth"]
        var name = ""
        for attempt in 0..<64 {
            name = adjectives.randomElement(using: &generator)! + "_" + names.randomElement(using: &generator)!
            if attempt > 8 { name += String(generator.next(upperBound: UInt64(10))) }
            if !taken(name) { break }
        }
        return name
    }
}
