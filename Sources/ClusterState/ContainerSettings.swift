/// Docker's `Mount` of a ContainerSpec (`--mount type=bind|volume|tmpfs,…`): the parts this
/// cluster implements. The API refuses the other members (and the other types) before a spec
/// is decoded, so nothing a client sends is dropped here.
public struct Mount: Codable, Sendable, Equatable {
    /// `bind`, `volume` or `tmpfs`.
    public var type: String
    /// Host path (bind), volume name (volume; empty: an anonymous volume, refused), empty (tmpfs).
    public var source: String?
    public var target: String
    public var readOnly: Bool?
    public var bindOptions: BindOptions?
    public var volumeOptions: VolumeOptions?
    public var tmpfsOptions: TmpfsOptions?

    public init(type: String, source: String? = nil, target: String, readOnly: Bool? = nil, bindOptions: BindOptions? = nil,
                volumeOptions: VolumeOptions? = nil, tmpfsOptions: TmpfsOptions? = nil) {
        self.type = type
        self.source = source
        self.target = target
        self.readOnly = readOnly
        self.bindOptions = bindOptions
        self.volumeOptions = volumeOptions
        self.tmpfsOptions = tmpfsOptions
    }

    public struct BindOptions: Codable, Sendable, Equatable {
        /// `private`, `rprivate` (default), `shared`, `rshared`, `slave`, `rslave`.
        public var propagation: String?
        public init(propagation: String? = nil) { self.propagation = propagation }
        enum CodingKeys: String, CodingKey { case propagation = "Propagation" }
    }

    public struct VolumeOptions: Codable, Sendable, Equatable {
        /// Do not copy the image's files at the target into a new, empty volume.
        public var noCopy: Bool?
        public init(noCopy: Bool? = nil) { self.noCopy = noCopy }
        enum CodingKeys: String, CodingKey { case noCopy = "NoCopy" }
    }

    public struct TmpfsOptions: Codable, Sendable, Equatable {
        public var sizeBytes: Int64?
        /// Permission bits of the tmpfs root, as a number (the CLI sends 0o1770 as 1016).
        public var mode: UInt32?
        public init(sizeBytes: Int64? = nil, mode: UInt32? = nil) {
            self.sizeBytes = sizeBytes
            self.mode = mode
        }
        enum CodingKeys: String, CodingKey { case sizeBytes = "SizeBytes", mode = "Mode" }
    }

    enum CodingKeys: String, CodingKey {
        case type = "Type", source = "Source", target = "Target", readOnly = "ReadOnly", bindOptions = "BindOptions"
        case volumeOptions = "VolumeOptions", tmpfsOptions = "TmpfsOptions"
    }
}

/// Docker's `Privileges` of a ContainerSpec: the seccomp mode and no-new-privileges (always on
/// here; `false` is the zero value and means "the default").
public struct Privileges: Codable, Sendable, Equatable {
    public var seccomp: Seccomp?
    public var noNewPrivileges: Bool?

    public init(seccomp: Seccomp? = nil, noNewPrivileges: Bool? = nil) {
        self.seccomp = seccomp
        self.noNewPrivileges = noNewPrivileges
    }

    public struct Seccomp: Codable, Sendable, Equatable {
        /// `default` or `unconfined` (`custom` profiles are refused).
        public var mode: String?
        public init(mode: String? = nil) { self.mode = mode }
        enum CodingKeys: String, CodingKey { case mode = "Mode" }
    }

    enum CodingKeys: String, CodingKey { case seccomp = "Seccomp", noNewPrivileges = "NoNewPrivileges" }
}

/// Docker's `DNSConfig`: the task's /etc/resolv.conf.
public struct DNSConfig: Codable, Sendable, Equatable {
    public var nameservers: [String]?
    public var search: [String]?
    public var options: [String]?

    public init(nameservers: [String]? = nil, search: [String]? = nil, options: [String]? = nil) {
        self.nameservers = nameservers
        self.search = search
        self.options = options
    }

    /// `{}` as the docker CLI sends on every create: the node's resolver.
    public var isEmpty: Bool { (nameservers ?? []).isEmpty && (search ?? []).isEmpty && (options ?? []).isEmpty }

    enum CodingKeys: String, CodingKey { case nameservers = "Nameservers", search = "Search", options = "Options" }
}

/// One of Docker's `Ulimits`: `{"Name": "nofile", "Soft": 512, "Hard": 512}`.
public struct Ulimit: Codable, Sendable, Equatable {
    public var name: String
    public var soft: Int64
    public var hard: Int64

    public init(name: String, soft: Int64, hard: Int64) {
        self.name = name
        self.soft = soft
        self.hard = hard
    }

    enum CodingKeys: String, CodingKey { case name = "Name", soft = "Soft", hard = "Hard" }
}
