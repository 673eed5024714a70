import Glibc
import Platform

/// The OCI runtime binary (runc, or crun with the same command line) and the state directory it
/// keeps its containers in.
///
/// Each executor passes its own `--root`, so two nodes (or a node and a test) on one machine never
/// see each other's containers.
public struct OCIRuntime: Sendable, Equatable {
    /// Absolute path of the runtime binary.
    public let path: String
    /// The runtime's state directory (`--root`).
    public let stateDirectory: String
    /// Whether `run --keep` exists, so a container's cgroups outlive it until `delete` and the
    /// OOM counter can be read after it ended: runc always; crun from 1.9 on (1.8 deletes them
    /// at exit, so a task killed at its memory limit shows as a plain exit 137).
    public let keepsAfterExit: Bool

    public init(path: String, stateDirectory: String) {
        self.path = path
        self.stateDirectory = stateDirectory
        keepsAfterExit = Self.supportsKeep(path: path)
    }

    /// Asks a crun binary whether its `run` takes `--keep` (runc's always does).
    public static func supportsKeep(path: String) -> Bool {
        guard (path.split(separator: "/").last.map(String.init) ?? path) == "crun" else { return true }
        guard let result = try? HostCommand.run([path, "run", "--help"], timeoutMillis: 5_000) else { return false }
        return String(decoding: result.stdout + result.stderr, as: UTF8.self).contains("--keep")
    }

    /// The binary's base name, for messages.
    public var name: String { path.split(separator: "/").last.map(String.init) ?? path }

    /// The first of `names` found in PATH (or the usual sbin directories), else nil. runc comes
    /// first by default; `RuntimeHostCheck.preferredRuntime()` is what a node's `--runtime auto`
    /// uses (crun where it works on this host's cgroup layout).
    public static func find(names: [String] = ["runc", "crun"]) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/local/sbin", "/usr/sbin", "/sbin"]
        for name in names {
            for directory in directories where access("\(directory)/\(name)", X_OK) == 0 {
                return "\(directory)/\(name)"
            }
        }
        return nil
    }

    private var global: [String] { [path, "--root", stateDirectory] }

    /// `runc run` in the foreground: creates and starts the container, then waits for it; keeps
    /// the container (and its cgroups) after exit until `delete`.
    /// A crun without `--keep` (1.8) loses its container state at exit, which `delete` tolerates.
    func runArguments(id: ContainerID, bundle: String, pidFile: String) -> [String] {
        global + ["run", "--bundle", bundle, "--pid-file", pidFile] + (keepsAfterExit ? ["--keep"] : []) + [id.rawValue]
    }

    /// `runc exec` of `command` in the running container, in the foreground.
    func execArguments(id: ContainerID, pidFile: String, command: [String]) -> [String] {
        global + ["exec", "--pid-file", pidFile, id.rawValue] + command
    }

    /// Sends `signal` to the container's init, or with `all` to every process in it.
    func kill(_ id: ContainerID, signal: Int32, all: Bool) throws {
        try HostCommand.check(global + ["kill"] + (all ? ["--all"] : []) + [id.rawValue, String(signal)]) {
            OCIError.runtime($0)
        }
    }

    /// Deletes the container's runtime state and cgroups, killing anything left; ignores
    /// "does not exist".
    func deleteQuietly(_ id: ContainerID) {
        _ = try? HostCommand.run(global + ["delete", "--force", id.rawValue])
    }

    /// SIGKILLs every process of every container in this state directory (what a node that was
    /// killed left running), leaving their state for the node's next start to delete.
    public func killAll() {
        for id in (try? list()) ?? [] { try? kill(ContainerID(id), signal: SIGKILL, all: true) }
    }

    /// Ids of the containers the runtime knows in this state directory.
    func list() throws -> [String] {
        let result = try HostCommand.check(global + ["list", "--quiet"]) { OCIError.runtime($0) }
        return String(decoding: result.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}

/// Why the OCI backend or the image store refused, with what to do about it.
public enum OCIError: Error, CustomStringConvertible, Equatable {
    /// The runtime binary failed; the text includes the command and what it printed.
    case runtime(String)
    /// No runc or crun on this node.
    case runtimeMissing
    /// The task names neither an image nor a root file system.
    case noRootfs
    /// The user name is not in the image's /etc/passwd.
    case unknownUser(String)
    /// Setting up the container's root file system failed.
    case rootfs(String)
    /// A supplementary group name is not in the image's /etc/group.
    case unknownGroup(String)
    /// `--init` was asked for but swarmctl-init is not installed next to swarmctl.
    case initMissing(String)
    /// A mount of the task cannot be made on this node (the text says which and why).
    case mount(String)

    public var description: String {
        switch self {
        case .runtime(let text):
            return "OCI runtime: \(text)"
        case .runtimeMissing:
            return "no OCI runtime found (runc or crun in PATH); install one (apt-get install runc) or use executor = process"
        case .noRootfs:
            return "the task has neither an image nor a root file system; give the service an image"
        case .unknownUser(let user):
            return "user \(user) is not in the image's /etc/passwd; give a numeric uid[:gid] or add the user to the image"
        case .rootfs(let text):
            return "container root file system: \(text)"
        case .unknownGroup(let group):
            return "group \(group) is not in the image's /etc/group; give a numeric gid or add the group to the image"
        case .mount(let text):
            return "mount: \(text)"
        case .initMissing(let path):
            return "--init needs the static swarmctl-init binary at \(path) (built with swarmctl: swift build --product swarmctl-init); "
                + "install it next to swarmctl, or remove --init from the service"
        }
    }
}
