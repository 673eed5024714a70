import CPlatform
import Foundation
import Glibc
import Platform

/// Runs one host tool (`ip`, `bridge`, `nft`, `conntrack`) to completion with an input text on its
/// stdin and returns its exit code and combined output.
///
/// It exists because the networking module must not depend on the executor, yet needs the same
/// spawning rules: `posix_spawnp` (never `fork` in a threaded process), our descriptors closed in
/// the child, output drained while the tool runs, and a deadline after which it is killed.
enum CommandRunner {
    struct Output {
        let code: Int32
        let text: String
        var errors = ""
        var succeeded: Bool { code == 0 }
    }

    static let path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// With `separateErrors`, stderr goes to `errors` instead of being mixed into `text` (for
    /// tools whose stdout is parsed as JSON).
    static func run(_ arguments: [String], input: String = "", separateErrors: Bool = false, timeoutMillis: Int = 30_000) throws -> Output {
        let inputPath = try temporaryFile(input)
        defer { _ = unlink(inputPath) }
        let errorPath = try temporaryFile("")
        defer { _ = unlink(errorPath) }
        var fds: [Int32] = [-1, -1]
        guard cplatform_pipe2(&fds, CPLATFORM_O_CLOEXEC) == 0 else { throw SystemError("pipe2", arguments[0]) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, inputPath, O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        if separateErrors {
            posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY, 0)
        } else {
            posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        }
        _ = cplatform_spawn_close_above_stderr(&actions)
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = [strdup(path), nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, arguments[0], &actions, nil, argv, envp)
        _ = Glibc.close(fds[1])
        guard spawned == 0 else {
            _ = Glibc.close(fds[0])
            throw NetworkingError("\(arguments[0]) could not be started: \(String(cString: strerror(spawned))): install it (apt-get install -y iproute2 nftables conntrack)")
        }
        let text = drain(fds[0], pid: pid, timeoutMillis: timeoutMillis)
        _ = Glibc.close(fds[0])
        var status: Int32 = 0
        _ = try retryingEINTR("waitpid", arguments[0]) { waitpid(pid, &status, 0) }
        let code = cplatform_wifexited(status) != 0 ? cplatform_wexitstatus(status) : 128 + cplatform_wtermsig(status)
        let errors = separateErrors ? (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" : ""
        return Output(code: code, text: text, errors: errors)
    }

    /// Reads the child's output to its end; kills it when the deadline passes.
    private static func drain(_ descriptor: Int32, pid: pid_t, timeoutMillis: Int) -> String {
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        let deadline = monotonicNanoseconds() + UInt64(timeoutMillis) * 1_000_000
        while true {
            let now = monotonicNanoseconds()
            if now >= deadline {
                _ = Glibc.kill(pid, SIGKILL)
                output += Array("\n(killed after \(timeoutMillis) ms)".utf8)
                break
            }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min((deadline - now) / 1_000_000 + 1, 1_000)))
            if ready <= 0 { continue }
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress!, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            if output.count < 1 << 20 { output += buffer[0..<count] }
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static func temporaryFile(_ contents: String) throws -> String {
        var template = Array("/tmp/swarmctl-net-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else { throw SystemError("mkstemp", "/tmp") }
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        let path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { _ = Glibc.close(descriptor) }
        var bytes = Array(contents.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress!, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                _ = unlink(path)
                throw SystemError("write", path)
            }
            bytes = bytes.dropFirst(written)
        }
        return path
    }
}
