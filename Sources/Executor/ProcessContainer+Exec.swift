import Glibc
import Platform

extension ProcessExecutor: InteractiveExec {
    public func startExec(_ id: ContainerID, _ spec: ExecSpec) throws -> ExecProcess {
        try container(id).startExec(spec)
    }
}

extension ProcessContainer {
    /// Starts `exec` as a host process in the task's environment and working directory, as the
    /// task's user unless `exec.user` names another (see `HostUser`): on a new terminal in its own
    /// session, or on pipes in its own process group.
    func startExec(_ exec: ExecSpec) throws -> ExecProcess {
        let current = info().state
        guard current == .running else { throw ExecutorError.invalidState(id, current, operation: "exec in") }
        guard let first = exec.command.first, !first.isEmpty else { throw ExecutorError.emptyCommand }
        let prefix = try exec.user.map { user throws(ExecutorError) in try HostUser.resolve(user).launchPrefix(for: user) ?? [] } ?? launchPrefix
        let environment = ExecEnvironment.merge(TaskSpawner.environment(of: spec), exec.environment)
        let directory = exec.workingDirectory ?? spec.workingDirectory
        if exec.tty {
            let terminal = try ExecSpawner.openTerminal()
            if let size = exec.consoleSize { _ = ExecSpawner.setWindowSize(terminal.master, size) }
            do {
                let pid = try ExecSpawner.spawn(prefix + exec.command, environment: environment, workingDirectory: directory,
                                                stdio: .terminal(slavePath: terminal.slavePath))
                return ExecProcess(streams: .terminal(terminal.master), launcher: pid, pidFile: nil)
            } catch {
                TaskSpawner.closeAll([terminal.master])
                throw error
            }
        }
        let pipes = try ExecSpawner.Pipes.make(stdin: exec.stdin)
        defer { pipes.closeChildEnds() }
        do {
            let pid = try ExecSpawner.spawn(prefix + exec.command, environment: environment, workingDirectory: directory,
                                            stdio: .descriptors(stdin: pipes.child.stdin, stdout: pipes.child.stdout, stderr: pipes.child.stderr))
            return ExecProcess(streams: .pipes(stdin: pipes.parent.stdin, stdout: pipes.parent.stdout, stderr: pipes.parent.stderr),
                               launcher: pid, pidFile: nil)
        } catch {
            pipes.closeParentEnds()
            throw error
        }
    }
}

/// A container environment with an exec's entries added: a name given again replaces its value.
enum ExecEnvironment {
    static func merge(_ base: [String], _ added: [String]) -> [String] {
        let names = Set(added.map(name))
        return base.filter { !names.contains(name($0)) } + added
    }

    private static func name(_ entry: String) -> Substring {
        entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first ?? Substring(entry)
    }
}
