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
    /// How `run` and `exec` get a cgroup layout the runtime accepts, nil where nothing is needed:
    /// for crun on a hybrid layout whose v2 tree owns controllers (which crun refuses), each runs
    /// in a mount namespace of its own where the v2 tree is unmounted, so crun sees pure cgroup
    /// v1 (`RuntimeHostCheck.hiddenTree`). `kill`, `delete` and `list` work on such a layout as they are.
    public let cgroupView: CgroupView?

    public init(path: String, stateDirectory: String, cgroupRoot: String = "/sys/fs/cgroup") {
        self.path = path
        self.stateDirectory = stateDirectory
        keepsAfterExit = Self.supportsKeep(path: path)
        let name = path.split(separator: "/").last.map(String.init) ?? path
        if let tree = RuntimeHostCheck.hiddenTree(runtime: name, cgroupRoot: cgroupRoot), let unshare = Self.find(names: ["unshare"]) {
            cgroupView = CgroupView(unshare: unshare, hiddenTree: tree, treeIsShared: Self.isSharedMount(tree))
        } else {
            cgroupView = nil
        }
    }

    /// Whether `path` is a mount point with shared propagation (`shared:N` in /proc/self/mountinfo),
    /// so an unmount in a namespace copied from this one would reach the host unless made private first.
    static func isSharedMount(_ path: String, mountinfo: String? = nil) -> Bool {
        let text = mountinfo ?? (try? File.openForReading("/proc/self/mountinfo").readAll()).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return text.split(separator: "\n").contains { line in
            let fields = line.split(separator: " ")
            guard fields.count > 6, fields[4] == path else { return false }
            // Optional fields run from the 7th to the "-" separator.
            return fields[6...].prefix { $0 != "-" }.contains { $0.hasPrefix("shared:") }
        }
    }

    /// Asks a crun binary whether its `run` takes `--keep` (runc's always does). Asked once per
    /// binary: `--runtime auto` and the executor both want to know at node start.
    public static func supportsKeep(path: String) -> Bool {
        guard (path.split(separator: "/").last.map(String.init) ?? path) == "crun" else { return true }
        return keepProbes.answer(for: path) {
            guard let result = try? HostCommand.run([path, "run", "--help"], timeoutMillis: 5_000) else { return false }
            return String(decoding: result.stdout + result.stderr, as: UTF8.self).contains("--keep")
        }
    }

    private static let keepProbes = ProbeCache()

    /// Whether a container killed at its memory limit is reported as such: the runtime keeps
    /// the cgroups until `delete` (`run --keep`), or the host lets `OOMWatch` count the kills.
    public var reportsOOMKills: Bool { keepsAfterExit || OOMWatch.isSupported }

    /// The binary's base name, for messages.
    public var name: String { path.split(separator: "/").last.map(String.init) ?? path }

    /// Whether the runtime loads a seccomp filter compiled by the node (crun's annotation
    /// `run.oci.seccomp_bpf_data`) instead of compiling the profile for every container.
    var takesCompiledSeccomp: Bool { name == "crun" }

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
    /// the container (and its cgroups) after exit until `delete`. With a `cgroupView`, the shim
    /// runs it in the namespace (`OCIShim.command`).
    /// A crun without `--keep` (1.8) loses its container state at exit, which `delete` tolerates.
    func runArguments(id: ContainerID, bundle: String, pidFile: String) -> [String] {
        global + ["run", "--bundle", bundle, "--pid-file", pidFile] + (keepsAfterExit ? ["--keep"] : []) + [id.rawValue]
    }

    /// `runc exec` of `command` in the running container, in the foreground.
    func execArguments(id: ContainerID, pidFile: String, command: [String]) -> [String] {
        (cgroupView?.wrapper ?? []) + global + ["exec", "--pid-file", pidFile, id.rawValue] + command
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

/// A mount namespace where a hybrid layout's cgroup v2 tree is unmounted, for the runtime's
/// `run` and `exec`: made by `unshare` (util-linux) for each of them. The namespace's mounts are
/// slaves of the host's: a bind with rslave still sees what the host mounts later, and nothing
/// done in the namespace propagates back. An unmount propagates along the parent mount's peers,
/// so with the host's propagation kept, unmounting the tree under a shared `/sys/fs/cgroup` (as
/// on systemd hosts) would unmount the host's tree too. A shared hidden tree is also made
/// private there first.
public struct CgroupView: Sendable, Equatable {
    public let unshare: String
    public let hiddenTree: String
    public let treeIsShared: Bool

    /// Shell commands that hide the tree, run first in the new namespace.
    var hideCommands: String {
        precondition(!hiddenTree.contains("'"), "cgroup tree path \(hiddenTree) must not contain a quote")
        return (treeIsShared ? "mount --make-private '\(hiddenTree)' && " : "") + "umount -l '\(hiddenTree)'"
    }

    /// `unshare` into a new mount namespace, before the command that runs in it.
    var namespacePrefix: [String] { [unshare, "--mount", "--propagation", "slave"] }

    /// Runs the command after it in the namespace with the tree hidden (`exec`; `run` goes
    /// through the shim, which hides the tree itself and saves a shell).
    var wrapper: [String] { namespacePrefix + ["/bin/sh", "-c", hideCommands + " && exec \"$@\"", "swarmctl-cgroup-view"] }
}

/// Answers of a probe of a binary, by path, each asked once per process.
final class ProbeCache: @unchecked Sendable {
    private let lock = ConditionLock()
    private var answers: [String: Bool] = [:]

    func answer(for path: String, probe: () -> Bool) -> Bool {
        if let known = lock.withLock({ answers[path] }) { return known }
        let answer = probe()
        lock.withLock { answers[path] = answer }
        return answer
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
