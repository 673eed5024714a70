import CPlatform
import Glibc
import Platform

/// Runs a helper program on the host (runc, tar) to completion and returns what it printed.
///
/// It exists so every short-lived helper is spawned the same way as a task (TaskSpawner: no fork,
/// CLOEXEC descriptors, reset signal mask, own process group) and its pipes are drained while it
/// runs, so a chatty helper can never block on a full pipe.
struct HostCommand {
    struct Result {
        let status: ExitStatus
        let stdout: [UInt8]
        let stderr: [UInt8]
        var timedOut = false

        var succeeded: Bool { status == .exited(code: 0) }
        /// The error text a failed helper printed, trimmed, for error messages.
        var errorText: String {
            let text = String(decoding: stderr.isEmpty ? stdout : stderr, as: UTF8.self)
            return text.trimmingTrailingWhitespace()
        }
    }

    /// Most bytes kept per stream; a helper printing more is truncated (never blocked).
    static let outputLimit = 16 << 20

    /// After a timeout, how long the output may still drain before the helper's process group is
    /// killed and its pipes closed: an orphan holding a pipe open must not hang the caller.
    static let drainAfterTimeoutMillis = 5_000

    /// Runs `arguments` (argv[0] looked up in PATH) and waits for it. After `timeoutMillis`,
    /// `onTimeout` runs once (default: SIGKILL to the helper's process group) and the result is
    /// marked `timedOut`; the output is still drained to its end, for at most `drainMillis`.
    static func run(_ arguments: [String], workingDirectory: String? = nil, environment: [String]? = nil,
                    timeoutMillis: Int? = nil, drainMillis: Int = drainAfterTimeoutMillis,
                    onTimeout: ((pid_t) -> Void)? = nil) throws -> Result {
        var spec = TaskSpec(command: arguments, environment: environment ?? [TaskSpawner.defaultPath])
        spec.workingDirectory = workingDirectory
        let task = try TaskSpawner.spawn(spec)
        var outputs: [Int32: [UInt8]] = [task.stdoutDescriptor: [], task.stderrDescriptor: []]
        var open = [task.stdoutDescriptor, task.stderrDescriptor]
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        let deadline = timeoutMillis.map { monotonicNanoseconds() + UInt64(max($0, 0)) * 1_000_000 }
        var timedOut = false
        var drainDeadline: UInt64?
        while !open.isEmpty {
            var pollers = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            var wait: Int32 = -1
            if let deadline, !timedOut {
                let now = monotonicNanoseconds()
                if now >= deadline {
                    timedOut = true
                    if let onTimeout { onTimeout(task.pid) } else { _ = Glibc.kill(-task.pid, SIGKILL) }
                    drainDeadline = monotonicNanoseconds() + UInt64(max(drainMillis, 0)) * 1_000_000
                } else {
                    wait = Int32(min((deadline - now) / 1_000_000 + 1, 60_000))
                }
            }
            if let drainDeadline {
                let now = monotonicNanoseconds()
                if now >= drainDeadline {
                    _ = Glibc.kill(-task.pid, SIGKILL)
                    open.forEach { _ = Glibc.close($0) }
                    break
                }
                wait = Int32((drainDeadline - now) / 1_000_000 + 1)
            }
            let ready = poll(&pollers, nfds_t(pollers.count), wait)
            if ready == 0 { continue }
            if ready < 0 && errno == EINTR { continue }
            precondition(ready >= 0, "poll on helper output failed: \(SystemError("poll"))")
            for poller in pollers where poller.revents != 0 {
                let count = buffer.withUnsafeMutableBytes { Glibc.read(poller.fd, $0.baseAddress!, $0.count) }
                if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                if count <= 0 {
                    _ = Glibc.close(poller.fd)
                    open.removeAll { $0 == poller.fd }
                } else if outputs[poller.fd]!.count < outputLimit {
                    outputs[poller.fd]! += buffer[0..<min(count, outputLimit - outputs[poller.fd]!.count)]
                }
            }
        }
        var raw: Int32 = 0
        _ = try retryingEINTR("waitpid", "pid \(task.pid)") { waitpid(task.pid, &raw, 0) }
        return Result(status: ExitStatus(waitStatus: raw), stdout: outputs[task.stdoutDescriptor]!,
                      stderr: outputs[task.stderrDescriptor]!, timedOut: timedOut)
    }

    /// Runs `arguments` and throws `failure(errorText)` unless it exits 0.
    @discardableResult
    static func check(_ arguments: [String], workingDirectory: String? = nil,
                      failure: (String) -> Error) throws -> Result {
        let result = try run(arguments, workingDirectory: workingDirectory)
        guard result.succeeded else {
            throw failure("\(arguments.joined(separator: " ")) failed (\(result.status)): \(result.errorText)")
        }
        return result
    }
}

extension ExitStatus {
    /// Decodes a wait(2) status.
    init(waitStatus raw: Int32) {
        if cplatform_wifsignaled(raw) != 0 {
            self = .signaled(signal: cplatform_wtermsig(raw))
        } else {
            self = .exited(code: cplatform_wexitstatus(raw))
        }
    }
}

extension String {
    func trimmingTrailingWhitespace() -> String {
        var text = Substring(self)
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
