import Glibc
import Platform

/// One task run by `OCIExecutor`: its bundle, its state machine (created → running → exited), and
/// the `runc run` process that owns it.
///
/// `runc run` stays in the foreground for the container's whole life (it is the container's
/// parent and reaps it), under a shim (`OCIShim`, this process's child) that outlives this
/// process: the shim's exit is the container's exit (also recorded in a file), and the output
/// reaches the logs through FIFOs that a restarted node opens again (`adopt`). Signals go through
/// `runc kill`; `--keep` leaves the cgroup in place after exit so the OOM counter can be read
/// before `runc delete` removes it.
final class OCIContainer: @unchecked Sendable {
    let id: ContainerID
    let spec: TaskSpec
    let directory: String
    let runtime: OCIRuntime
    let cgroupsPath: String
    /// The overlay (or copied) root file system, unmounted on removal.
    let rootfs: PreparedRootfs

    private let lock = ConditionLock()
    private var state = ContainerState.created
    private var starting = false
    private var startFailure: String?
    private var runtimePid: pid_t?
    private var containerPid: pid_t?
    private var reaped = false
    private var startedAt: Double?
    private var exitStatus: ExitStatus?
    private var logsDrained = false
    private var threads: [PlatformThread] = []
    private var reaperThread: pthread_t?
    private var health: HealthStatus?
    private var monitor: HealthMonitor?
    /// The OOM kills of a runtime that deletes the cgroups at exit (crun 1.8), else nil.
    private var oomWatch: OOMWatch?

    init(id: ContainerID, spec: TaskSpec, directory: String, runtime: OCIRuntime, cgroupsPath: String,
         rootfs: PreparedRootfs) {
        self.id = id
        self.spec = spec
        self.directory = directory
        self.runtime = runtime
        self.cgroupsPath = cgroupsPath
        self.rootfs = rootfs
    }

    var bundle: String { "\(directory)/bundle" }
    var pidFile: String { "\(directory)/init.pid" }
    func logBase(_ stream: LogStream) -> String { "\(directory)/\(stream.rawValue).log" }

    /// Longest wait for runc to report the container running (image-less start is ~50–300 ms).
    static let startTimeoutMillis = 30_000
    /// Longest nap between looks at the pid file and the start's failure while the runtime starts.
    static let startPollMillis: Int32 = 10

    func start(onExit: @escaping @Sendable (ExitStatus) -> Void) throws {
        try lock.withLock {
            guard state == .created, !starting else { throw ExecutorError.invalidState(id, state, operation: "start") }
            starting = true
        }
        let task: SpawnedTask
        let watch = runtime.keepsAfterExit ? nil : OOMWatch(cgroupsPath: cgroupsPath)
        lock.withLock { oomWatch = watch }
        do {
            // The output goes through FIFOs the shim holds open, so the container outlives this
            // process and a restarted node reattaches to them (`adopt`).
            let output = try OCIShim.openOutput(directory: directory)
            do {
                task = try TaskSpawner.spawn(TaskSpec(
                    command: OCIShim.command(directory: directory, run: runtime.runArguments(id: id, bundle: bundle, pidFile: pidFile),
                                             view: runtime.cgroupView),
                    environment: [TaskSpawner.defaultPath]))
            } catch {
                TaskSpawner.closeAll([output.stdout, output.stderr])
                throw error
            }
            TaskSpawner.closeAll([task.stdoutDescriptor, task.stderrDescriptor])
            try? TaskProcessRecord.write(pid: task.pid, directory: directory, name: OCIShim.pidFileName)
            lock.withLock {
                runtimePid = task.pid
                startLogPump(output)
                threads.append(PlatformThread(name: "reap-\(task.pid)") { [self] in
                    reap(task.pid, onExit: onExit)
                })
            }
        } catch {
            watch?.release()
            lock.withLock { starting = false }
            lock.broadcast()
            throw error
        }
        try awaitRunning(runtimePid: task.pid)
    }

    /// Waits until runc has written the init's pid (the process is running) or has failed.
    private func awaitRunning(runtimePid: pid_t) throws {
        let deadline = monotonicNanoseconds() + UInt64(Self.startTimeoutMillis) * 1_000_000
        // Made before the first look at the pid file, so its appearance cannot be missed.
        let watch = DirectoryWatch(directory: directory)
        while true {
            if let pid = readPidFile() {
                let notify = lock.withLock { () -> Bool in
                    containerPid = pid
                    guard state == .created else { return false }
                    state = .running
                    startedAt = wallClockSeconds()
                    return true
                }
                if notify {
                    lock.broadcast()
                    startHealthMonitor()
                }
                return
            }
            if let failure = lock.withLock({ startFailure }) {
                throw ExecutorError.spawnFailed(command: spec.command.first ?? "(image default)", reason: failure)
            }
            if monotonicNanoseconds() > deadline {
                _ = try? runtime.kill(id, signal: SIGKILL, all: true)
                throw ExecutorError.spawnFailed(
                    command: spec.command.first ?? "(image default)",
                    reason: "\(runtime.name) did not start the container within \(Self.startTimeoutMillis) ms")
            }
            // Wakes when the runtime writes the pid file; a failure (the reaper sets startFailure)
            // is seen within the interval.
            watch.wait(millis: Self.startPollMillis)
        }
    }

    private func readPidFile() -> pid_t? {
        guard let bytes = try? File.openForReading(pidFile).readAll(), !bytes.isEmpty else { return nil }
        return pid_t(String(decoding: bytes, as: UTF8.self).trimmingTrailingWhitespace())
    }

    /// Reaper thread: waits for `runc run`, reads the OOM counter, deletes the runtime's state
    /// (and with it the cgroups), lets the logs drain, then publishes the exit.
    private func reap(_ pid: pid_t, onExit: @Sendable (ExitStatus) -> Void) {
        lock.withLock { reaperThread = pthread_self() }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 {
            precondition(errno == EINTR, "waitpid for runc of \(id) pid \(pid): \(SystemError("waitpid"))")
        }
        lock.withLock { monitor }?.stop(join: false)
        let ran = readPidFile() != nil
        var status = Self.decodeRuntimeExit(ExitStatus(waitStatus: raw))
        if status != .exited(code: 0), Cgroups.oomKills(cgroupsPath: cgroupsPath) > 0 { status = .oomKilled }
        let watch = lock.withLock { oomWatch }
        if status == .signaled(signal: SIGKILL), watch?.oomKilled() == true { status = .oomKilled }
        watch?.release()
        runtime.deleteQuietly(id)
        lock.withLock { reaped = true }
        let deadline = monotonicNanoseconds() + UInt64(ProcessExecutor.logDrainMillis) * 1_000_000
        _ = lock.waitUntil(deadline: deadline, { logsDrained }, then: {})
        guard ran else {
            let text = (try? lastLines(of: .stderr)) ?? ""
            lock.withLock {
                startFailure = text.isEmpty ? "\(runtime.name) exited with \(status) before the container ran" : text
                starting = false
            }
            lock.broadcast()
            return
        }
        lock.withLock {
            if containerPid == nil { containerPid = readPidFile() }
            if startedAt == nil { startedAt = wallClockSeconds() }
            exitStatus = status
            state = .exited
        }
        lock.broadcast()
        onExit(status)
    }

    /// `runc run` exits with the container's exit code, or 128 + the signal that killed it.
    static func decodeRuntimeExit(_ status: ExitStatus) -> ExitStatus {
        if case .exited(let code) = status, code > 128, code <= 128 + 64 { return .signaled(signal: code - 128) }
        return status
    }

    /// Copies the output FIFOs into the rotating logs on a thread until every writer is gone (the
    /// shim, runc and the container have exited). Called under the lock.
    private func startLogPump(_ output: OCIShim.Output, appending: Bool = false) {
        let limits = spec.logLimits
        let (stdoutBase, stderrBase) = (logBase(.stdout), logBase(.stderr))
        threads.append(PlatformThread(name: "logs-\(id.rawValue.prefix(8))") { [self] in
            if let stdoutLog = try? RotatingLog(base: stdoutBase, limits: limits, appending: appending),
               let stderrLog = try? RotatingLog(base: stderrBase, limits: limits, appending: appending) {
                LogPump.run(stdout: output.stdout, stderr: output.stderr, stdoutLog: stdoutLog, stderrLog: stderrLog,
                            appending: appending)
            } else {
                TaskSpawner.closeAll([output.stdout, output.stderr])
            }
            lock.withLock { logsDrained = true }
            lock.broadcast()
        })
    }

    /// Re-attaches to this container after the node restarted: a container whose shim still runs
    /// gets its logs pumped, its health check and its exit watched again; one whose shim wrote its
    /// exit status has ended; anything else is gone (its shim was killed, or the machine rebooted).
    func adopt(onExit: @escaping @Sendable (ExitStatus) -> Void) -> Adoption {
        if let status = finishedStatus() { return markAdoptedExit(status) }
        guard let shim = TaskProcessRecord.livePID(directory: directory, name: OCIShim.pidFileName),
              let output = try? OCIShim.openOutput(directory: directory) else {
            lock.withLock { state = .exited }
            return .gone
        }
        // The shim may have exited between the check and the open (then no writer is left to
        // signal the end of the output): its exit file says so.
        if let status = finishedStatus() {
            TaskSpawner.closeAll([output.stdout, output.stderr])
            return markAdoptedExit(status)
        }
        let pid = readPidFile()
        lock.withLock {
            runtimePid = shim
            containerPid = pid
            state = .running
            startedAt = wallClockSeconds()
            startLogPump(output, appending: true)
            threads.append(PlatformThread(name: "reap-\(shim)") { [self] in reapAdopted(onExit: onExit) })
        }
        lock.broadcast()
        startHealthMonitor()
        return .running(pid: pid)
    }

    /// The exit status the shim recorded (with the OOM verdict), once the container has ended.
    private func finishedStatus() -> ExitStatus? {
        guard let code = OCIShim.recordedExit(directory: directory) else { return nil }
        var status = Self.decodeRuntimeExit(.exited(code: code))
        if status != .exited(code: 0), Cgroups.oomKills(cgroupsPath: cgroupsPath) > 0 { status = .oomKilled }
        return status
    }

    private func markAdoptedExit(_ status: ExitStatus) -> Adoption {
        runtime.deleteQuietly(id)
        lock.withLock {
            containerPid = readPidFile()
            exitStatus = status
            state = .exited
            reaped = true
            logsDrained = true
        }
        lock.broadcast()
        return .exited(status)
    }

    /// Reaper of an adopted container (the shim is not this process's child): the end of the
    /// output means the shim has exited, after writing the exit status.
    private func reapAdopted(onExit: @Sendable (ExitStatus) -> Void) {
        lock.withLock { reaperThread = pthread_self() }
        _ = lock.waitUntil(deadline: nil, { logsDrained }, then: {})
        lock.withLock { monitor }?.stop(join: false)
        var status = finishedStatus()
        // The exit file is written before the shim closes its output; allow a slow file system a moment.
        let deadline = monotonicNanoseconds() + 2_000_000_000
        while status == nil && monotonicNanoseconds() < deadline {
            _ = poll(nil, 0, 10)
            status = finishedStatus()
        }
        let final = status ?? .signaled(signal: SIGKILL)
        runtime.deleteQuietly(id)
        lock.withLock {
            reaped = true
            exitStatus = final
            state = .exited
        }
        lock.broadcast()
        onExit(final)
    }

    private func lastLines(of stream: LogStream) throws -> String {
        let path = logBase(stream)
        let bytes = try File.openForReading(path).readAll()
        return String(decoding: bytes.suffix(2_000), as: UTF8.self).trimmingTrailingWhitespace()
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

    /// Runs `command` in the running container with `runc exec` (the container's environment,
    /// user, working directory and limits); on timeout kills the process and reports `timedOut`.
    func exec(_ command: [String], timeoutMillis: Int) throws -> ExecResult {
        let current = lock.withLock { state }
        guard current == .running else { throw ExecutorError.invalidState(id, current, operation: "exec in") }
        let pidFile = "\(directory)/exec-\(randomContainerHex().prefix(8)).pid"
        defer { try? FileSystem.remove(pidFile) }
        let result = try HostCommand.run(runtime.execArguments(id: id, pidFile: pidFile, command: command),
                                         timeoutMillis: timeoutMillis) { runtimePid in
            Self.killTimedOutExec(runtimePid: runtimePid, pidFile: pidFile)
        }
        let output = Array((result.stdout + result.stderr).prefix(ExecResult.outputLimit))
        return ExecResult(status: Self.decodeRuntimeExit(result.status), output: output, timedOut: result.timedOut)
    }

    /// Longest wait, after an exec timed out, for `runc exec` to write the pid of the process it
    /// started (it is still setting the process up, slow on a loaded machine).
    static let execKillWaitMillis = 10_000

    /// Ends a timed-out exec by killing only the process `runc exec` started, so `runc exec` reaps
    /// it and exits by itself. Killing `runc exec` as well would orphan its children, which are in
    /// the container's PID namespace (and in their own session, out of reach of a group kill): the
    /// command kept running, and every orphan's zombie waits for the host's init to reap it. Until
    /// then the container's init cannot finish exiting (the kernel's zap_pid_ns_processes waits for
    /// every process of the namespace), so `runc run` does not exit and a stop times out wherever
    /// PID 1 reaps late or never. The process's own group goes with it (a shell's children), so
    /// none of them keeps the output pipes open. Only if runc never reports the pid is runc's
    /// process group killed; `HostCommand` stops draining after a grace period either way.
    static func killTimedOutExec(runtimePid: pid_t, pidFile: String) {
        let deadline = monotonicNanoseconds() + UInt64(execKillWaitMillis) * 1_000_000
        while monotonicNanoseconds() < deadline {
            // runc exec failed or finished: nothing of it is left to kill, and the pid in its pid
            // file may already belong to another process.
            if [.zombie, .gone].contains(ProcessTable.state(of: runtimePid)) { return }
            if let bytes = try? File.openForReading(pidFile).readAll(),
               let pid = pid_t(String(decoding: bytes, as: UTF8.self).trimmingTrailingWhitespace()), pid > 0 {
                _ = Glibc.kill(-pid, SIGKILL)
                _ = Glibc.kill(pid, SIGKILL)
                return
            }
            // runc writes the pid file within milliseconds of the process starting; poll for it.
            _ = poll(nil, 0, 2)
        }
        _ = Glibc.kill(-runtimePid, SIGKILL)
    }

    func waitForExit(timeoutMillis: Int?) -> ExitStatus? {
        let deadline = timeoutMillis.map { monotonicNanoseconds() + UInt64(max($0, 0)) * 1_000_000 }
        return lock.waitUntil(deadline: deadline, { state == .exited }, then: { exitStatus }) ?? nil
    }

    /// The stop signal (SIGTERM unless the spec says otherwise) to the container's init, SIGKILL
    /// to all its processes after `graceMillis`.
    /// As in Docker, an init (PID 1) without a TERM handler ignores TERM and so waits for the KILL.
    func stop(graceMillis: Int) throws -> ExitStatus? {
        // A stop racing a start waits for the start's outcome: a container runc is still
        // creating must not be reported as never started and then run on.
        let startDeadline = monotonicNanoseconds() + UInt64(Self.startTimeoutMillis) * 1_000_000
        let current = lock.waitUntil(deadline: startDeadline, { !(state == .created && starting) }, then: { state })
            ?? .running
        switch current {
        case .created: return nil
        case .exited: return waitForExit(timeoutMillis: 0)
        case .running: break
        }
        _ = try? runtime.kill(id, signal: spec.stopSignal, all: false)
        if let status = waitForExit(timeoutMillis: graceMillis) { return status }
        // SIGKILL again every second: a `runc kill` can fail while runc holds the container's
        // state lock (seen under load, e.g. during a `runc exec`), and a lost KILL must not
        // turn into a stop that never ends.
        var waited = 0
        while waited < ProcessContainer.killWaitMillis {
            _ = try? runtime.kill(id, signal: SIGKILL, all: true)
            let slice = min(1_000, ProcessContainer.killWaitMillis - waited)
            if let status = waitForExit(timeoutMillis: slice) { return status }
            waited += slice
        }
        throw ExecutorError.stopTimedOut(id, pid: info().pid ?? 0,
                                         waitedMillis: graceMillis + ProcessContainer.killWaitMillis)
    }

    /// Refuses a running container; joins the finished threads of an exited one.
    func prepareForRemoval() throws {
        let (joinable, drained, onReaper) = try lock.withLock { () -> ([PlatformThread], Bool, Bool) in
            if state == .running || (starting && !reaped) {
                throw ExecutorError.invalidState(id, .running, operation: "remove")
            }
            let onReaper = reaperThread.map { pthread_equal($0, pthread_self()) != 0 } ?? false
            return (threads, logsDrained, onReaper)
        }
        lock.withLock { monitor }?.stop(join: !onReaper)
        guard drained, !onReaper else { return }
        joinable.forEach { $0.join() }
    }

    func info() -> ContainerInfo {
        lock.withLock {
            ContainerInfo(id: id, state: state, pid: containerPid, startedAt: startedAt, exitStatus: exitStatus,
                          health: health)
        }
    }
}

func wallClockSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
