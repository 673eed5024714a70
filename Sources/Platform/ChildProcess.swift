import CPlatform
import Glibc

/// A child process started with `posix_spawn`, whose stdout is a pipe the parent reads.
///
/// It exists because `fork` is unsafe in a multithreaded Swift process and Foundation's `Process`
/// blocks in `waitUntilExit`; crash tests need to kill a child at a chosen moment, reap it, and
/// read what it wrote without a thread per pipe.
public final class ChildProcess {
    public let pid: pid_t
    /// Read end of the child's stdout (non-blocking reads are done with `poll`).
    public let stdoutDescriptor: Int32
    private var reaped = false

    private init(pid: pid_t, stdoutDescriptor: Int32) {
        self.pid = pid
        self.stdoutDescriptor = stdoutDescriptor
    }

    deinit {
        if !reaped {
            _ = Glibc.kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
        }
        _ = Glibc.close(stdoutDescriptor)
    }

    /// Starts `path` with `arguments` (argv[1...]); stdin and stderr are inherited.
    public static func spawn(_ path: String, arguments: [String]) throws -> ChildProcess {
        var fds: [Int32] = [-1, -1]
        guard cplatform_pipe2(&fds, CPLATFORM_O_CLOEXEC) == 0 else { throw SystemError("pipe2", path) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        let argv = ([path] + arguments).map { strdup($0) }
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = (argv + [nil]).withUnsafeBufferPointer { buffer in
            posix_spawn(&pid, path, &actions, nil, UnsafeMutablePointer(mutating: buffer.baseAddress!), environ)
        }
        _ = Glibc.close(fds[1])
        guard result == 0 else {
            _ = Glibc.close(fds[0])
            throw SystemError("posix_spawn", path, errno: result)
        }
        return ChildProcess(pid: pid, stdoutDescriptor: fds[0])
    }

    /// Lets the child outlive this object (and this process): it is no longer killed on deinit.
    /// For launchers that exit and leave their children running (`testbed up`).
    public func release() {
        reaped = true
    }

    /// Sends `signal` to the child.
    public func kill(_ signal: Int32 = SIGKILL) throws {
        guard Glibc.kill(pid, signal) == 0 else { throw SystemError("kill", "pid \(pid)") }
    }

    /// Waits for the child to exit; returns the signal that killed it, or nil for a normal exit.
    @discardableResult
    public func wait() throws -> (exitCode: Int32?, signal: Int32?) {
        var status: Int32 = 0
        _ = try retryingEINTR("waitpid", "pid \(pid)") { waitpid(pid, &status, 0) }
        reaped = true
        if cplatform_wifsignaled(status) != 0 { return (nil, cplatform_wtermsig(status)) }
        return (cplatform_wexitstatus(status), nil)
    }

    /// Reads what is available on stdout, waiting at most `timeoutMilliseconds` for the first
    /// byte. Returns nil at end of file, an empty array on timeout.
    public func readOutput(timeoutMilliseconds: Int32) throws -> [UInt8]? {
        var poller = pollfd(fd: stdoutDescriptor, events: Int16(POLLIN), revents: 0)
        let ready = try retryingEINTR("poll", "pid \(pid) stdout") { poll(&poller, 1, timeoutMilliseconds) }
        if ready == 0 { return [] }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let got = try buffer.withUnsafeMutableBytes { raw in
            try retryingEINTR("read", "pid \(pid) stdout") { Glibc.read(stdoutDescriptor, raw.baseAddress!, raw.count) }
        }
        if got == 0 { return nil }
        return Array(buffer[0..<got])
    }
}

/// Nanoseconds on the monotonic clock, for deadlines in tests and benchmarks.
public func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
