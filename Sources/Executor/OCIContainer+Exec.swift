import Foundation
import Glibc
import Platform

extension OCIExecutor: InteractiveExec {
    public func startExec(_ id: ContainerID, _ spec: ExecSpec) throws -> ExecProcess {
        try container(id).startExec(spec)
    }
}

extension OCIContainer {
    /// Starts `exec` with `runc exec` in the foreground: the container's environment (plus
    /// `exec.environment`), user, limits and seccomp profile, unless overridden. A command that
    /// cannot run is refused with the reason before runc is asked (`runc exec` exits 255 for any
    /// failure of its own): it is looked up in the container's file system as its mount namespace
    /// shows it (volumes included), in the PATH the exec gets.
    func startExec(_ exec: ExecSpec) throws -> ExecProcess {
        let info = info()
        guard info.state == .running else { throw ExecutorError.invalidState(id, info.state, operation: "exec in") }
        guard let first = exec.command.first, !first.isEmpty else { throw ExecutorError.emptyCommand }
        let token = randomContainerHex().prefix(12)
        let pidFile = "\(directory)/exec-\(token).pid"
        // The runtime's own `exec` command line (with whatever it needs in front, e.g. crun's
        // cgroup view), the exec's options going before the container's id, which ends it.
        var arguments = runtime.execArguments(id: id, pidFile: pidFile, command: [])
        precondition(arguments.last == id.rawValue, "the runtime's exec arguments end with the container id: \(arguments)")
        arguments.removeLast()
        if let directory = exec.workingDirectory { arguments += ["--cwd", directory] }
        let process = BundleProcess.read(bundle: bundle)
        // The whole environment, the container's with the exec's entries merged in: runc adds
        // `--env` entries to the container's, but crun (1.8) runs the process with them alone
        // (no PATH: `sh` is then not found).
        let environment = ExecEnvironment.merge(process?.env ?? [], exec.environment)
        for entry in environment { arguments += ["--env", entry] }
        var runner = CommandLookup.Runner(uid: process?.user.uid ?? 0, gids: [process?.user.gid ?? 0] + (process?.user.additionalGids ?? []))
        if let user = exec.user {
            let resolved = try UserResolver.resolve(user, rootfs: rootfs.path)
            arguments += ["--user", "\(resolved.uid):\(resolved.gid)"]
            runner = CommandLookup.Runner(uid: resolved.uid, gids: [resolved.gid])
        }
        let root = info.pid.map { "/proc/\($0)/root" } ?? rootfs.path
        if case let .failure(reason) = CommandLookup.resolve(first, environment: environment,
                                                             workingDirectory: exec.workingDirectory ?? process?.cwd ?? "/", root: root,
                                                             runner: runner) {
            throw ExecutorError.commandUnavailable(command: first, reason: reason)
        }
        // runc 1.1 takes `--console-socket` only with `--detach`, and a detached exec would leave
        // the process to the container's init (nobody could reap it or read its exit code): with a
        // terminal, `runc exec --tty` runs on a terminal of ours, which runc copies to and from the
        // container's, following our terminal's size, and exits with the command's status.
        return try ExecSpawner.start(arguments + (exec.tty ? ["--tty"] : []) + [id.rawValue] + exec.command,
                                     environment: [TaskSpawner.defaultPath], workingDirectory: nil, tty: exec.tty, stdin: exec.stdin,
                                     consoleSize: exec.consoleSize, pidFile: pidFile, decode: { OCIContainer.decodeRuntimeExit($0) },
                                     cleanup: { try? FileSystem.remove(pidFile) })
    }
}

/// The `process` of a bundle's config.json as runc runs it: what an exec inherits (environment,
/// working directory, user), read back rather than rebuilt from the spec and image.
struct BundleProcess: Decodable {
    struct User: Decodable {
        var uid: UInt32
        var gid: UInt32
        var additionalGids: [UInt32]?
    }

    var env: [String]?
    var cwd: String?
    var user: User

    private struct Config: Decodable {
        var process: BundleProcess
    }

    /// nil when the file is missing or not a bundle config (the exec then gets runc's own verdict).
    static func read(bundle: String) -> BundleProcess? {
        guard let data = FileManager.default.contents(atPath: bundle + "/config.json") else { return nil }
        return try? JSONDecoder().decode(Config.self, from: data).process
    }
}
