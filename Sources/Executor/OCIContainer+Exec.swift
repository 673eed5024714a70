import CPlatform
import Glibc
import Platform

extension OCIExecutor: InteractiveExec {
    public func startExec(_ id: ContainerID, _ spec: ExecSpec) throws -> ExecProcess {
        try container(id).startExec(spec)
    }
}

extension OCIContainer {
    /// Longest wait for `runc exec -t` to hand over the terminal through the console socket.
    static let consoleWaitMillis = 30_000

    /// Starts `exec` with `runc exec` in the foreground: the container's environment (plus
    /// `exec.environment`), user, limits and seccomp profile, unless overridden. With a terminal,
    /// runc creates it inside the container and sends its master over `--console-socket`.
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

    /// `runc exec --tty --console-socket`: listens on a socket in a private (0700) directory, so
    /// nothing but runc can hand us a terminal, and waits for the master or for runc to fail.
    private func startTerminalExec(_ arguments: [String], command: [String], pidFile: String,
                                   consoleSize: (rows: UInt16, columns: UInt16)?) throws -> ExecProcess {
        let socketDirectory = try FileSystem.makeTemporaryDirectory(prefix: "swarmctl-console-")
        defer { try? FileSystem.removeTree(socketDirectory) }
        let socketPath = socketDirectory + "/console.sock"
        let listener = try Socket.listen(on: .unix(path: socketPath), backlog: 1)
        defer { listener.close() }
        let messages = "\(directory)/exec-\(pidFile.suffix(16).prefix(12)).log"
        let pid = try ExecSpawner.spawn(arguments + ["--tty", "--console-socket", socketPath, id.rawValue] + command,
                                        environment: [TaskSpawner.defaultPath], workingDirectory: nil, stdio: .file(messages))
        let cleanup: @Sendable () -> Void = {
            try? FileSystem.remove(pidFile)
            try? FileSystem.remove(messages)
        }
        let master: Int32
        do {
            master = try receiveConsole(listener, runtimePid: pid)
        } catch {
            _ = Glibc.kill(-pid, SIGKILL)
            var raw: Int32 = 0
            _ = try? retryingEINTR("waitpid", "pid \(pid)") { waitpid(pid, &raw, 0) }
            let text = (try? File.openForReading(messages).readAll()).map { String(decoding: $0.suffix(2_000), as: UTF8.self) } ?? ""
            cleanup()
            throw text.isEmpty ? error : OCIError.runtime("runc exec failed: \(text.trimmingTrailingWhitespace())")
        }
        if let consoleSize { _ = ExecSpawner.setWindowSize(master, consoleSize) }
        return ExecProcess(streams: .terminal(master), launcher: pid, pidFile: pidFile, decode: { OCIContainer.decodeRuntimeExit($0) }, cleanup: cleanup)
    }

    /// Accepts runc's connection and takes the terminal master it sends; fails when runc exits
    /// first or nothing arrives within `consoleWaitMillis`.
    private func receiveConsole(_ listener: Socket, runtimePid: pid_t) throws -> Int32 {
        let deadline = monotonicNanoseconds() + UInt64(Self.consoleWaitMillis) * 1_000_000
        var connection: Socket?
        defer { connection?.close() }
        while monotonicNanoseconds() < deadline {
            if [.zombie, .gone].contains(ProcessTable.state(of: runtimePid)) {
                throw OCIError.runtime("runc exec exited before it sent the terminal")
            }
            let waiting = connection ?? listener
            var poller = pollfd(fd: waiting.descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 50) > 0 else { continue }
            if connection == nil {
                connection = try listener.accept()
                continue
            }
            let master = cplatform_receive_descriptor(waiting.descriptor)
            if master >= 0 { return master }
            if errno == EAGAIN || errno == EINTR { continue }
            throw SystemError("recvmsg", "runc console socket")
        }
        throw OCIError.runtime("runc exec did not send the terminal within \(Self.consoleWaitMillis) ms")
    }
}
