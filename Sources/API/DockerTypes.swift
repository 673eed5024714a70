import ClusterState
import Glibc

/// Who this server says it is in `/version`, `/info` and the `Server` header.
///
/// It exists so the version strings are chosen once by the binary (and fixed in tests) instead
/// of being scattered through the routes.
public struct ServerIdentity: Sendable, Equatable {
    public var version: String
    public var gitCommit: String
    /// Go-style names, as Docker reports them: `linux`, `amd64`/`arm64`.
    public var os: String
    public var arch: String
    public var kernelVersion: String

    public init(version: String, gitCommit: String = "", os: String = "linux", arch: String, kernelVersion: String) {
        self.version = version
        self.gitCommit = gitCommit
        self.os = os
        self.arch = arch
        self.kernelVersion = kernelVersion
    }

    /// This host's architecture and kernel from `uname`.
    public static func host(version: String, gitCommit: String = "") -> ServerIdentity {
        var names = utsname()
        uname(&names)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        let machine = field(names.machine)
        let arch = ["x86_64": "amd64", "aarch64": "arm64"][machine] ?? machine
        return ServerIdentity(version: version, gitCommit: gitCommit, arch: arch, kernelVersion: field(names.release))
    }

    /// The `Server` header value.
    public var serverHeader: String { "swarmctl/\(version) (\(os))" }
}

/// The API versions this server speaks (dockerd 20.10's range).
public enum APIVersion {
    public static let current = "1.41"
    public static let minimum = "1.12"

    /// Parses `1.41` into (1, 41).
    static func parse(_ text: Substring) -> (Int, Int)? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]),
              parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) else { return nil }
        return (major, minor)
    }

    static func less(_ a: (Int, Int), _ b: (Int, Int)) -> Bool { a.0 != b.0 ? a.0 < b.0 : a.1 < b.1 }
}

/// `GET /version`.
struct VersionResponse: Encodable {
    struct Platform: Encodable {
        var name: String
        enum CodingKeys: String, CodingKey { case name = "Name" }
    }

    struct Component: Encodable {
        var name: String
        var version: String
        var details: [String: String]
        enum CodingKeys: String, CodingKey { case name = "Name", version = "Version", details = "Details" }
    }

    var platform: Platform
    var components: [Component]
    var version: String
    var apiVersion = APIVersion.current
    var minAPIVersion = APIVersion.minimum
    var gitCommit: String
    var goVersion = ""
    var os: String
    var arch: String
    var kernelVersion: String
    var buildTime = ""

    init(_ identity: ServerIdentity) {
        platform = Platform(name: "swarmctl")
        components = [Component(name: "Engine", version: identity.version, details: [
            "ApiVersion": APIVersion.current, "MinAPIVersion": APIVersion.minimum, "GitCommit": identity.gitCommit,
            "Os": identity.os, "Arch": identity.arch, "KernelVersion": identity.kernelVersion, "Experimental": "false",
        ])]
        version = identity.version
        gitCommit = identity.gitCommit
        os = identity.os
        arch = identity.arch
        kernelVersion = identity.kernelVersion
    }

    enum CodingKeys: String, CodingKey {
        case platform = "Platform", components = "Components", version = "Version", apiVersion = "ApiVersion"
        case minAPIVersion = "MinAPIVersion", gitCommit = "GitCommit", goVersion = "GoVersion", os = "Os", arch = "Arch"
        case kernelVersion = "KernelVersion", buildTime = "BuildTime"
    }
}

/// `GET /info`: the fields the docker CLI prints, with zero container counts (tasks are not
/// containers of a local engine here) and the `Swarm` section.
struct InfoResponse: Encodable {
    var id: String
    var containers = 0
    var containersRunning = 0
    var containersPaused = 0
    var containersStopped = 0
    var images = 0
    var name: String
    var ncpu: Int64
    var memTotal: Int64
    var osType: String
    var architecture: String
    var operatingSystem = "swarmctl"
    var kernelVersion: String
    var serverVersion: String
    var labels: [String] = []
    var experimentalBuild = false
    var swarm: SwarmInfo

    enum CodingKeys: String, CodingKey {
        case id = "ID", containers = "Containers", containersRunning = "ContainersRunning", containersPaused = "ContainersPaused"
        case containersStopped = "ContainersStopped", images = "Images", name = "Name", ncpu = "NCPU", memTotal = "MemTotal"
        case osType = "OSType", architecture = "Architecture", operatingSystem = "OperatingSystem"
        case kernelVersion = "KernelVersion", serverVersion = "ServerVersion", labels = "Labels"
        case experimentalBuild = "ExperimentalBuild", swarm = "Swarm"
    }
}

/// The `Swarm` section of `/info`, plus our `Raft` object.
struct SwarmInfo: Encodable {
    var nodeID: String
    var nodeAddr: String
    var localNodeState = "active"
    var controlAvailable: Bool
    var error = ""
    var remoteManagers: [RemoteManager]
    var nodes: Int?
    var managers: Int?
    var cluster: ClusterInfo?
    var raft: RaftStatus?
    var dispatcher: DispatcherCounters?
    var networkTables: NetworkTablesStatus?

    enum CodingKeys: String, CodingKey {
        case nodeID = "NodeID", nodeAddr = "NodeAddr", localNodeState = "LocalNodeState", controlAvailable = "ControlAvailable"
        case error = "Error", remoteManagers = "RemoteManagers", nodes = "Nodes", managers = "Managers", cluster = "Cluster"
        case raft = "Raft", dispatcher = "Dispatcher"
        case networkTables = "NetworkTables"
    }
}

/// Docker's `ClusterInfo` (in `/info`) or `Swarm` (from `/swarm`, with `JoinTokens`): the cluster
/// object plus the fields dockerd adds (the default address pool in force; VXLAN's port).
struct ClusterInfo: Encodable {
    var cluster: Cluster
    var includeJoinTokens: Bool
    /// The cluster CA, for `TLSInfo.TrustRoot` and `RootRotationInProgress` (as dockerd shows them).
    var ca: ClusterCA? = nil

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: DynamicKey.self)
        try container.encode(cluster.id, forKey: DynamicKey("ID"))
        try container.encode(cluster.version, forKey: DynamicKey("Version"))
        try container.encode(cluster.createdAt, forKey: DynamicKey("CreatedAt"))
        try container.encode(cluster.updatedAt, forKey: DynamicKey("UpdatedAt"))
        try container.encode(ClusterSpecResponse.shown(cluster.spec), forKey: DynamicKey("Spec"))
        try container.encode(ca.map { ["TrustRoot": $0.rootCertificatePEM] } ?? [:], forKey: DynamicKey("TLSInfo"))
        try container.encode(ca?.rotation != nil, forKey: DynamicKey("RootRotationInProgress"))
        try container.encode(cluster.addressPool.pools.map(\.description), forKey: DynamicKey("DefaultAddrPool"))
        try container.encode(cluster.addressPool.subnetPrefix, forKey: DynamicKey("SubnetSize"))
        try container.encode(4789, forKey: DynamicKey("DataPathPort"))
        if includeJoinTokens { try container.encode(cluster.joinTokens, forKey: DynamicKey("JoinTokens")) }
    }
}

/// The cluster spec as dockerd shows it: the stored fields plus the sections this cluster does
/// not configure, with dockerd's defaults (`docker info` prints the CA certificate expiry).
enum ClusterSpecResponse {
    static let dockerDefaults: [(String, JSONValue)] = [
        ("CAConfig", .object([("NodeCertExpiry", .number("7776000000000000"))])),
        ("TaskDefaults", .object([])),
        ("EncryptionConfig", .object([("AutoLockManagers", .bool(false))])),
    ]

    static func shown(_ spec: ClusterSpec) -> JSONValue {
        guard let bytes = try? DockerAPI.encode(spec), case var .object(members)? = try? JSONValue.parse(bytes) else { return .null }
        for (key, value) in dockerDefaults where !members.contains(where: { $0.0 == key }) { members.append((key, value)) }
        return .object(members)
    }
}

/// A coding key with any name.
struct DynamicKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
