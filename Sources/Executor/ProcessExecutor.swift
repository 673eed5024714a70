import CPlatform
import Glibc
import Platform

/// The `Executor` backend that runs a task's command directly on the host, without isolation.
///
/// It exists for unprivileged development and tests (no root, no runc). Each task leads its own
/// process group; stop signals the whole group, and when the main process exits the rest of its
/// group is killed, as a container's processes die with its init. Output goes to
/// `root/containers/ID/{stdout,stderr}.log` with rotation. `--user` is honoured when the node
/// runs as root (see `HostUser`), and refused with the reason otherwise.
public final class ProcessExecutor: Executor, ExecCapable, @unchecked Sendable {
    /// Longest wait for the output pipes to close after the main process exited (a process that
    /// left the group with setsid could hold them open forever).
    static let logDrainMillis = 2_000

    private let root: String
    private let lock = ConditionLock()
    private var containers: [ContainerID: ProcessContainer] = [:]

    /// `root` is the node's data directory; containers live under `root/containers`.
    public init(root: String) throws {
        self.root = root
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
        try FileSystem.makeDirectories(directory)
        let container = ProcessContainer(id: id, spec: spec, directory: directory, launchPrefix: launchPrefix)
        lock.withLock { containers[id] = container }
        return id
    }

    public func start(_ id: ContainerID, onExit: @escaping @Sendable (ExitStatus) -> Void) throws {
        try container(id).start(onExit: onExit)
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

    /// Ends the recorded processes a previous run of this node left (checked by pid and start
    /// time, so a recycled pid is never touched) and deletes their directories, except the
    /// directories in `keeping` (kept for their logs). Plain host processes cannot be re-adopted.
    public func removeLeftovers(keeping: Set<ContainerID>) throws -> [String] {
        let known = lock.withLock { Set(containers.keys.map(\.rawValue)) }
        var removed: [String] = []
        for name in try FileSystem.list(root + "/containers") where !known.contains(name) {
            let directory = "\(root)/containers/\(name)"
            if let pid = TaskProcessRecord.livePID(directory: directory) { ProcessTable.kill(processGroupOf: pid) }
            guard !keeping.contains(ContainerID(name)) else { continue }
            try Tree.remove(directory)
            removed.append(name)
        }
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

    private func container(_ id: ContainerID) throws -> ProcessContainer {
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
