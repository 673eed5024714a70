import Glibc
import Platform

/// Finds the file a command's `argv[0]` names, the way `execvp` would (a name without a slash is
/// looked up in the PATH of the environment the command gets, not the node's), on the host or
/// inside a container's root file system, and says why when it cannot be run.
///
/// It exists so both executors report "not found" and "not executable" as a typed reason, which
/// `docker exec` turns into dockerd's exit codes 127 and 126, instead of matching error texts
/// (the process backend) or getting `runc exec`'s 255 for every failure (the OCI backend).
enum CommandLookup {
    typealias Failure = CommandFailure

    /// Who will run the command: root may run any file with an execute bit.
    struct Runner {
        var uid: uid_t
        var gids: [gid_t]

        static let root = Runner(uid: 0, gids: [0])
    }

    /// The PATH of `environment` (the last entry wins, as in a process's environment built by
    /// appending), or the default PATH when it has none.
    static func searchPath(_ environment: [String]) -> [String] {
        let value = environment.last(where: { $0.hasPrefix("PATH=") }).map { String($0.dropFirst(5)) }
            ?? String(TaskSpawner.defaultPath.dropFirst(5))
        return value.split(separator: ":", omittingEmptySubsequences: false).map { $0.isEmpty ? "." : String($0) }
    }

    /// The path (as the command will see it) of the file `name` runs, or why there is none.
    /// `root` is the root file system it is looked up in (nil: the host's `/`); `workingDirectory`
    /// is where a relative name is taken from.
    static func resolve(_ name: String, environment: [String], workingDirectory: String?, root: String? = nil,
                        runner: Runner = .root) -> Result<String, Failure> {
        guard !name.isEmpty else { return .failure(.notFound) }
        let directory = workingDirectory ?? (root == nil ? currentDirectory() : "/")
        if name.contains("/") {
            let path = name.hasPrefix("/") ? name : "\(directory)/\(name)"
            return check(path, root: root, runner: runner).map { path }
        }
        // As execvp: the first executable match wins; a match that is not executable is
        // remembered and reported when nothing else is found.
        var sawUnexecutable = false
        for entry in searchPath(environment) {
            let base = entry.hasPrefix("/") ? entry : "\(directory)/\(entry)"
            let path = "\(base)/\(name)"
            switch check(path, root: root, runner: runner) {
            case .success: return .success(path)
            case .failure(.notExecutable): sawUnexecutable = true
            case .failure(.notFound): continue
            }
        }
        return .failure(sawUnexecutable ? .notExecutable : .notFound)
    }

    /// This process's working directory (where a spawn without a directory starts).
    private static func currentDirectory() -> String {
        guard let pointer = getcwd(nil, 0) else { return "/" }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    /// Whether `path` (inside `root`) is a file `runner` may execute.
    static func check(_ path: String, root: String?, runner: Runner) -> Result<Void, Failure> {
        guard let host = root.map({ RootedPath.resolve(path, in: $0) }) ?? path else { return .failure(.notFound) }
        var status = stat()
        guard stat(host, &status) == 0 else { return .failure(errno == EACCES ? .notExecutable : .notFound) }
        guard status.st_mode & S_IFMT == S_IFREG else { return .failure(.notExecutable) }
        let mode = status.st_mode
        let allowed: Bool
        if runner.uid == 0 {
            allowed = mode & (S_IXUSR | S_IXGRP | S_IXOTH) != 0
        } else if status.st_uid == runner.uid {
            allowed = mode & S_IXUSR != 0
        } else if runner.gids.contains(status.st_gid) {
            allowed = mode & S_IXGRP != 0
        } else {
            allowed = mode & S_IXOTH != 0
        }
        return allowed ? .success(()) : .failure(.notExecutable)
    }
}

/// Why a command cannot be run: a typed reason, so callers choose exit codes and messages
/// without reading error texts.
public enum CommandFailure: Error, Sendable, Equatable {
    /// No such file (in any PATH entry, for a bare name).
    case notFound
    /// The file exists but is a directory or has no execute permission for the user.
    case notExecutable

    /// dockerd's exit code for an exec that could not start for this reason.
    public var exitCode: Int32 { self == .notFound ? 127 : 126 }

    var explanation: String {
        switch self {
        case .notFound: "no such file in the PATH of the task's environment (or at that path)"
        case .notExecutable: "not an executable file (a directory, or no execute permission for the user)"
        }
    }
}

/// A path inside a container's root file system turned into the host path it names, following
/// symbolic links as the container would see them (an absolute target starts at the root, `..`
/// stops at it), so a look-up never leaves the root file system.
enum RootedPath {
    /// More links than this on one path: a loop (the kernel's limit is 40).
    static let maxLinks = 40

    /// The host path of `path` inside `root`, or nil when a link loops.
    static func resolve(_ path: String, in root: String) -> String? {
        var pending = path.split(separator: "/").map(String.init).reversed() as [String]
        var resolved: [String] = []
        var links = 0
        while let component = pending.popLast() {
            switch component {
            case "", ".": continue
            case "..": _ = resolved.popLast()
            default:
                let host = root + "/" + (resolved + [component]).joined(separator: "/")
                guard let target = try? FileSystem.readLink(host) else {
                    resolved.append(component)
                    continue
                }
                links += 1
                guard links <= maxLinks else { return nil }
                if target.hasPrefix("/") { resolved = [] }
                pending += target.split(separator: "/").map(String.init).reversed()
            }
        }
        return root + "/" + resolved.joined(separator: "/")
    }
}
