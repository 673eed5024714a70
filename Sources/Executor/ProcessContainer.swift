import CPlatform
import Glibc
import Platform

/// One task run by `ProcessExecutor`: its state machine (created → running → exited), the
/// threads that drain its output and reap it, and the signalling of its process group.
///
/// The pid is only signalled under `lock`, and the reaper reaps under the same lock, so a signal
/// can never reach a recycled pid.
final class ProcessContainer: @unchecked Sendable {
    let id: ContainerID
    let spec: TaskSpec
    let directory: String
    private let lock = ConditionLock()
    private var state = ContainerState.created
    private var pid: pid_t?
    private var reaped = false
    private var startedAt: Double?
    private var exitStatus: ExitStatus?
    private var logsDrained = false
    private var threads: [PlatformThread] = []
    /// The reaper's pthread, so `remove` called from `onExit` (which runs on it) does not join itself.
    private var reaperThread: pthread_t?
    private var health: HealthStatus?
    private var monitor: HealthMonitor?

    /// Prepended to the task's command and its execs: `setpriv …` to run as the spec's user.
    let launchPrefix: [String]

    init(id: ContainerID, spec: TaskSpec, directory: String, launchPrefix: [String] = []) {
        self.id = id
        self.spec = spec
        self.directory = directory
        self.launchPrefix = launchPrefix
    }

    /// The spec as spawned: the user already turned into `launchPrefix`.
    private var spawnedSpec: TaskSpec {
        var spawned = spec
        spawned.user = nil
        spawned.command = launchPrefix + spec.command
        return spawned
    }

    func logBase(_ stream: LogStream) -> String { "\(directory)/\(stream.rawValue).log" }

    func start(onExit: @escaping @Sendable (ExitStatus) -> Void) throws {
        try lock.withLock {
            guard state == .created else { throw ExecutorError.invalidState(id, state, operation: "start") }
            let stdoutLog = try RotatingLog(base: logBase(.stdout), limits: spec.logLimits)
            let stderrLog = try RotatingLog(base: logBase(.stderr), limits: spec.logLimits)
            let task = try TaskSpawner.spawn(spawnedSpec)
            pid = task.pid
            // Best effort: without the record a leftover is only found by its process group.
            try? TaskProcessRecord.write(pid: task.pid, directory: directory)
            state = .running
            startedAt = Self.wallClockSeconds()
            threads.append(PlatformThread(name: "logs-\(task.pid)") { [self] in
                LogPump.run(stdout: task.stdoutDescriptor, stderr: task.stderrDescriptor,
                            stdoutLog: stdoutLog, stderrLog: stderrLog)
                lock.withLock { logsDrained = true }
                lock.broadcast()
            })
            threads.append(PlatformThread(name: "reap-\(task.pid)") { [self] in
                reap(task.pid, onExit: onExit)
            })
        }
        startHealthMonitor()
    }

    private func startHealthMonitor() {
        guard let check = spec.healthCheck else { return }
        lock.withLock { health = .starting }
        let monitor = HealthMonitor(id: id, check: check, probe: { [weak self] in
            guard let self, let result = try? self.exec(check.command, timeoutMillis: check.timeoutMillis) else { return false }
            return result.status == .exited(code: 0) && !result.timedOut
        }, update: { [weak self] status in
            self?.lock.withLock { self?.health = status }
        })
        lock.withLock { self.monitor = monitor }
    }

    /// Runs `command` on the host with the task's environment and working directory (there is
    /// no container to enter); on timeout kills its process group.
    func exec(_ command: [String], timeoutMillis: Int) throws -> ExecResult {
        let current = lock.withLock { state }
        guard current == .running else { throw ExecutorError.invalidState(id, current, operation: "exec in") }
        let result = try HostCommand.run(launchPrefix + command, workingDirectory: spec.workingDirectory,
                                         environment: TaskSpawner.environment(of: spec), timeoutMillis: timeoutMillis)
        let output = Array((result.stdout + result.stderr).prefix(ExecResult.outputLimit))
        return ExecResult(status: result.status, output: output, timedOut: result.timedOut)
    }

    /// Reaper thread: waits for the main process, kills what is left of its group, reaps it,
    /// lets the logs drain, then publishes the exit.
    private func reap(_ pid: pid_t, onExit: @Sendable (ExitStatus) -> Void) {
        lock.withLock { reaperThread = pthread_self() }
        precondition(cplatform_wait_exited_noreap(pid) == 0, "waitid for task \(id) pid \(pid): \(SystemError("waitid"))")
        lock.withLock { monitor }?.stop(join: false)
        let status: ExitStatus = lock.withLock {
            _ = Glibc.kill(-pid, SIGKILL)
            var raw: Int32 = 0
            _ = try? retryingEINTR("waitpid", "pid \(pid)") { waitpid(pid, &raw, 0) }
            reaped = true
            return Self.decode(raw)
        }
        let deadline = monotonicNanoseconds() + UInt64(Self.drainNanos)
        _ = lock.waitUntil(deadline: deadline, { logsDrained }, then: {})
        lock.withLock {
            exitStatus = status
            state = .exited
        }
        lock.broadcast()
        onExit(status)
    }

    private static let drainNanos = ProcessExecutor.logDrainMillis * 1_000_000

    func waitForExit(timeoutMillis: Int?) -> ExitStatus? {
        let deadline = timeoutMillis.map { monotonicNanoseconds() + UInt64(max($0, 0)) * 1_000_000 }
        return lock.waitUntil(deadline: deadline, { state == .exited }, then: { exitStatus }) ?? nil
    }

    /// How long stop waits after SIGKILL before reporting that the task would not die.
    static let killWaitMillis = ProcessExecutor.logDrainMillis + 5_000

    /// The stop signal (SIGTERM unless the spec says otherwise) to the group, SIGKILL after
    /// `graceMillis`; returns the exit status (nil if never started).
    func stop(graceMillis: Int) throws -> ExitStatus? {
        let started = lock.withLock { () -> Bool in
            if state == .running { signalGroup(spec.stopSignal) }
            return state != .created
        }
        guard started else { return nil }
        if let status = waitForExit(timeoutMillis: graceMillis) { return status }
        lock.withLock { signalGroup(SIGKILL) }
        if let status = waitForExit(timeoutMillis: Self.killWaitMillis) { return status }
        throw ExecutorError.stopTimedOut(id, pid: info().pid ?? 0, waitedMillis: graceMillis + Self.killWaitMillis)
    }

    /// Call with `lock` held.
    private func signalGroup(_ signal: Int32) {
        guard let pid, !reaped else { return }
        _ = Glibc.kill(-pid, signal)
    }

    /// Refuses a running container; joins the finished threads of an exited one.
    func prepareForRemoval() throws {
        let (joinable, drained, onReaper) = try lock.withLock { () -> ([PlatformThread], Bool, Bool) in
            if state == .running { throw ExecutorError.invalidState(id, state, operation: "remove") }
            let onReaper = reaperThread.map { pthread_equal($0, pthread_self()) != 0 } ?? false
            return (threads, logsDrained, onReaper)
        }
        // The log thread may outlive the drain deadline if an escaped process holds a pipe, and
        // the reaper cannot join itself (remove called from onExit); those threads end on their own.
        lock.withLock { monitor }?.stop(join: !onReaper)
        guard drained, !onReaper else { return }
        joinable.forEach { $0.join() }
    }

    func info() -> ContainerInfo {
        lock.withLock {
            ContainerInfo(id: id, state: state, pid: pid, startedAt: startedAt, exitStatus: exitStatus, health: health)
        }
    }

    private static func decode(_ raw: Int32) -> ExitStatus {
        if cplatform_wifsignaled(raw) != 0 { return .signaled(signal: cplatform_wtermsig(raw)) }
        return .exited(code: cplatform_wexitstatus(raw))
    }

    private static func wallClockSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
