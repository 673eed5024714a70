/// Docker's object version: the Raft index of the object's last change. Every write names the
/// version it read; a stale one is rejected (optimistic concurrency).
public struct ObjectVersion: Codable, Sendable, Equatable {
    public var index: UInt64
    public init(index: UInt64) { self.index = index }
    enum CodingKeys: String, CodingKey { case index = "Index" }
}

/// A wall-clock instant chosen by the proposer and carried in the command, so applying a
/// command never reads a clock. Written as RFC 3339 UTC, like Docker.
public struct Timestamp: Codable, Sendable, Equatable, Comparable {
    public var millisecondsSinceEpoch: UInt64
    public init(millisecondsSinceEpoch: UInt64) { self.millisecondsSinceEpoch = millisecondsSinceEpoch }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.millisecondsSinceEpoch < rhs.millisecondsSinceEpoch
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        guard let text = try? container.decode(String.self) else {
            millisecondsSinceEpoch = try container.decode(UInt64.self)
            return
        }
        guard let millis = RFC3339.parse(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an RFC 3339 time: \(text)")
        }
        millisecondsSinceEpoch = millis
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(RFC3339.format(millisecondsSinceEpoch))
    }
}

/// Minimal RFC 3339 UTC formatting and parsing (civil-from-days), free of Foundation and clocks.
public enum RFC3339 {
    public static func format(_ millis: UInt64) -> String {
        let seconds = Int64(millis / 1000)
        let days = seconds / 86_400
        let secondOfDay = seconds % 86_400
        let (year, month, day) = civil(fromDays: days)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(Int64(millis % 1000), 3))Z"
    }

    public static func parse(_ text: String) -> UInt64? {
        var text = text
        return text.withUTF8 { parse(utf8: $0) }
    }

    /// `parse` of a string's UTF-8, for the wire decoder, which has the bytes and no string.
    public static func parse(utf8 characters: UnsafeBufferPointer<UInt8>) -> UInt64? {
        guard characters.count >= 20 else { return nil }
        func number(_ start: Int, _ length: Int) -> Int64? {
            guard start + length <= characters.count else { return nil }
            var value: Int64 = 0
            for character in characters[start..<start + length] {
                guard character >= 48 && character <= 57 else { return nil }
                value = value * 10 + Int64(character - 48)
            }
            return value
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2) else { return nil }
        var millis: Int64 = 0
        if characters.count > 20 && characters[19] == UInt8(ascii: ".") {
            var digits = 0
            var position = 20
            while position < characters.count, characters[position] >= 48, characters[position] <= 57 {
                if digits < 3 { millis = millis * 10 + Int64(characters[position] - 48) }
                digits += 1
                position += 1
            }
            for _ in min(digits, 3)..<3 { millis *= 10 }
        }
        let days = days(fromCivil: year, month, day)
        let total = ((days * 24 + hour) * 60 + minute) * 60 + second
        guard total >= 0 else { return nil }
        return UInt64(total) * 1000 + UInt64(millis)
    }

    static func civil(fromDays daysSinceEpoch: Int64) -> (Int64, Int64, Int64) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

/// The cluster-wide object (Docker's `Swarm`): identity, settings and join tokens.
public struct Cluster: Codable, Sendable, Equatable {
    public var id: String
    public var version: ObjectVersion
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var spec: ClusterSpec
    public var joinTokens: JoinTokens
    /// Where overlay and ingress subnets come from when a network names none; set at init
    /// (`--default-addr-pool`), never changed. Nil: Docker's default (/24s of 10.0.0.0/8).
    public var defaultAddressPool: DefaultAddressPool?

    public init(id: String, version: ObjectVersion, createdAt: Timestamp, spec: ClusterSpec, joinTokens: JoinTokens,
                defaultAddressPool: DefaultAddressPool? = nil) {
        self.id = id
        self.version = version
        self.createdAt = createdAt
        updatedAt = createdAt
        self.spec = spec
        self.joinTokens = joinTokens
        self.defaultAddressPool = defaultAddressPool
    }

    /// The pool in force: the one given at init, or Docker's default.
    public var addressPool: DefaultAddressPool { defaultAddressPool ?? .docker }

    enum CodingKeys: String, CodingKey {
        case id = "ID", version = "Version", createdAt = "CreatedAt", updatedAt = "UpdatedAt", spec = "Spec"
        case joinTokens = "JoinTokens"
        case defaultAddressPool = "DefaultAddressPool"
    }
}

/// Cluster settings users may change (`swarm update`).
public struct ClusterSpec: Codable, Sendable, Equatable {
    public var name: String = "default"
    public var labels: [String: String] = [:]
    public var orchestration = Orchestration()
    public var raft = RaftSettings()
    public var dispatcher = DispatcherSettings()
    /// Node certificate validity and root rotation requests (`swarmctl ca`, `docker swarm ca`);
    /// nil means the defaults (90-day certificates, no rotation asked).
    public var caConfig: CAConfig?
    /// Docker's `EncryptionConfig`: autolock of the managers (nil: off). Changed only together
    /// with the unlock key (`ClusterCommand.setAutoLock`).
    public var encryptionConfig: EncryptionConfig?

    public init() {}

    /// True when the managers' keys are wrapped under an unlock key.
    public var autoLockManagers: Bool { encryptionConfig?.autoLockManagers ?? false }

    /// Docker's `EncryptionConfig`.
    public struct EncryptionConfig: Codable, Sendable, Equatable {
        public var autoLockManagers: Bool
        public init(autoLockManagers: Bool) { self.autoLockManagers = autoLockManagers }
        enum CodingKeys: String, CodingKey { case autoLockManagers = "AutoLockManagers" }
    }

    /// Docker's `CAConfig`: how long node certificates last, and a counter whose increase asks
    /// the leader to rotate the root CA.
    public struct CAConfig: Codable, Sendable, Equatable {
        /// Nanoseconds, as Docker writes it (default 90 days).
        public var nodeCertExpiry: Int64 = 90 * 86_400 * 1_000_000_000
        public var forceRotate: UInt64 = 0
        public init(nodeCertExpiry: Int64 = 90 * 86_400 * 1_000_000_000, forceRotate: UInt64 = 0) {
            self.nodeCertExpiry = nodeCertExpiry
            self.forceRotate = forceRotate
        }
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            nodeCertExpiry = try container.decodeIfPresent(Int64.self, forKey: .nodeCertExpiry) ?? 90 * 86_400 * 1_000_000_000
            forceRotate = try container.decodeIfPresent(UInt64.self, forKey: .forceRotate) ?? 0
        }
        enum CodingKeys: String, CodingKey { case nodeCertExpiry = "NodeCertExpiry", forceRotate = "ForceRotate" }
    }

    public struct Orchestration: Codable, Sendable, Equatable {
        public var taskHistoryRetentionLimit: Int64 = 5
        enum CodingKeys: String, CodingKey { case taskHistoryRetentionLimit = "TaskHistoryRetentionLimit" }
    }

    public struct RaftSettings: Codable, Sendable, Equatable {
        public var snapshotInterval: UInt64 = 10_000
        public var keepOldSnapshots: UInt64 = 0
        public var logEntriesForSlowFollowers: UInt64 = 500
        public var electionTick: Int = 5
        public var heartbeatTick: Int = 1
        enum CodingKeys: String, CodingKey {
            case snapshotInterval = "SnapshotInterval", keepOldSnapshots = "KeepOldSnapshots"
            case logEntriesForSlowFollowers = "LogEntriesForSlowFollowers", electionTick = "ElectionTick"
            case heartbeatTick = "HeartbeatTick"
        }
    }

    public struct DispatcherSettings: Codable, Sendable, Equatable {
        /// Nanoseconds, as Docker writes it.
        public var heartbeatPeriod: Int64 = 1_000_000_000
        enum CodingKeys: String, CodingKey { case heartbeatPeriod = "HeartbeatPeriod" }
    }

    enum CodingKeys: String, CodingKey {
        case name = "Name", labels = "Labels", orchestration = "Orchestration", raft = "Raft", dispatcher = "Dispatcher"
        case caConfig = "CAConfig", encryptionConfig = "EncryptionConfig"
    }
}

/// The two join tokens, `SWMTKN-1-<root CA digest>-<secret>`.
public struct JoinTokens: Codable, Sendable, Equatable {
    public var worker: String
    public var manager: String
    public init(worker: String, manager: String) {
        self.worker = worker
        self.manager = manager
    }
    enum CodingKeys: String, CodingKey { case worker = "Worker", manager = "Manager" }
}

public enum NodeRole: String, Codable, Sendable, Equatable { case worker, manager }
public enum NodeAvailability: String, Codable, Sendable, Equatable { case active, pause, drain }
public enum NodeState: String, Codable, Sendable, Equatable { case unknown, down, ready, disconnected }

/// A member of the cluster (Docker's `Node`).
public struct Node: Codable, Sendable, Equatable {
    public var id: String
    public var version: ObjectVersion
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var spec: NodeSpec
    public var description: NodeDescription
    public var status: NodeStatus
    public var managerStatus: ManagerStatus?

    public init(id: String, version: ObjectVersion, createdAt: Timestamp, spec: NodeSpec,
                description: NodeDescription, status: NodeStatus, managerStatus: ManagerStatus?) {
        self.id = id
        self.version = version
        self.createdAt = createdAt
        updatedAt = createdAt
        self.spec = spec
        self.description = description
        self.status = status
        self.managerStatus = managerStatus
    }

    enum CodingKeys: String, CodingKey {
        case id = "ID", version = "Version", createdAt = "CreatedAt", updatedAt = "UpdatedAt", spec = "Spec"
        case description = "Description", status = "Status", managerStatus = "ManagerStatus"
    }
}

public struct NodeSpec: Codable, Sendable, Equatable {
    public var name: String?
    public var labels: [String: String]
    public var role: NodeRole
    public var availability: NodeAvailability

    public init(name: String? = nil, labels: [String: String] = [:], role: NodeRole, availability: NodeAvailability = .active) {
        self.name = name
        self.labels = labels
        self.role = role
        self.availability = availability
    }

    enum CodingKeys: String, CodingKey { case name = "Name", labels = "Labels", role = "Role", availability = "Availability" }
}

public struct NodeDescription: Codable, Sendable, Equatable {
    public var hostname: String
    public var platform: Platform
    public var resources: Resources
    public var engine: Engine

    public init(hostname: String, platform: Platform, resources: Resources, engine: Engine) {
        self.hostname = hostname
        self.platform = platform
        self.resources = resources
        self.engine = engine
    }

    public struct Platform: Codable, Sendable, Equatable {
        public var architecture: String
        public var os: String
        public init(architecture: String, os: String) {
            self.architecture = architecture
            self.os = os
        }
        enum CodingKeys: String, CodingKey { case architecture = "Architecture", os = "OS" }
    }

    public struct Resources: Codable, Sendable, Equatable {
        public var nanoCPUs: Int64
        public var memoryBytes: Int64
        public init(nanoCPUs: Int64, memoryBytes: Int64) {
            self.nanoCPUs = nanoCPUs
            self.memoryBytes = memoryBytes
        }
        enum CodingKeys: String, CodingKey { case nanoCPUs = "NanoCPUs", memoryBytes = "MemoryBytes" }
    }

    public struct Engine: Codable, Sendable, Equatable {
        public var engineVersion: String
        /// What the node can run beyond plain containers, as Docker lists its plugins; the
        /// scheduler reads the network ones (`Node.runsTaskNetworking`). nil: a node from before
        /// the field, which never said.
        public var plugins: [EnginePlugin]?
        public init(engineVersion: String, plugins: [EnginePlugin]? = nil) {
            self.engineVersion = engineVersion
            self.plugins = plugins
        }
        enum CodingKeys: String, CodingKey { case engineVersion = "EngineVersion", plugins = "Plugins" }
    }

    enum CodingKeys: String, CodingKey {
        case hostname = "Hostname", platform = "Platform", resources = "Resources", engine = "Engine"
    }
}

public struct NodeStatus: Codable, Sendable, Equatable {
    public var state: NodeState
    public var message: String?
    public var addr: String

    public init(state: NodeState, message: String? = nil, addr: String) {
        self.state = state
        self.message = message
        self.addr = addr
    }

    enum CodingKeys: String, CodingKey { case state = "State", message = "Message", addr = "Addr" }
}

/// Raft membership facts of a manager. `leader` and `reachability` are filled in when the node
/// is read (they are the reader's live view, not replicated state).
public struct ManagerStatus: Codable, Sendable, Equatable {
    public var raftID: UInt64
    public var addr: String
    public var leader: Bool?
    public var reachability: String?

    public init(raftID: UInt64, addr: String, leader: Bool? = nil, reachability: String? = nil) {
        self.raftID = raftID
        self.addr = addr
        self.leader = leader
        self.reachability = reachability
    }

    enum CodingKeys: String, CodingKey { case raftID = "RaftID", addr = "Addr", leader = "Leader", reachability = "Reachability" }
}
