import Glibc

/// Which executor backend a node uses (`executor = auto|oci|process` in cluster.conf,
/// `--executor` on the command line).
public enum ExecutorKind: String, Sendable, CaseIterable {
    /// OCI when running as root with runc or crun installed, else process (with a warning).
    case auto
    /// Containers through runc/crun; refuses to start without root or a runtime.
    case oci
    /// Plain host processes without isolation.
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
        case process(warning: String?)
    }

    public static func choose(kind: ExecutorKind, isRoot: Bool, runtimePath: String?) throws -> Choice {
        switch kind {
        case .process:
            return .process(warning: nil)
        case .oci:
            guard isRoot else {
                throw OCIError.runtime("executor = oci needs root (namespaces, cgroups, mounts); run as root or use executor = process")
            }
            guard let runtimePath else { throw OCIError.runtimeMissing }
            return .oci(runtimePath: runtimePath)
        case .auto:
            if isRoot, let runtimePath { return .oci(runtimePath: runtimePath) }
            let reason = isRoot ? "no runc or crun in PATH" : "not running as root"
            return .process(warning: "executor = auto: \(reason); tasks run as plain host processes without isolation "
                + "(install runc and run as root for containers, or set executor = process to silence this)")
        }
    }

    /// The executor for a node whose data directory is `root` (containers under
    /// `root/containers`, images under `root/images`), and a one-line warning to log when `auto`
    /// fell back to the process backend.
    public static func make(kind: ExecutorKind, root: String, isRoot: Bool = geteuid() == 0,
                            runtimePath: String? = OCIRuntime.find()) throws -> (executor: any Executor, warning: String?) {
        switch try choose(kind: kind, isRoot: isRoot, runtimePath: runtimePath) {
        case .oci(let path):
            return (try OCIExecutor(root: root, runtimePath: path), nil)
        case .process(let warning):
            return (try ProcessExecutor(root: root), warning)
        }
    }
}
