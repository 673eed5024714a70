import Glibc

/// Which executor backend a node uses (`executor = auto|oci|process` in cluster.conf,
/// `--executor` on the command line).
public enum ExecutorKind: String, Sendable, CaseIterable {
    /// OCI when running as root with runc or crun installed; otherwise the node refuses to start
    /// (it never falls back to unisolated processes on its own).
    case auto
    /// Containers through runc/crun; refuses to start without root or a runtime.
    case oci
    /// Plain host processes without isolation, only when asked for by name.
    case process
}

/// Builds the node's executor from its configured kind.
///
/// The decision is a pure function (`choose`) of the kind, the effective uid and the runtime
/// found, so it is tested without root; `make` adds the I/O.
public enum ExecutorFactory {
    /// What `choose` decided.
    public enum Choice: Equatable, Sendable {
        case oci(runtimePath: String)
        case process
    }

    /// Why a node cannot have the executor it was configured with.
    public struct Unavailable: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    public static func choose(kind: ExecutorKind, isRoot: Bool, runtimePath: String?) throws -> Choice {
        switch kind {
        case .process:
            return .process
        case .oci:
            guard isRoot else {
                throw Unavailable(description: "executor = oci needs root (namespaces, cgroups, mounts): run the node as root, "
                    + "or pass --executor process to run tasks as plain host processes without isolation")
            }
            guard let runtimePath else { throw OCIError.runtimeMissing }
            return .oci(runtimePath: runtimePath)
        case .auto:
            if isRoot, let runtimePath { return .oci(runtimePath: runtimePath) }
            var missing: [String] = []
            if !isRoot { missing.append("root (the node runs as uid \(geteuid()))") }
            if runtimePath == nil { missing.append("an OCI runtime (no runc or crun in PATH: apt-get install runc)") }
            throw Unavailable(description: "executor = auto cannot run containers: missing \(missing.joined(separator: " and ")); "
                + "provide it, or pass --executor process to run tasks as plain host processes without isolation")
        }
    }

    /// The executor for a node whose data directory is `root` (containers under
    /// `root/containers`, images under `root/images`, volumes under `root/volumes`).
    public static func make(kind: ExecutorKind, root: String, isRoot: Bool = geteuid() == 0,
                            runtimePath: String? = OCIRuntime.find()) throws -> any Executor {
        switch try choose(kind: kind, isRoot: isRoot, runtimePath: runtimePath) {
        case .oci(let path):
            return try OCIExecutor(root: root, runtimePath: path)
        case .process:
            return try ProcessExecutor(root: root)
        }
    }
}
