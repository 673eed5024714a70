import Glibc
import Platform

extension OCIExecutor: InteractiveExec {
    public func startExec(_ id: ContainerID, _ spec: ExecSpec) throws -> ExecProcess {
        try container(id).startExec(spec)
    }
}

extension OCIContainer {
    /// Starts `exec` with `runc exec` in the foreground: the container's environment (plus
    /// `exec.environment`), user, limits and seccomp profile, unless overridden.
    func startExec(_ exec: ExecSpec) throws -> ExecProcess {
        let current = info().state
        guard current == .running else { throw ExecutorError.invalidState(id, current, operation: "exec in") }
        guard let first = exec.command.first, !first.isEmpty else { throw ExecutorError.emptyCommand }
        let token = randomContainerHex().prefix(12)
        let pidFile = "\(directory)/exec-\(token).pid"
        var arguments = [runtime.path, "--root", runtime.stateDirectory, "exec", "--pid-file", pidFile]
        if let directory = exec.workingDirectory { arguments += ["--cwd", directory] }
        for entry in exec.environment { arguments += ["--env", entry] }
        if let user = exec.user {
            let resolved = try UserResolver.resolve(user, rootfs: rootfs.path)
            arguments += ["--user", "\(resolved.uid):\(resolved.gid)"]
        }
        let removePidFile: @Sendable () -> Void = { try? FileSystem.remove(pidFile) }
        if exec.tty {
            return try startTerminalExec(arguments, command: exec.command, pidFile: pidFile, consoleSize: exec.consoleSize)
        }
        let pipes = try ExecSpawner.Pipes.make(stdin: exec.stdin)
        defer { pipes.closeChildEnds() }
        do {
            let pid = try ExecSpawner.spawn(arguments + [id.rawValue] + exec.command, environment: [TaskSpawner.defaultPath],
                                            workingDirectory: nil,
                                            stdio: .descriptors(stdin: pipes.child.stdin, stdout: pipes.child.stdout, stderr: pipes.child.stderr))
            return ExecProcess(streams: .pipes(stdin: pipes.parent.stdin, stdout: pipes.parent.stdout, stderr: pipes.parent.stderr),
                               launcher: pid, pidFile: pidFile, decode: { OCIContainer.decodeRuntimeExit($0) }, cleanup: removePidFile)
        } catch {
            pipes.closeParentEnds()
            throw error
        }
    }

    /// `runc exec --tty` in the foreground, on a terminal of ours: runc makes the container's
    /// terminal and copies between it and its own (ours, raw mode), follows our terminal's size
    /// (SIGWINCH when we resize it) and exits with the command's status. runc 1.1 takes
    /// `--console-socket` only with `--detach`, and a detached exec would leave the process to the
    /// container's init: nobody could reap it or read its exit code.
    private func startTerminalExec(_ arguments: [String], command: [String], pidFile: String,
                                   consoleSize: (rows: UInt16, columns: UInt16)?) throws -> ExecProcess {
        let terminal = try ExecSpawner.openTerminal()
        if let consoleSize { _ = ExecSpawner.setWindowSize(terminal.master, consoleSize) }
        do {
            let pid = try ExecSpawner.spawn(arguments + ["--tty", id.rawValue] + command, environment: [TaskSpawner.defaultPath],
                                            workingDirectory: nil, stdio: .terminal(slavePath: terminal.slavePath))
            return ExecProcess(streams: .terminal(terminal.master), launcher: pid, pidFile: pidFile,
                               decode: { OCIContainer.decodeRuntimeExit($0) }, cleanup: { try? FileSystem.remove(pidFile) })
        } catch {
            TaskSpawner.closeAll([terminal.master])
            throw error
        }
    }
}
