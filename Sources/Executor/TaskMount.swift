/// One file system a task's container gets at `target` besides its image: a host directory or
/// file (`bind`), a named volume of this node (`volume`, kept under DATA/volumes/NAME across the
/// task's restarts), or a fresh in-memory file system (`tmpfs`).
///
/// It exists so the agent can hand Docker's `Mounts` to an executor without the executor knowing
/// the service spec; the OCI backend turns each into an entry of the bundle's `mounts`, the
/// process backend refuses them (it has no mount namespace to put them in).
public struct TaskMount: Sendable, Equatable {
    /// Which kind of file system.
    public enum Kind: String, Sendable, CaseIterable {
        case bind, volume, tmpfs
    }

    /// How mount events propagate between the host's and the container's copy of a bind mount
    /// (mount(2) MS_SHARED/MS_SLAVE/MS_PRIVATE, `r` for the whole subtree).
    public enum Propagation: String, Sendable, CaseIterable {
        case `private`, rprivate, shared, rshared, slave, rslave
    }

    public var kind: Kind
    /// The host path (bind), the volume's name (volume), unused (tmpfs).
    public var source: String
    /// The absolute path inside the container.
    public var target: String
    public var readOnly: Bool
    /// Bind mounts only; nil is rprivate, Docker's default.
    public var propagation: Propagation?
    /// Tmpfs only: its size limit in bytes (nil: the kernel's default, half the RAM).
    public var tmpfsSizeBytes: Int64?
    /// Tmpfs only: the permission bits of its root (nil: 1777, as Docker).
    public var tmpfsMode: UInt32?
    /// Volumes only: a new, empty volume is filled with the image's files at `target` unless set.
    public var noCopy = false

    public init(kind: Kind, source: String = "", target: String, readOnly: Bool = false, propagation: Propagation? = nil,
                tmpfsSizeBytes: Int64? = nil, tmpfsMode: UInt32? = nil) {
        self.kind = kind
        self.source = source
        self.target = target
        self.readOnly = readOnly
        self.propagation = propagation
        self.tmpfsSizeBytes = tmpfsSizeBytes
        self.tmpfsMode = tmpfsMode
    }
}

/// A resource limit of the task's processes (setrlimit), as Docker's `--ulimit NAME=SOFT[:HARD]`.
public struct TaskUlimit: Sendable, Equatable {
    /// Docker's names (`nofile`, `nproc`, `core`, …) and the kernel's resource each sets.
    public static let resources: [String: String] = [
        "as": "RLIMIT_AS", "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
        "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE",
        "nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
        "rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK",
    ]

    /// One of the keys of `resources`.
    public var name: String
    public var soft: UInt64
    public var hard: UInt64

    public init(name: String, soft: UInt64, hard: UInt64) {
        precondition(Self.resources[name] != nil, "unknown ulimit \(name)")
        self.name = name
        self.soft = soft
        self.hard = hard
    }
}

/// The resolver configuration written to the container's /etc/resolv.conf (Docker's `DNSConfig`).
public struct TaskDNS: Sendable, Equatable {
    public var nameservers: [String]
    public var search: [String]
    public var options: [String]

    public init(nameservers: [String] = [], search: [String] = [], options: [String] = []) {
        self.nameservers = nameservers
        self.search = search
        self.options = options
    }
}

/// Whether the container's system calls are filtered by the default seccomp profile.
public enum SeccompMode: String, Sendable, Equatable {
    /// `SeccompProfile.default`: the allow-list, plus argument checks for clone and personality.
    case `default`
    /// No filter (`--security-opt seccomp=unconfined`).
    case unconfined
}
