import CPlatform
import Glibc
import Platform

/// A task's main process just after `posix_spawn`, with the read ends of its output pipes.
struct SpawnedTask {
    let pid: pid_t
    let stdoutDescriptor: Int32
    let stderrDescriptor: Int32
}

/// Starts a task's command on the host with `posix_spawn`.
///
/// It exists to keep every spawning rule in one place (reference/swift-on-linux.md §4): no `fork`
/// in a multithreaded Swift process, no `Foundation.Process` (it polls and deadlocks on full pipes),
/// every descriptor we create is CLOEXEC so only stdin/stdout/stderr reach the child, the signal
/// mask and dispositions are reset, and the child leads its own process group so stop can signal
/// everything it started.
enum TaskSpawner {
    static let defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    static func spawn(_ spec: TaskSpec) throws -> SpawnedTask {
        guard let executable = spec.command.first, !executable.isEmpty else { throw ExecutorError.emptyCommand }
        if spec.user != nil { throw ExecutorError.unsupported("running a task as another user") }
        let stdoutPipe = try makePipe()
        let stderrPipe: (read: Int32, write: Int32)
        do { stderrPipe = try makePipe() } catch {
            closeAll([stdoutPipe.read, stdoutPipe.write])
            throw error
        }
        let result = spawnProcess(spec, executable: executable, stdout: stdoutPipe.write, stderr: stderrPipe.write)
        closeAll([stdoutPipe.write, stderrPipe.write])
        switch result {
        case .success(let pid):
            return SpawnedTask(pid: pid, stdoutDescriptor: stdoutPipe.read, stderrDescriptor: stderrPipe.read)
        case .failure(let error):
            closeAll([stdoutPipe.read, stderrPipe.read])
            throw error
        }
    }

    /// The environment the child gets: the spec's, plus a default PATH when it has none.
    static func environment(of spec: TaskSpec) -> [String] {
        spec.environment.contains(where: { $0.hasPrefix("PATH=") }) ? spec.environment : spec.environment + [defaultPath]
    }

    private static func spawnProcess(
        _ spec: TaskSpec, executable: String, stdout: Int32, stderr: Int32
    ) -> Result<pid_t, ExecutorError> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var setup = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if setup == 0 { setup = posix_spawn_file_actions_adddup2(&actions, stdout, 1) }
        if setup == 0 { setup = posix_spawn_file_actions_adddup2(&actions, stderr, 2) }
        // Our descriptors are all CLOEXEC; this also covers those Foundation or Dispatch leave open.
        if setup == 0 { setup = cplatform_spawn_close_above_stderr(&actions) }
        if setup == 0, let directory = spec.workingDirectory { setup = cplatform_spawn_addchdir(&actions, directory) }
        if setup == 0 { setup = cplatform_spawnattr_for_task(&attributes) }
        guard setup == 0 else { return .failure(spawnError(executable, "preparing posix_spawn", setup)) }
        let argv = spec.command.map { strdup($0) } + [nil]
        let envp = environment(of: spec).map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            let place = spec.workingDirectory.map { " in \($0)" } ?? ""
            return .failure(spawnError(executable, "posix_spawn\(place)", result))
        }
        return .success(pid)
    }

    private static func spawnError(_ executable: String, _ step: String, _ code: Int32) -> ExecutorError {
        .spawnFailed(command: executable, reason: "\(step): \(String(cString: strerror(code)))")
    }

    private static func makePipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard cplatform_pipe2(&fds, CPLATFORM_O_CLOEXEC) == 0 else { throw SystemError("pipe2", "task output") }
        return (fds[0], fds[1])
    }

    static func closeAll(_ descriptors: [Int32]) {
        for descriptor in descriptors where descriptor >= 0 { _ = Glibc.close(descriptor) }
    }
}
