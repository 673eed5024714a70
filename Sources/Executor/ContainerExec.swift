import CPlatform
import Dispatch
import Glibc
import Platform

/// What `docker exec` asks to run inside a running task container.
///
/// It exists so both backends take the same request: the OCI backend turns it into `runc exec`
/// flags, the process backend into a spawn in the task's environment and directory.
public struct ExecSpec: Sendable, Equatable {
    /// argv; argv[0] is looked up in the container's PATH.
    public var command: [String]
    /// NAME=value entries added to (and overriding) the container's environment.
    public var environment: [String]
    /// nil: the container's working directory.
    public var workingDirectory: String?
    /// nil: the container's user.
    public var user: String?
    /// Run the process on a new terminal (stdin, stdout and stderr all on it).
    public var tty: Bool
    /// Give the process a stdin the caller writes to; false: /dev/null (a terminal always has one).
    public var stdin: Bool
    /// The terminal's initial size (rows, columns), with `tty`.
    public var consoleSize: (rows: UInt16, columns: UInt16)?

    public init(command: [String], environment: [String] = [], workingDirectory: String? = nil, user: String? = nil,
                tty: Bool = false, stdin: Bool = false, consoleSize: (rows: UInt16, columns: UInt16)? = nil) {
        self.command = command
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.user = user
        self.tty = tty
        self.stdin = stdin
        self.consoleSize = consoleSize
    }

    public static func == (lhs: ExecSpec, rhs: ExecSpec) -> Bool {
        lhs.command == rhs.command && lhs.environment == rhs.environment && lhs.workingDirectory == rhs.workingDirectory
            && lhs.user == rhs.user && lhs.tty == rhs.tty && lhs.stdin == rhs.stdin
            && lhs.consoleSize?.rows == rhs.consoleSize?.rows && lhs.consoleSize?.columns == rhs.consoleSize?.columns
    }
}

/// Backends that start interactive processes in their running containers (`docker exec`).
/// A protocol of its own, not part of `Executor`, because debugging a task is optional: a backend
/// that cannot do it (the simulator's fake) still runs tasks, and the API answers 501 for it.
public protocol InteractiveExec: AnyObject, Sendable {
    /// Starts `spec` in running container `id`; may block for a moment (runc sets the process up).
    /// Throws `ExecutorError.invalidState` unless the container runs.
    func startExec(_ id: ContainerID, _ spec: ExecSpec) throws -> ExecProcess
}

/// One process started by `docker exec`: the descriptors its caller reads and writes (the caller
/// owns and closes them), its pid, and how to wait for it or end it.
///
/// It exists so the API can stream any backend's exec the same way. The process spawned here (the
/// process itself, or `runc exec` in front of it) is this process's child and must be reaped with
/// `waitForExit` exactly once.
public final class ExecProcess: @unchecked Sendable {
    /// The caller's ends: a terminal master (read and write), or pipes.
    public enum Streams: Sendable, Equatable {
        case terminal(Int32)
        /// `stdin` is nil when the process reads /dev/null.
        case pipes(stdin: Int32?, stdout: Int32, stderr: Int32)
    }

    public let streams: Streams
    /// The spawned child (the process itself, or `runc exec`).
    let launcher: pid_t
    /// Where `runc exec` writes the host pid of the process it started (OCI backend).
    private let pidFile: String?
    private let decode: @Sendable (ExitStatus) -> ExitStatus
    private let cleanup: @Sendable () -> Void
    private let lock = ConditionLock()
    private var reaped = false

    init(streams: Streams, launcher: pid_t, pidFile: String?, decode: @escaping @Sendable (ExitStatus) -> ExitStatus = { $0 },
         cleanup: @escaping @Sendable () -> Void = {}) {
        self.streams = streams
        self.launcher = launcher
        self.pidFile = pidFile
        self.decode = decode
        self.cleanup = cleanup
    }

    /// The host pid of the process running the command (0 while runc has not reported it).
    public var processID: pid_t {
        guard let pidFile else { return launcher }
        return Self.readPID(pidFile) ?? 0
    }

    /// Sets the terminal's size; false without a terminal or when the call fails.
    @discardableResult
    public func resize(rows: UInt16, columns: UInt16) -> Bool {
        guard case let .terminal(master) = streams else { return false }
        return cplatform_set_window_size(master, rows, columns) == 0
    }

    /// Blocks until the spawned child has exited, reaps it, and returns how the command ended.
    /// Call once.
    public func waitForExit() -> ExitStatus {
        var raw: Int32 = 0
        let result = (try? retryingEINTR("waitpid", "pid \(launcher)") { waitpid(launcher, &raw, 0) }) ?? -1
        lock.withLock { reaped = true }
        cleanup()
        return result == launcher ? decode(ExitStatus(waitStatus: raw)) : .signaled(signal: SIGKILL)
    }

    /// Ends the command and everything it started (SIGKILL), off the caller's thread: the client
    /// of an exec went away. For `runc exec` the process in the container is killed (runc then
    /// exits by itself), never runc alone, which would orphan it.
    public func terminate() {
        DispatchQueue.global().async { [self] in
            if lock.withLock({ reaped }) { return }
            guard let pidFile else { return Self.killTree(launcher) }
            let deadline = monotonicNanoseconds() + UInt64(OCIContainer.execKillWaitMillis) * 1_000_000
            while monotonicNanoseconds() < deadline {
                if [.zombie, .gone].contains(ProcessTable.state(of: launcher)) || lock.withLock({ reaped }) { return }
                if let pid = Self.readPID(pidFile), pid > 0 { return Self.killTree(pid) }
                _ = poll(nil, 0, 2)
            }
            Self.killTree(launcher)
        }
    }

    /// SIGKILL to `pid`, its process group, and every descendant (a shell's background jobs).
    static func killTree(_ pid: pid_t) {
        var children: [pid_t: [pid_t]] = [:]
        for candidate in ProcessTable.allPIDs() {
            if let parent = ProcessTable.parent(of: candidate) { children[parent, default: []].append(candidate) }
        }
        var tree: [pid_t] = []
        var queue = [pid]
        while let next = queue.popLast() {
            tree.append(next)
            queue += children[next] ?? []
        }
        _ = Glibc.kill(-pid, SIGKILL)
        for member in tree { _ = Glibc.kill(member, SIGKILL) }
    }

    static func readPID(_ path: String) -> pid_t? {
        guard let bytes = try? File.openForReading(path).readAll() else { return nil }
        return pid_t(String(decoding: bytes, as: UTF8.self).trimmingTrailingWhitespace())
    }
}

/// Spawns exec processes (posix_spawn, like `TaskSpawner`): on a terminal in a new session, or on
/// pipes in a new process group.
enum ExecSpawner {
    /// The child's standard descriptors.
    enum Stdio {
        /// Opened as 0, 1 and 2 after `setsid`, so it becomes the controlling terminal.
        case terminal(slavePath: String)
        /// `stdin` nil: /dev/null. `stdout`/`stderr` are dup'ed into place.
        case descriptors(stdin: Int32?, stdout: Int32, stderr: Int32)
    }

    /// `executable` is the file to run (default `arguments[0]`, looked up in this process's PATH).
    static func spawn(_ arguments: [String], executable: String? = nil, environment: [String], workingDirectory: String?,
                      stdio: Stdio) throws -> pid_t {
        guard let executable = executable ?? arguments.first, !executable.isEmpty else { throw ExecutorError.emptyCommand }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var setup: Int32
        switch stdio {
        case let .terminal(slavePath):
            setup = posix_spawn_file_actions_addopen(&actions, 0, slavePath, O_RDWR, 0)
            if setup == 0 { setup = posix_spawn_file_actions_adddup2(&actions, 0, 1) }
            if setup == 0 { setup = posix_spawn_file_actions_adddup2(&actions, 0, 2) }
            if setup == 0 { setup = cplatform_spawnattr_for_session(&attributes) }
        case let .descriptors(stdin, stdout, stderr):
            setup = stdin.map { posix_spawn_file_actions_adddup2(&actions, $0, 0) }
                ?? posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            if setup == 0 { setup = posix_spawn_file_actions_adddup2(&actions, stdout, 1) }
            if setup == 0 { setup = posix_spawn_file_actions_adddup2(&actions, stderr, 2) }
            if setup == 0 { setup = cplatform_spawnattr_for_task(&attributes) }
        }
        if setup == 0 { setup = cplatform_spawn_close_above_stderr(&actions) }
        if setup == 0, let workingDirectory { setup = cplatform_spawn_addchdir(&actions, workingDirectory) }
        guard setup == 0 else {
            throw ExecutorError.spawnFailed(command: executable, reason: "preparing posix_spawn: \(String(cString: strerror(setup)))")
        }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            let place = workingDirectory.map { " in \($0)" } ?? ""
            throw ExecutorError.spawnFailed(command: executable, reason: "posix_spawn\(place): \(String(cString: strerror(result)))")
        }
        return pid
    }

    /// Starts an exec's process, the one spawn path of both backends: `arguments` (the command
    /// itself, or `runc exec …` in front of it) on a new terminal in its own session with `tty`,
    /// else on pipes in its own process group (stdin a pipe only with `stdin`).
    static func start(_ arguments: [String], executable: String? = nil, environment: [String], workingDirectory: String?,
                      tty: Bool, stdin: Bool,
                      consoleSize: (rows: UInt16, columns: UInt16)?, pidFile: String? = nil,
                      decode: @escaping @Sendable (ExitStatus) -> ExitStatus = { $0 },
                      cleanup: @escaping @Sendable () -> Void = {}) throws -> ExecProcess {
        if tty {
            let terminal = try openTerminal()
            if let consoleSize { _ = setWindowSize(terminal.master, consoleSize) }
            do {
                let pid = try spawn(arguments, executable: executable, environment: environment, workingDirectory: workingDirectory,
                                    stdio: .terminal(slavePath: terminal.slavePath))
                return ExecProcess(streams: .terminal(terminal.master), launcher: pid, pidFile: pidFile, decode: decode, cleanup: cleanup)
            } catch {
                TaskSpawner.closeAll([terminal.master])
                throw error
            }
        }
        let pipes = try Pipes.make(stdin: stdin)
        defer { pipes.closeChildEnds() }
        do {
            let pid = try spawn(arguments, executable: executable, environment: environment, workingDirectory: workingDirectory,
                                stdio: .descriptors(stdin: pipes.child.stdin, stdout: pipes.child.stdout, stderr: pipes.child.stderr))
            return ExecProcess(streams: .pipes(stdin: pipes.parent.stdin, stdout: pipes.parent.stdout, stderr: pipes.parent.stderr),
                               launcher: pid, pidFile: pidFile, decode: decode, cleanup: cleanup)
        } catch {
            pipes.closeParentEnds()
            throw error
        }
    }

    /// A pipe whose both ends are CLOEXEC (dup2 in the child clears it on the child's copy).
    static func pipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard cplatform_pipe2(&fds, CPLATFORM_O_CLOEXEC) == 0 else { throw SystemError("pipe2", "exec stream") }
        return (fds[0], fds[1])
    }

    /// A new pseudo-terminal: the master and the slave's path.
    static func openTerminal() throws -> (master: Int32, slavePath: String) {
        var master: Int32 = -1
        var name = [CChar](repeating: 0, count: 128)
        guard cplatform_open_pty(&master, &name, name.count) == 0 else { throw SystemError("posix_openpt", "exec terminal") }
        return (master, String(cString: name))
    }

    /// Sets a terminal's size from an exec's console size; false when the call fails.
    static func setWindowSize(_ fd: Int32, _ size: (rows: UInt16, columns: UInt16)) -> Bool {
        cplatform_set_window_size(fd, size.rows, size.columns) == 0
    }

    /// The three pipes of an exec without a terminal: the child's ends and the caller's.
    struct Pipes {
        var child: (stdin: Int32?, stdout: Int32, stderr: Int32)
        var parent: (stdin: Int32?, stdout: Int32, stderr: Int32)

        static func make(stdin: Bool) throws -> Pipes {
            var opened: [Int32] = []
            do {
                let input: (read: Int32, write: Int32)? = try stdin ? ExecSpawner.pipe() : nil
                if let input { opened += [input.read, input.write] }
                let output = try ExecSpawner.pipe()
                opened += [output.read, output.write]
                let errors = try ExecSpawner.pipe()
                opened += [errors.read, errors.write]
                return Pipes(child: (input?.read, output.write, errors.write), parent: (input?.write, output.read, errors.read))
            } catch {
                TaskSpawner.closeAll(opened)
                throw error
            }
        }

        func closeChildEnds() { TaskSpawner.closeAll([child.stdin ?? -1, child.stdout, child.stderr]) }
        func closeParentEnds() { TaskSpawner.closeAll([parent.stdin ?? -1, parent.stdout, parent.stderr]) }
    }
}
