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
    /// session, or on pipes in its own process group. A command that cannot run is refused with
    /// the reason (`ExecutorError.commandUnavailable`), looked up in the exec's own PATH.
    func startExec(_ exec: ExecSpec) throws -> ExecProcess {
        let current = info().state
        guard current == .running else { throw ExecutorError.invalidState(id, current, operation: "exec in") }
        guard let first = exec.command.first, !first.isEmpty else { throw ExecutorError.emptyCommand }
        let user = try (exec.user ?? spec.user).map { name throws(ExecutorError) in (name, try HostUser.resolve(name)) }
        let prefix = try exec.user.map { name throws(ExecutorError) in try HostUser.resolve(name).launchPrefix(for: name) ?? [] } ?? launchPrefix
        let environment = ExecEnvironment.merge(TaskSpawner.environment(of: spec), exec.environment)
        let directory = exec.workingDirectory ?? spec.workingDirectory
        // Without a prefix the command runs as the node's own user.
        let runner = prefix.isEmpty ? CommandLookup.Runner(uid: geteuid(), gids: [getegid()])
            : CommandLookup.Runner(uid: user?.1.uid ?? 0, gids: user.map { [$0.1.gid] + $0.1.groups } ?? [0])
        switch CommandLookup.resolve(first, environment: environment, workingDirectory: directory, runner: runner) {
        case let .failure(reason): throw ExecutorError.commandUnavailable(command: first, reason: reason)
        case let .success(path):
            // argv[0] stays as given; the file is the one found in the exec's PATH (setpriv, when
            // it runs as another user, is given the path).
            return try ExecSpawner.start(prefix.isEmpty ? exec.command : prefix + [path] + exec.command.dropFirst(),
                                         executable: prefix.isEmpty ? path : nil, environment: environment,
                                         workingDirectory: directory, tty: exec.tty, stdin: exec.stdin, consoleSize: exec.consoleSize)
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
