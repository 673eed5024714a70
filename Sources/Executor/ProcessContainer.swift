import CPlatform
import Glibc
import Platform

/// One task run by `ProcessExecutor`: its state machine (created → running → exited), the
/// threads that drain its output and reap it, and the signalling of its process group.
///
/// The task runs under a shim (`TaskShim` with `ownsGroup`) that leads its process group, holds
/// its output FIFOs and records its exit, so the task outlives the node process and a restarted
/// node re-attaches to it (`adopt`). The group is only signalled under `lock` while its leader,
/// the shim, is known to be there (this process's unreaped child, or for an adopted task the
/// recorded shim by pid and start time), so a signal never reaches a recycled process group.
final class ProcessContainer: @unchecked Sendable {
    let id: ContainerID
    let spec: TaskSpec
    let directory: String
    private let lock = ConditionLock()
    private var state = ContainerState.created
    /// The shim: the leader of the task's process group.
    private var shimPid: pid_t?
    /// The task's own process (the shim's child), once the shim has recorded it.
    private var taskPid: pid_t?
    /// Adopted from a previous run of the node: the shim is not this process's child.
    private var adopted = false
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

    func logBase(_ stream: LogStream) -> String { "\(directory)/\(stream.rawValue).log" }

    /// Longest wait for the shim to record the task's pid (two `sh` starts; slow only under load).
    static let pidWaitMillis = 10_000

    func start(onExit: @escaping @Sendable (ExitStatus) -> Void) throws {
        let shim = try lock.withLock { () throws -> pid_t in
            guard state == .created else { throw ExecutorError.invalidState(id, state, operation: "start") }
            let command = try resolvedCommand()
            // The output goes through FIFOs the shim holds open, so the task outlives this
            // process and a restarted node reattaches to them (`adopt`).
            try TaskShim.prepareRecords(directory: directory)
            let output = try TaskShim.openOutput(directory: directory)
            var shimSpec = spec
            shimSpec.user = nil
            shimSpec.command = TaskShim.command(directory: directory, run: command, ownsGroup: true, stopSignal: spec.stopSignal)
            let task: SpawnedTask
            do {
                task = try TaskSpawner.spawn(shimSpec)
            } catch {
                TaskSpawner.closeAll([output.stdout, output.stderr])
                throw error
            }
            TaskSpawner.closeAll([task.stdoutDescriptor, task.stderrDescriptor])
            // Best effort: without the record a leftover is only found by its process group.
            try? TaskProcessRecord.write(pid: task.pid, directory: directory)
            shimPid = task.pid
            state = .running
            startedAt = Self.wallClockSeconds()
            startLogPump(output)
            threads.append(PlatformThread(name: "reap-\(task.pid)") { [self] in
                reap(task.pid, onExit: onExit)
            })
            return task.pid
        }
        awaitTaskPid(shim: shim)
        startHealthMonitor()
    }

    /// The task's command, once its executable is known to be there (looked up as the shim's
    /// `exec` will: in the PATH of the task's own environment), so a command that cannot run fails
    /// the start with the reason instead of becoming the shim's exit code 127.
    /// `setpriv` of a task run as another user is taken from the node's PATH, as before the shim.
    private func resolvedCommand() throws -> [String] {
        var prefix = launchPrefix
        if let tool = prefix.first, case let .success(path) = CommandLookup.resolve(tool, environment: [], workingDirectory: nil) {
            prefix[0] = path
        }
        if case let .failure(reason) = CommandLookup.resolve(spec.command[0], environment: TaskSpawner.environment(of: spec),
                                                             workingDirectory: spec.workingDirectory) {
            throw ExecutorError.commandUnavailable(command: spec.command[0], reason: reason)
        }
        return prefix + spec.command
    }

    /// Waits until the shim has recorded the task's pid, or has exited (a task that ended at once).
    private func awaitTaskPid(shim: pid_t) {
        let deadline = monotonicNanoseconds() + UInt64(Self.pidWaitMillis) * 1_000_000
        // Made before the first look at the pid file, so its appearance cannot be missed.
        let watch = DirectoryWatch(directory: directory)
        while monotonicNanoseconds() < deadline {
            if let pid = TaskShim.taskPid(directory: directory) {
                lock.withLock { if taskPid == nil { taskPid = pid } }
                return
            }
            if lock.withLock({ reaped }) { return }
            watch.wait(millis: 10)
        }
    }

    /// Copies the output FIFOs into the rotating logs on a thread until every writer is gone (the
    /// shim and everything of the task's group have exited). Called under the lock.
    private func startLogPump(_ output: TaskShim.Output, appending: Bool = false) {
        threads.append(TaskShim.pumpOutput(output, name: "logs-\(id.rawValue.prefix(8))", base: logBase, limits: spec.logLimits,
                                           appending: appending) { [self] in
            lock.withLock { logsDrained = true }
            lock.broadcast()
        })
    }

    /// Re-attaches to this task after the node restarted: a task whose shim still runs gets its
    /// logs pumped, its health check and its exit watched again; one whose shim recorded its exit
    /// has ended; anything else is gone (its shim was killed, the machine rebooted, or a node
    /// without the shim started it): what is left of its group is ended, so a replacement never
    /// runs beside it.
    func adopt(onExit: @escaping @Sendable (ExitStatus) -> Void) -> Adoption {
        if let code = TaskShim.recordedExit(directory: directory) { return markAdoptedExit(TaskShim.decodeExit(code)) }
        guard let shim = TaskProcessRecord.livePID(directory: directory), TaskShim.hasOutput(directory: directory),
              let output = try? TaskShim.openOutput(directory: directory) else {
            TaskShim.endGroup(directory: directory)
            lock.withLock { state = .exited }
            return .gone
        }
        // The shim may have exited between the check and the open (then no writer is left to
        // signal the end of the output): its exit file says so.
        if let code = TaskShim.recordedExit(directory: directory) {
            TaskSpawner.closeAll([output.stdout, output.stderr])
            return markAdoptedExit(TaskShim.decodeExit(code))
        }
        let pid = TaskShim.taskPid(directory: directory)
        lock.withLock {
            shimPid = shim
            taskPid = pid
            adopted = true
            state = .running
            startedAt = pid.flatMap(TaskShim.wallClockStart) ?? Self.wallClockSeconds()
            startLogPump(output, appending: true)
            threads.append(PlatformThread(name: "reap-\(shim)") { [self] in reapAdopted(onExit: onExit) })
        }
        lock.broadcast()
        startHealthMonitor()
        return .running(pid: pid)
    }

    private func markAdoptedExit(_ status: ExitStatus) -> Adoption {
        lock.withLock {
            taskPid = TaskShim.taskPid(directory: directory)
            exitStatus = status
            state = .exited
            reaped = true
            logsDrained = true
        }
        lock.broadcast()
        return .exited(status)
    }

    /// Reaper of an adopted task (the shim is not this process's child): the end of the output
    /// means the shim and its group have exited, after the shim recorded the exit status. A
    /// process that left the group (setsid) may hold the output open for ever, so once the shim
    /// is gone the logs get the same drain time as in `reap`, no more.
    private func reapAdopted(onExit: @Sendable (ExitStatus) -> Void) {
        lock.withLock { reaperThread = pthread_self() }
        while lock.waitUntil(deadline: monotonicNanoseconds() + Self.shimCheckNanos, { logsDrained }, then: {}) == nil {
            guard TaskProcessRecord.livePID(directory: directory) == nil else { continue }
            _ = lock.waitUntil(deadline: monotonicNanoseconds() + UInt64(Self.drainNanos), { logsDrained }, then: {})
            break
        }
        lock.withLock { monitor }?.stop(join: false)
        let status = TaskShim.awaitRecordedExit(directory: directory).map(TaskShim.decodeExit) ?? .signaled(signal: SIGKILL)
        lock.withLock {
            reaped = true
            exitStatus = status
            state = .exited
        }
        lock.broadcast()
        onExit(status)
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

    /// Reaper thread: waits for the shim (which records the task's exit and then kills what is
    /// left of the group, itself included), kills what is left of the group should the shim have
    /// died first, reaps it, lets the logs drain, then publishes the exit: the one the shim
    /// recorded, else how the shim itself ended (SIGKILL from a stop).
    private func reap(_ shim: pid_t, onExit: @Sendable (ExitStatus) -> Void) {
        lock.withLock { reaperThread = pthread_self() }
        precondition(cplatform_wait_exited_noreap(shim) == 0, "waitid for task \(id) shim \(shim): \(SystemError("waitid"))")
        lock.withLock { monitor }?.stop(join: false)
        let raw: Int32 = lock.withLock {
            _ = Glibc.kill(-shim, SIGKILL)
            var raw: Int32 = 0
            _ = try? retryingEINTR("waitpid", "pid \(shim)") { waitpid(shim, &raw, 0) }
            reaped = true
            return raw
        }
        let status = TaskShim.recordedExit(directory: directory).map(TaskShim.decodeExit) ?? Self.decode(raw)
        let deadline = monotonicNanoseconds() + UInt64(Self.drainNanos)
        _ = lock.waitUntil(deadline: deadline, { logsDrained }, then: {})
        lock.withLock {
            if taskPid == nil { taskPid = TaskShim.taskPid(directory: directory) }
            exitStatus = status
            state = .exited
        }
        lock.broadcast()
        onExit(status)
    }

    private static let drainNanos = ProcessExecutor.logDrainMillis * 1_000_000
    /// How often an adopted task's reaper looks whether the shim is still there.
    private static let shimCheckNanos: UInt64 = 100_000_000

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

    /// Call with `lock` held. An adopted shim is checked against its record first (it is not our
    /// child, so its pid could be another process's once it is gone).
    private func signalGroup(_ signal: Int32) {
        guard let shimPid, !reaped else { return }
        if adopted, TaskProcessRecord.livePID(directory: directory) != shimPid { return }
        _ = Glibc.kill(-shimPid, signal)
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
            // The shim records the pid a moment after the start under load.
            if taskPid == nil, state != .created { taskPid = TaskShim.taskPid(directory: directory) }
            return ContainerInfo(id: id, state: state, pid: taskPid, startedAt: startedAt, exitStatus: exitStatus, health: health)
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
