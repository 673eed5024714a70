import CPlatform
import Glibc
import Platform

/// The `Executor` backend that runs a task's command directly on the host, without isolation.
///
/// It exists for unprivileged development and tests (no root, no runc). Each task runs under a
/// shim (`TaskShim`) that leads its process group; stop signals the whole group, and when the
/// main process exits the rest of its group is killed, as a container's processes die with its
/// init. The shim holds the output FIFOs and records the exit, so tasks outlive the node process
/// and a restarted node re-adopts them (`adopt`). Output goes to
/// `root/containers/ID/{stdout,stderr}.log` with rotation. `--user` is honoured when the node
/// runs as root (see `HostUser`), and refused with the reason otherwise.
public final class ProcessExecutor: Executor, ExecCapable, @unchecked Sendable {
    /// Longest wait for the output pipes to close after the main process exited (a process that
    /// left the group with setsid could hold them open forever).
    static let logDrainMillis = 2_000

    private let root: String
    private let lock = ConditionLock()
    private var containers: [ContainerID: ProcessContainer] = [:]
    /// Each task's secrets directory (in /dev/shm), removed when the task exits or is removed.
    private var filesDirectories: [ContainerID: TaskFilesDirectory] = [:]
    /// Where this executor's task secrets directories are made: a directory of its own (named
    /// by a digest of the data directory's path) in a tmpfs outside the data directory.
    public let secretsRoot: String

    /// `root` is the node's data directory; containers live under `root/containers`.
    /// `sharedMemory` is the tmpfs the secrets directories go in. What a previous run of this
    /// node left there is removed by `removeLeftovers`, except the directories of re-adopted tasks.
    public init(root: String, sharedMemory: String = "/dev/shm") throws {
        self.root = root
        secretsRoot = "\(sharedMemory)/swarmctl-secrets-" + Digest.of(Array(root.utf8)).hex.prefix(16)
        try FileSystem.makeDirectories(root + "/containers")
    }

    public func prepare(_ spec: TaskSpec) throws -> ContainerID {
        guard let first = spec.command.first, !first.isEmpty else { throw ExecutorError.emptyCommand }
        let needsContainer = spec.containerOnlySettings
        guard needsContainer.isEmpty else { throw ExecutorError.needsContainer(needsContainer) }
        // `--user` is resolved now, so a user the node cannot honour rejects the task at once.
        let launchPrefix = try spec.user.flatMap { user throws(ExecutorError) in try HostUser.resolve(user).launchPrefix(for: user) } ?? []
        let id = ContainerID(Self.randomHex())
        let directory = "\(root)/containers/\(id)"
        var effective = spec
        let files = try secretsDirectory(for: spec, id: id)
        if let files {
            effective.environment = spec.environment.filter { !$0.hasPrefix(Self.secretsVariable + "=") }
                + ["\(Self.secretsVariable)=\(files.path)"]
        }
        do {
            try FileSystem.makeDirectories(directory)
        } catch {
            files?.release()
            throw error
        }
        let container = ProcessContainer(id: id, spec: effective, directory: directory, launchPrefix: launchPrefix)
        lock.withLock {
            containers[id] = container
            filesDirectories[id] = files
        }
        return id
    }

    /// The variable naming the task's secrets directory: a process has no /run/secrets of its own.
    public static let secretsVariable = "SWARMCTL_SECRETS_DIR"

    /// A mode-0700 directory in `secretsRoot` (a tmpfs, /dev/shm) with one file per secret, named
    /// as under /run/secrets; nil when the task has none. Owned by the task's user when the node
    /// runs as root and the task as another user.
    private func secretsDirectory(for spec: TaskSpec, id: ContainerID) throws -> TaskFilesDirectory? {
        guard !spec.files.isEmpty else { return nil }
        let names = try spec.files.map { file in
            let name = file.target.hasPrefix("/run/secrets/") ? String(file.target.dropFirst("/run/secrets/".count)) : ""
            guard !name.isEmpty, !name.contains("/") else {
                throw ExecutorError.filesFailed("the process executor puts secrets in one directory ($\(Self.secretsVariable)); "
                    + "target \(file.target) is not a file name under /run/secrets: use a plain name, or the OCI executor")
            }
            return name
        }
        let files = try TaskFilesDirectory(path: "\(secretsRoot)/\(id)", files: spec.files, mountTmpfs: false, names: names)
        if getuid() == 0, let user = spec.user, let resolved = try? HostUser.resolve(user) {
            _ = chown(files.path, resolved.uid, resolved.gid)
        }
        return files
    }

    public func start(_ id: ContainerID, onExit: @escaping @Sendable (ExitStatus) -> Void) throws {
        let files = lock.withLock { filesDirectories[id] }
        try container(id).start { status in
            // The task ended: its secrets go before anyone hears of it.
            files?.release()
            onExit(status)
        }
    }

    public func wait(_ id: ContainerID, timeoutMillis: Int?) throws -> ExitStatus? {
        try container(id).waitForExit(timeoutMillis: timeoutMillis)
    }

    public func stop(_ id: ContainerID, graceMillis: Int?) throws -> ExitStatus? {
        let container = try container(id)
        return try container.stop(graceMillis: graceMillis ?? container.spec.stopGraceMillis)
    }

    public func remove(_ id: ContainerID) throws {
        let container = try container(id)
        try container.prepareForRemoval()
        lock.withLock { filesDirectories.removeValue(forKey: id) }?.release()
        try FileSystem.removeTree(container.directory)
        lock.withLock { _ = containers.removeValue(forKey: id) }
    }

    func execInContainer(_ id: ContainerID, command: [String], timeoutMillis: Int) throws -> ExecResult {
        try container(id).exec(command, timeoutMillis: timeoutMillis)
    }

    public func inspect(_ id: ContainerID) throws -> ContainerInfo {
        try container(id).info()
    }

    public func logs(_ id: ContainerID, stream: LogStream) throws -> [UInt8] {
        let container = try container(id)
        var bytes: [UInt8] = []
        for path in RotatingLog.files(base: container.logBase(stream), maxFiles: container.spec.logLimits.maxFiles) {
            bytes += try File.openForReading(path).readAll()
        }
        return bytes
    }

    public func logRecords(_ id: ContainerID) throws -> [LogRecord] {
        let container = try container(id)
        return try LogRecordFile.read(base: LogRecordFile.base(besides: container.logBase(.stdout)), maxFiles: container.spec.logLimits.maxFiles)
    }

    public var canAdopt: Bool { true }

    /// Re-attaches to a task a previous run of this node started (see `TaskShim`).
    public func adopt(_ id: ContainerID, spec: TaskSpec, onExit: @escaping @Sendable (ExitStatus) -> Void) throws -> Adoption {
        let directory = "\(root)/containers/\(id)"
        guard FileSystem.isDirectory(directory) else { return .gone }
        if let known = lock.withLock({ containers[id] }) { return known.info().state == .running ? .running(pid: known.info().pid) : .gone }
        let files = "\(secretsRoot)/\(id)"
        var effective = spec
        if !spec.files.isEmpty, FileSystem.isDirectory(files) {
            effective.environment = spec.environment.filter { !$0.hasPrefix(Self.secretsVariable + "=") } + ["\(Self.secretsVariable)=\(files)"]
        }
        // The user was resolved when the task was prepared; execs and health checks run as it again.
        let launchPrefix = (try? spec.user.flatMap { user throws(ExecutorError) in try HostUser.resolve(user).launchPrefix(for: user) }) ?? nil
        let container = ProcessContainer(id: id, spec: effective, directory: directory, launchPrefix: launchPrefix ?? [])
        lock.withLock { containers[id] = container }
        // The secrets of an adopted task go when it ends, as for a task started here.
        let adoption = container.adopt { status in
            try? FileSystem.removeTree(files)
            onExit(status)
        }
        if adoption != .running(pid: container.info().pid) { try? FileSystem.removeTree(files) }
        return adoption
    }

    /// Ends the tasks a previous run of this node left that this executor does not run and
    /// `keeping` does not name (their shim's group, found by the shim's pid and start time, so a
    /// recycled pid is never touched), and deletes their directories and secrets. Those in
    /// `keeping` (the agent's own, to re-adopt or kept for their logs) are left alone.
    public func removeLeftovers(keeping: Set<ContainerID>) throws -> [String] {
        let known = lock.withLock { Set(containers.keys.map(\.rawValue)) }.union(keeping.map(\.rawValue))
        var removed: [String] = []
        for name in try FileSystem.list(root + "/containers") where !known.contains(name) {
            let directory = "\(root)/containers/\(name)"
            TaskShim.endGroup(directory: directory)
            try Tree.remove(directory)
            removed.append(name)
        }
        TaskFilesDirectory.removeLeftovers(in: secretsRoot, keep: known)
        return removed
    }

    /// Stops every container without grace and removes it: node shutdown and test tear-down.
    public func removeAll() {
        let all = lock.withLock { Array(containers.keys) }
        for id in all {
            _ = try? stop(id, graceMillis: 0)
            try? remove(id)
        }
    }

    func container(_ id: ContainerID) throws -> ProcessContainer {
        guard let container = lock.withLock({ containers[id] }) else { throw ExecutorError.unknownContainer(id) }
        return container
    }

    private static func randomHex() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in
            let text = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - text.count) + text
        }.joined()
    }
}
