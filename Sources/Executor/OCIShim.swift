import CPlatform
import Glibc
import Platform

/// The small shell that stands between the node and `runc run` for each container, so that a
/// container outlives the node process (a restart, an upgrade, a crash) and a restarted node can
/// re-attach to it.
///
/// It exists because `runc run` in the foreground needs a parent that waits for it and a reader
/// for the container's output. The shim (`/bin/sh`, in its own process group) is that parent:
/// it holds the container's output FIFOs open for reading and writing (so the container never
/// gets SIGPIPE while no node reads them; it blocks once the pipe buffer is full) and, when
/// `runc run` returns, writes the exit code to `DIR/exit` before it exits. The node reads the
/// FIFOs into the rotating logs; after a restart it opens them again (`OCIContainer.adopt`).
/// The end of the output (every writer gone) tells the node that the shim has exited.
enum OCIShim {
    static let stdoutFIFO = "stdout.fifo"
    static let stderrFIFO = "stderr.fifo"
    static let exitFile = "exit"
    /// The shim's pid and start time (`TaskProcessRecord` format), to tell a live shim from a recycled pid.
    static let pidFileName = "shim.pid"
    /// How much output a container may write while no node reads it (the kernel's default
    /// `pipe-max-size`); beyond it the container blocks on write until the node is back.
    static let bufferBytes: Int32 = 1 << 20

    /// The shim's script; `setup` runs after the output is redirected (its errors reach the
    /// logs) and before the runtime, which does not run if it fails.
    static func script(setup: String? = nil) -> String {
        """
        d=$1; shift
        exec 1<>"$d/\(stdoutFIFO)" 2<>"$d/\(stderrFIFO)"
        \(setup.map { "\($0) || exit 125\n" } ?? "")"$@"
        code=$?
        echo "$code" > "$d/\(exitFile).tmp" && mv -f "$d/\(exitFile).tmp" "$d/\(exitFile)"
        exit $code
        """
    }

    /// The shim's command line, running `run` (the runtime's `run` arguments) for the container in
    /// `directory`; with `view`, the shim lives in the mount namespace where the cgroup tree is
    /// hidden (one `unshare` and one `umount` more per container, no extra shell).
    static func command(directory: String, run: [String], view: CgroupView? = nil) -> [String] {
        (view?.namespacePrefix ?? []) + ["/bin/sh", "-c", script(setup: view?.hideCommands), "swarmctl-shim", directory] + run
    }

    /// The read ends of the container's output FIFOs, made if missing.
    struct Output {
        var stdout: Int32
        var stderr: Int32
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

    /// Whether `path` is the root of a mount (the overlay of an adopted container, to unmount on removal).
    static func isMountPoint(_ path: String) -> Bool {
        var own = stat()
        var parent = stat()
        guard stat(path, &own) == 0, stat(FileSystem.parentDirectory(of: path), &parent) == 0 else { return false }
        return own.st_dev != parent.st_dev
    }

    /// The exit code the shim recorded, once `runc run` has returned.
    static func recordedExit(directory: String) -> Int32? {
        guard let bytes = try? File.openForReading("\(directory)/\(exitFile)").readAll() else { return nil }
        return Int32(String(decoding: bytes, as: UTF8.self).trimmingTrailingWhitespace())
    }
}

/// What a restarted node found of a container a previous run started.
public enum Adoption: Sendable, Equatable {
    /// Still running, re-attached (logs, exit, health check).
    case running(pid: Int32?)
    /// It ended while the node was down, with this status.
    case exited(ExitStatus)
    /// Nothing of it runs and its end is unknown (its shim was killed, or the machine rebooted).
    case gone
}
