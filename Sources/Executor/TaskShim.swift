import CPlatform
import Foundation
import Glibc
import Platform

/// The small shell that stands between the node and a task's process (the OCI backend's
/// `runc run`, the process backend's command), so that the task outlives the node process (a
/// restart, an upgrade, a crash) and a restarted node can re-attach to it.
///
/// It exists because a process in the foreground needs a parent that waits for it and a reader
/// for its output, and the node may be gone. The shim (`/bin/sh`, in its own process group) is
/// that parent: it holds the task's output FIFOs open for reading and writing (so the task never
/// gets SIGPIPE while no node reads them; it blocks once the pipe buffer is full) and, when its
/// command returns, writes the exit code to `DIR/exit` before it exits. The node reads the FIFOs
/// into the rotating logs; after a restart it opens them again (`adopt` of either backend).
/// The end of the output (every writer gone) tells the node that the shim has exited.
///
/// The process backend's shim also leads the task's process group (`ownsGroup`): it catches the
/// signals a stop sends to the group with a no-op trap (a trap, unlike an ignored signal, is not
/// inherited, so the task gets them as usual), records the task's pid in `DIR/init.pid` (as runc
/// does for a container's init) and, once the exit is recorded, kills what is left of the group,
/// as a container's processes die with its init.
enum TaskShim {
    static let stdoutFIFO = "stdout.fifo"
    static let stderrFIFO = "stderr.fifo"
    static let exitFile = "exit"
    /// The OCI shim's pid and start time (`TaskProcessRecord` format), to tell a live shim from a
    /// recycled pid (the process backend keeps its shim's in `TaskProcessRecord.fileName`).
    static let pidFileName = "shim.pid"
    /// Where the process backend's shim writes the task's pid (the name runc gives the init's pid file).
    static let taskPidFileName = "init.pid"
    /// How much output a task may write while no node reads it (the kernel's default
    /// `pipe-max-size`); beyond it the task blocks on write until the node is back.
    static let bufferBytes: Int32 = 1 << 20

    /// The signals a group-owning shim survives: every catchable one but SIGCHLD (which a shell
    /// needs for its own waits), plus the task's stop signal when it is a real-time one.
    static func guardedSignals(stopSignal: Int32) -> [Int32] {
        let standard = (1...31).filter { ![SIGKILL, SIGSTOP, SIGCHLD].contains($0) }
        return standard.contains(stopSignal) || stopSignal <= 0 || stopSignal >= 65 ? standard : standard + [stopSignal]
    }

    /// The shim's script; `$1` is the task's directory, the rest its command. `setup` (OCI only)
    /// runs after the output is redirected (its errors reach the logs) and before the runtime,
    /// which does not run if it fails.
    static func script(ownsGroup: Bool, stopSignal: Int32 = SIGTERM, setup: String? = nil) -> String {
        guard ownsGroup else {
            return """
                d=$1; shift
                exec 1<>"$d/\(stdoutFIFO)" 2<>"$d/\(stderrFIFO)"
                \(setup.map { "\($0) || exit 125\n" } ?? "")"$@"
                code=$?
                echo "$code" > "$d/\(exitFile).tmp" && mv -f "$d/\(exitFile).tmp" "$d/\(exitFile)"
                exit $code
                """
        }
        let signals = guardedSignals(stopSignal: stopSignal).map(String.init).joined(separator: " ")
        // A shell cannot learn the pid of a command it runs in the foreground, so a child shell
        // writes its own pid and then becomes the command (exec keeps the pid). Both records go
        // into files the node made (mode 0600, kept on truncation), written in one `write` each
        // and read only when complete (a final newline): no `mv`, which the task's PATH may lack.
        return """
            d=$1; shift
            exec 1<>"$d/\(stdoutFIFO)" 2<>"$d/\(stderrFIFO)"
            trap : \(signals)
            /bin/sh -c 'echo $$ > "$0/\(taskPidFileName)" && exec "$@"' "$d" "$@"
            code=$?
            echo "$code" > "$d/\(exitFile)"
            kill -KILL 0
            """
    }

    /// The shim's command line, running `run` (the runtime's `run` arguments, or the task's
    /// command) for the task in `directory`; with `view` (OCI only), the shim lives in the mount
    /// namespace where the cgroup tree is hidden (one `unshare` and one `umount` more per
    /// container, no extra shell).
    static func command(directory: String, run: [String], ownsGroup: Bool = false, stopSignal: Int32 = SIGTERM,
                        view: CgroupView? = nil) -> [String] {
        precondition(view == nil || !ownsGroup, "the process backend's shim has no cgroup view")
        return (view?.namespacePrefix ?? []) + ["/bin/sh", "-c", script(ownsGroup: ownsGroup, stopSignal: stopSignal, setup: view?.hideCommands),
                                                "swarmctl-shim", directory] + run
    }

    /// The read ends of the task's output FIFOs, made if missing.
    struct Output {
        var stdout: Int32
        var stderr: Int32
    }

    /// Whether a shim was ever started for the task in `directory` (its FIFOs exist).
    static func hasOutput(directory: String) -> Bool {
        FileSystem.exists("\(directory)/\(stdoutFIFO)") && FileSystem.exists("\(directory)/\(stderrFIFO)")
    }

    /// Opens (creating them first if needed) both FIFOs for reading, non-blocking and close-on-exec.
    static func openOutput(directory: String) throws -> Output {
        var opened: [Int32] = []
        for name in [stdoutFIFO, stderrFIFO] {
            let path = "\(directory)/\(name)"
            if mkfifo(path, 0o600) != 0 && errno != EEXIST {
                TaskSpawner.closeAll(opened)
                throw SystemError("mkfifo", path)
            }
            let descriptor = Glibc.open(path, O_RDONLY | O_NONBLOCK | CPLATFORM_O_CLOEXEC)
            guard descriptor >= 0 else {
                TaskSpawner.closeAll(opened)
                throw SystemError("open", path)
            }
            // F_SETPIPE_SZ (1031): best effort; the default 64 KiB still works.
            _ = fcntl(descriptor, 1031, bufferBytes)
            opened.append(descriptor)
        }
        return Output(stdout: opened[0], stderr: opened[1])
    }

    /// Starts the thread that copies `output` into the task's rotating logs (`base` of each
    /// stream) until every writer is gone (the shim and all it started have exited), then calls
    /// `drained`. With `appending` (an adopted task) the logs are continued, not started anew.
    static func pumpOutput(_ output: Output, name: String, base: (LogStream) -> String, limits: LogLimits, appending: Bool,
                           drained: @escaping @Sendable () -> Void) -> PlatformThread {
        let (stdoutBase, stderrBase) = (base(.stdout), base(.stderr))
        return PlatformThread(name: name) {
            if let stdoutLog = try? RotatingLog(base: stdoutBase, limits: limits, appending: appending),
               let stderrLog = try? RotatingLog(base: stderrBase, limits: limits, appending: appending) {
                LogPump.run(stdout: output.stdout, stderr: output.stderr, stdoutLog: stdoutLog, stderrLog: stderrLog,
                            appending: appending)
            } else {
                TaskSpawner.closeAll([output.stdout, output.stderr])
            }
            drained()
        }
    }

    /// The exit code the shim recorded, once its command has returned.
    /// (Complete lines only: the process backend's shim writes into a file made empty beforehand.)
    static func recordedExit(directory: String) -> Int32? {
        guard let bytes = try? File.openForReading("\(directory)/\(exitFile)").readAll(), bytes.last == UInt8(ascii: "\n") else { return nil }
        return Int32(String(decoding: bytes, as: UTF8.self).trimmingTrailingWhitespace())
    }

    /// The recorded exit code, waiting up to `millis` for it: the shim writes it before it closes
    /// its output, but a slow file system may show it a moment after the end of the output.
    static func awaitRecordedExit(directory: String, millis: Int = 2_000) -> Int32? {
        let deadline = monotonicNanoseconds() + UInt64(millis) * 1_000_000
        var code = recordedExit(directory: directory)
        while code == nil && monotonicNanoseconds() < deadline {
            _ = poll(nil, 0, 10)
            code = recordedExit(directory: directory)
        }
        return code
    }

    /// Makes the (empty) files the process backend's shim writes the task's pid and exit into, readable by
    /// the node only: the shim's shell keeps the mode of a file it truncates, and leaves the
    /// task's umask alone.
    static func prepareRecords(directory: String) throws {
        for name in [taskPidFileName, exitFile] {
            _ = try File.open("\(directory)/\(name)", flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600)
        }
    }

    /// The task's pid the process backend's shim recorded (complete lines only: the file is
    /// written in one `write`, and may be read while still empty).
    static func taskPid(directory: String) -> pid_t? {
        guard let bytes = try? File.openForReading("\(directory)/\(taskPidFileName)").readAll(), bytes.last == UInt8(ascii: "\n"),
              let pid = pid_t(String(decoding: bytes, as: UTF8.self).trimmingTrailingWhitespace()), pid > 0 else { return nil }
        return pid
    }

    /// Ends what is left of the process backend's task in `directory`: its shim's group while the
    /// shim runs (checked by its record's start time), or, when the shim alone was killed, the
    /// group it led as long as the task it recorded is still in it (a process that started after
    /// the shim and sits in its group is the task or one of its own: a group id is never reused
    /// while the group has members).
    static func endGroup(directory: String) {
        if let shim = TaskProcessRecord.livePID(directory: directory) { return ProcessTable.kill(processGroupOf: shim) }
        guard let (group, shimStarted) = TaskProcessRecord.recorded(directory: directory), let task = taskPid(directory: directory),
              getpgid(task) == group, let taskStarted = ProcessTable.startTime(of: task), taskStarted >= shimStarted else { return }
        _ = Glibc.kill(-group, SIGKILL)
    }

    /// When process `pid` started, in wall-clock seconds (its start in clock ticks since boot, plus
    /// the boot time of /proc/stat), so an adopted task keeps the start time its first node saw.
    static func wallClockStart(of pid: pid_t) -> Double? {
        // /proc files have no size: read to the end with Foundation, not `File.readAll`.
        guard let ticks = ProcessTable.startTime(of: pid),
              let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        let line = stat.split(separator: "\n").first { $0.hasPrefix("btime ") }
        guard let boot = line.flatMap({ $0.split(separator: " ").last }).flatMap({ Double($0) }) else { return nil }
        return boot + Double(ticks) / Double(max(sysconf(Int32(_SC_CLK_TCK)), 1))
    }

    /// A shell reports a command killed by a signal as 128 + the signal (and so does `runc run`).
    static func decodeExit(_ code: Int32) -> ExitStatus {
        code > 128 && code <= 128 + 64 ? .signaled(signal: code - 128) : .exited(code: code)
    }
}
