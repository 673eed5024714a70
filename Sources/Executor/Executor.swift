import Glibc
/// The seam between the agent and whatever runs a task's process: the agent drives a task
/// through prepare → start → (exit | stop) → remove and reads state and logs, without knowing
/// whether an OCI runtime or a plain host process is underneath.
///
/// Calls are synchronous and may block (stop waits up to the grace period); the agent runs them
/// on its worker pool. Exit is reported through the callback given to `start`, on a thread the
/// executor owns.
public protocol Executor: AnyObject, Sendable {
    /// Creates the container's state and directories; nothing runs yet.
    func prepare(_ spec: TaskSpec) throws -> ContainerID
    /// Starts the prepared container. `onExit` is called once, when it has exited and its output
    /// has been written to the logs.
    func start(_ id: ContainerID, onExit: @escaping @Sendable (ExitStatus) -> Void) throws
    /// Blocks until the container has exited or `timeoutMillis` passes (then nil).
    func wait(_ id: ContainerID, timeoutMillis: Int?) throws -> ExitStatus?
    /// Sends SIGTERM to everything in the container, then SIGKILL once `graceMillis` (default:
    /// the spec's stop grace period) has passed. Returns the exit status, or nil if it never started.
    func stop(_ id: ContainerID, graceMillis: Int?) throws -> ExitStatus?
    /// Deletes the container's files and state. A running container must be stopped first.
    func remove(_ id: ContainerID) throws
    /// The container's current state.
    func inspect(_ id: ContainerID) throws -> ContainerInfo
    /// The captured output of one stream, oldest rotated file first.
    func logs(_ id: ContainerID, stream: LogStream) throws -> [UInt8]
    /// Both streams' lines in write order with their write times (see `LogRecord`). The default
    /// (in LogRecord.swift) cuts the raw streams into untimed lines.
    func logRecords(_ id: ContainerID) throws -> [LogRecord]
    /// Whether containers outlive this process and `adopt` can re-attach to them after a restart.
    var canAdopt: Bool { get }
    /// Re-attaches to container `id`, which a previous run of this node started with `spec`:
    /// its logs, exit (`onExit`, once) and health check are followed again. The container is
    /// known to the executor afterwards whatever the answer (so it can be removed).
    func adopt(_ id: ContainerID, spec: TaskSpec, onExit: @escaping @Sendable (ExitStatus) -> Void) throws -> Adoption
    /// Ends and deletes what a previous run of this node left, except the containers in
    /// `keeping`; returns the ids removed.
    func removeLeftovers(keeping: Set<ContainerID>) throws -> [String]
}

extension Executor {
    /// Stops with the spec's own grace period.
    public func stop(_ id: ContainerID) throws -> ExitStatus? {
        try stop(id, graceMillis: nil)
    }
}

/// Names one container on this node; stable across the container's life, used for its directory.
public struct ContainerID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
}

/// What to run, independent of the backend: the part of a task the executor needs.
public struct TaskSpec: Sendable, Equatable {
    /// argv[0] (a path, or a name looked up in this node's PATH) followed by the arguments.
    public var command: [String]
    /// The complete environment as NAME=value; PATH gets a default when missing.
    public var environment: [String]
    /// The working directory; nil keeps the executor's own.
    public var workingDirectory: String?
    /// User to run as; nil keeps the executor's user.
    public var user: String?
    /// Time between the stop signal and SIGKILL on stop.
    public var stopGraceMillis: Int
    /// What stop sends first (docker's `--stop-signal`), SIGKILL following after the grace period.
    public var stopSignal: Int32 = SIGTERM
    public var logLimits: LogLimits
    /// The image to run (`NAME[:TAG]` or an image id), from the node's image store (OCI backend;
    /// the process backend records it only). Ignored when `rootfs` is set.
    public var image: String? = nil
    /// A host directory used as the container's root file system instead of an image (OCI backend).
    public var rootfs: String? = nil
    /// Limits enforced with cgroups (OCI backend).
    public var resources = TaskResources()
    /// The container's hostname; nil: the first 12 characters of its id (OCI backend).
    public var hostname: String? = nil
    /// Which network namespace the container joins (OCI backend).
    public var network = TaskNetwork.host
    /// Mounts the root file system read-only (OCI backend).
    public var readOnlyRootfs = false
    /// File systems mounted into the container besides its image (OCI backend).
    public var mounts: [TaskMount] = []
    /// Capabilities added to / dropped from Docker's default set (`CAP_` names, or `ALL`) (OCI backend).
    public var capabilityAdd: [String] = []
    public var capabilityDrop: [String] = []
    /// Resource limits of the container's processes (OCI backend).
    public var ulimits: [TaskUlimit] = []
    /// Kernel parameters of the container's own namespaces, `net.*`, `kernel.shm*`, … (OCI backend).
    public var sysctls: [String: String] = [:]
    /// The container's /etc/resolv.conf instead of the node's (OCI backend).
    public var dns: TaskDNS? = nil
    /// Extra /etc/hosts lines, `IP NAME [ALIAS…]` (OCI backend).
    public var extraHosts: [String] = []
    /// Supplementary groups, names from the image's /etc/group or numbers (OCI backend).
    public var groups: [String] = []
    /// Whether system calls are filtered (OCI backend; the process backend filters nothing).
    public var seccomp = SeccompMode.default
    /// Runs the command under swarmctl-init as PID 1, which forwards signals and reaps orphans
    /// (`--init`; OCI backend).
    public var initProcess = false
    /// Probe run inside the container while it runs; its result is `ContainerInfo.health`.
    public var healthCheck: HealthCheck? = nil
    /// The network namespace prepared for the task by the node's network plumbing (a file in
    /// /run/netns), joined by path instead of `network`, with /etc/resolv.conf pointing at the
    /// node's DNS server on 127.0.0.11. Set only for tasks with network attachments (OCI backend).
    public var networkNamespacePath: String? = nil
    /// Secrets and configs the task sees as read-only files: the OCI backend binds them from a
    /// per-task tmpfs, the process backend writes secrets into a private directory in /dev/shm
    /// named by `SWARMCTL_SECRETS_DIR`.
    public var files: [TaskFile] = []

    /// The settings set here that only a container can honour, as the user names them, for the
    /// process backend's refusal.
    public var containerOnlySettings: [String] {
        var names: [String] = []
        if !mounts.isEmpty { names.append("mounts (--mount)") }
        if readOnlyRootfs { names.append("a read-only root file system (--read-only)") }
        if !capabilityAdd.isEmpty || !capabilityDrop.isEmpty { names.append("capabilities (--cap-add, --cap-drop)") }
        if !ulimits.isEmpty { names.append("ulimits (--ulimit)") }
        if !sysctls.isEmpty { names.append("sysctls (--sysctl)") }
        if dns != nil { names.append("DNS settings (--dns, --dns-search, --dns-option)") }
        if !extraHosts.isEmpty { names.append("extra hosts (--host)") }
        if !groups.isEmpty { names.append("supplementary groups (--group)") }
        if initProcess { names.append("an init process (--init)") }
        if networkNamespacePath != nil { names.append("network attachments (--network)") }
        if files.contains(where: { $0.kind == .config }) { names.append("configs (--config)") }
        return names
    }

    public init(
        command: [String], environment: [String] = [], workingDirectory: String? = nil, user: String? = nil,
        stopGraceMillis: Int = 10_000, logLimits: LogLimits = LogLimits()
    ) {
        self.command = command
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.user = user
        self.stopGraceMillis = stopGraceMillis
        self.logLimits = logLimits
    }
}

/// Resource limits of one container; nil means unlimited. Enforced by the OCI backend through
/// cgroups (memory, cpu quota, pids); the process backend does not enforce them.
public struct TaskResources: Sendable, Equatable {
    /// Memory limit in bytes; the kernel OOM-kills inside the container beyond it.
    public var memoryBytes: Int64?
    /// CPU limit in units of 10^-9 CPUs (Docker's NanoCPUs): 1.5 CPUs is 1_500_000_000.
    public var nanoCPUs: Int64?
    /// Most processes and threads the container may have at once.
    public var pidsLimit: Int64?

    public init(memoryBytes: Int64? = nil, nanoCPUs: Int64? = nil, pidsLimit: Int64? = nil) {
        self.memoryBytes = memoryBytes
        self.nanoCPUs = nanoCPUs
        self.pidsLimit = pidsLimit
    }
}

/// The network a container sees: the host's (the default until overlay networking lands) or
/// an empty namespace with only loopback.
public enum TaskNetwork: String, Sendable, Equatable {
    case host
    case none
}

/// Bounds on a container's captured output, so a chatty task cannot fill the node's disk:
/// each stream keeps at most `maxFiles` files of at most `maxFileBytes` bytes.
public struct LogLimits: Sendable, Equatable {
    public var maxFileBytes: Int
    public var maxFiles: Int

    public init(maxFileBytes: Int = 10 << 20, maxFiles: Int = 3) {
        precondition(maxFileBytes > 0 && maxFiles > 0, "log limits must be positive")
        self.maxFileBytes = maxFileBytes
        self.maxFiles = maxFiles
    }
}

/// Which captured output stream to read.
public enum LogStream: String, Sendable, CaseIterable {
    case stdout
    case stderr
}

/// How a container ended; the agent maps it to COMPLETE or FAILED and reports it.
public enum ExitStatus: Sendable, Equatable {
    /// The main process exited with this code.
    case exited(code: Int32)
    /// The main process was killed by this signal.
    case signaled(signal: Int32)
    /// The kernel killed it at its memory limit (OCI backend).
    case oomKilled

    /// The code Docker reports: the exit code, or 128 + the signal number.
    public var exitCode: Int32 {
        switch self {
        case .exited(let code): return code
        case .signaled(let signal): return 128 + signal
        case .oomKilled: return 137
        }
    }
}

/// Where a container is in its life, as `docker inspect` shows it.
public enum ContainerState: String, Sendable {
    case created
    case running
    case exited
}

/// A snapshot of one container for the agent's status reports and `inspect`.
public struct ContainerInfo: Sendable, Equatable {
    public var id: ContainerID
    public var state: ContainerState
    /// The main process id while running (also the process group id for the process backend).
    public var pid: Int32?
    /// Wall-clock start time, seconds since the epoch.
    public var startedAt: Double?
    public var exitStatus: ExitStatus?
    /// The health check's verdict while the container has one (nil without a health check).
    public var health: HealthStatus? = nil
}

/// Why an executor call failed, with what to do about it.
public enum ExecutorError: Error, CustomStringConvertible, Equatable {
    case unknownContainer(ContainerID)
    case invalidState(ContainerID, ContainerState, operation: String)
    case emptyCommand
    case unsupported(String)
    /// The process backend was given settings only a container can honour (`TaskSpec.containerOnlySettings`).
    case needsContainer([String])
    /// `--user` names a user the node cannot run the task as (unknown, or the node is not root).
    case userUnavailable(user: String, reason: String)
    case spawnFailed(command: String, reason: String)
    case stopTimedOut(ContainerID, pid: Int32, waitedMillis: Int)
    /// The task's secrets or configs could not be put in place.
    case filesFailed(String)
    /// The command (a task's or an exec's) names no file that can be run (`CommandLookup`).
    case commandUnavailable(command: String, reason: CommandFailure)

    public var description: String {
        switch self {
        case .unknownContainer(let id):
            return "no container \(id) on this node; it was never prepared or was already removed"
        case .invalidState(let id, let state, let operation):
            return "cannot \(operation) container \(id) while it is \(state.rawValue); stop it first or prepare a new one"
        case .emptyCommand:
            return "the task has no command; give the service a command or an image with one"
        case .unsupported(let what):
            return "\(what) is not supported by this executor backend; use the OCI backend (executor = oci)"
        case .needsContainer(let settings):
            return "the process executor cannot honour \(settings.joined(separator: ", ")): it runs tasks as plain host "
                + "processes without mount namespaces; run this node with --executor oci (root and runc or crun), "
                + "or remove the settings from the service"
        case .userUnavailable(let user, let reason):
            return "cannot run the task as user \(user): \(reason)"
        case .spawnFailed(let command, let reason):
            return "could not start \(command): \(reason); check that the command exists and is executable"
        case .stopTimedOut(let id, let pid, let waited):
            return "container \(id) (process group \(pid)) had not exited \(waited) ms after stop and SIGKILL; "
                + "look for processes stuck in the kernel (state D in ps) and retry the stop"
        case .filesFailed(let reason):
            return "could not give the task its secrets and configs: \(reason)"
        case .commandUnavailable(let command, let reason):
            return "cannot run \(command): \(reason.explanation); check the command and the PATH in the environment"
        }
    }
}
