import Glibc
import Platform

/// The subset of the OCI runtime specification (opencontainers/runtime-spec, config.md and
/// config-linux.md) that swarmctl writes into a bundle's `config.json`.
///
/// Field names follow the spec exactly (they are the JSON keys); optional fields are omitted from
/// the JSON when nil, as the spec allows.
struct OCIConfig: Encodable, Equatable {
    var ociVersion = "1.0.2"
    var process: Process
    var root: Root
    var hostname: String
    var mounts: [Mount]
    var linux: Linux
    /// Runtime-specific settings (crun's `run.oci.seccomp_bpf_data`: the seccomp filter compiled
    /// once per node); nil writes none.
    var annotations: [String: String]? = nil

    struct Process: Encodable, Equatable {
        var terminal = false
        var user: User
        var args: [String]
        var env: [String]
        var cwd: String
        var capabilities: Capabilities
        var rlimits: [Rlimit]
        var noNewPrivileges = true
    }

    struct User: Encodable, Equatable {
        var uid: UInt32
        var gid: UInt32
        var additionalGids: [UInt32]?
    }

    struct Capabilities: Encodable, Equatable {
        var bounding: [String]
        var effective: [String]
        var permitted: [String]
    }

    struct Rlimit: Encodable, Equatable {
        var type: String
        var hard: UInt64
        var soft: UInt64
    }

    struct Root: Encodable, Equatable {
        var path: String
        var readonly: Bool
    }

    struct Mount: Encodable, Equatable {
        var destination: String
        var type: String
        var source: String
        var options: [String]
    }

    struct Linux: Encodable, Equatable {
        var namespaces: [Namespace]
        var cgroupsPath: String
        var resources: Resources
        var maskedPaths: [String]
        var readonlyPaths: [String]
        var sysctl: [String: String]?
        var seccomp: Seccomp?
        /// `rshared` when a bind mount propagates back to the host, `rslave` when one receives the
        /// host's mounts; nil leaves the runtime's default (runc: rslave, crun: rprivate).
        var rootfsPropagation: String?
    }

    struct Seccomp: Encodable, Hashable {
        var defaultAction: String
        var defaultErrnoRet: UInt32?
        var architectures: [String]
        var syscalls: [SyscallRule]
    }

    struct SyscallRule: Encodable, Hashable {
        var names: [String]
        var action: String
        var errnoRet: UInt32? = nil
        var args: [SyscallArgument]? = nil
    }

    struct SyscallArgument: Encodable, Hashable {
        var index: UInt
        var value: UInt64
        var valueTwo: UInt64
        var op: String
    }

    struct Namespace: Encodable, Equatable {
        var type: String
        /// Join this existing namespace instead of creating one (a task's prepared network).
        var path: String? = nil
    }

    struct Resources: Encodable, Equatable {
        var devices: [DeviceRule]
        var memory: Memory?
        var cpu: CPU?
        var pids: Pids?
    }

    struct DeviceRule: Encodable, Equatable {
        var allow: Bool
        var access: String
    }

    struct Memory: Encodable, Equatable {
        var limit: Int64
        /// Memory plus swap; equal to `limit` means no swap, so the limit is a real bound.
        var swap: Int64?
    }

    struct CPU: Encodable, Equatable {
        var quota: Int64
        var period: UInt64
    }

    struct Pids: Encodable, Equatable {
        var limit: Int64
    }
}

extension OCIConfig {
    /// Docker's default capability set (moby `oci/caps/defaults.go`): enough for ordinary
    /// services (bind low ports, change owners, drop to another user), nothing that reaches the
    /// host (no SYS_ADMIN, NET_ADMIN, SYS_MODULE, ...).
    static let defaultCapabilities = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ]

    /// Kernel files that leak host information or allow attacks: hidden (runc mounts /dev/null or
    /// an empty tmpfs over them), as Docker does.
    static let maskedPaths = [
        "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    ]

    /// Kernel interfaces a container may read but never change.
    static let readonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

    /// Open files per container: Docker's 1048576, or the node's own hard limit if lower (raising
    /// it needs CAP_SYS_RESOURCE, which a node inside a VM sandbox may lack).
    static let openFilesLimit: UInt64 = {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1_024 }
        return min(UInt64(limit.rlim_max), 1_048_576)
    }()

    /// The CFS period used to express a CPU limit as a quota (Docker's default, 100 ms).
    static let cpuPeriodMicros: UInt64 = 100_000

    /// Files of the bundle that replace the node's in the container.
    struct BundleFiles: Equatable {
        /// The container's /etc/resolv.conf (from `TaskSpec.dns`), else the node's.
        var resolvConf: String?
        /// The container's /etc/hosts (with `TaskSpec.extraHosts`), else the node's.
        var hosts: String?
    }

    /// The bundle configuration for `spec`: `rootfs` is the bundle-relative or absolute root,
    /// `user` the resolved numeric user, `cgroupsPath` where runc puts the container's cgroups,
    /// `mounts` the task's own mounts with their host sources resolved (volume directories).
    static func make(
        spec: TaskSpec, args: [String], environment: [String], user: User, rootfs: String, hostname: String,
        cgroupsPath: String, mounts: [Mount] = [], files: BundleFiles = BundleFiles()
    ) -> OCIConfig {
        var namespaces = ["pid", "ipc", "uts", "mount"].map { Namespace(type: $0) }
        if let path = spec.networkNamespacePath {
            namespaces.append(Namespace(type: "network", path: path))
        } else if spec.network == .none {
            namespaces.append(Namespace(type: "network"))
        }
        let granted = capabilities(add: spec.capabilityAdd, drop: spec.capabilityDrop)
        let capabilities = Capabilities(
            bounding: granted, effective: user.uid == 0 ? granted : [], permitted: granted)
        let process = Process(
            user: user, args: args, env: environment, cwd: spec.workingDirectory ?? "/",
            capabilities: capabilities, rlimits: rlimits(spec.ulimits))
        let resources = Resources(
            // Deny every device node; runc still creates and allows its defaults (null, zero,
            // full, random, urandom, tty, ptmx), as for Docker containers.
            devices: [DeviceRule(allow: false, access: "rwm")],
            memory: spec.resources.memoryBytes.map { Memory(limit: $0, swap: Cgroups.swapLimitSupported ? $0 : nil) },
            cpu: spec.resources.nanoCPUs.map {
                CPU(quota: max(1_000, $0 * Int64(cpuPeriodMicros) / 1_000_000_000), period: cpuPeriodMicros)
            },
            pids: spec.resources.pidsLimit.map { Pids(limit: $0) })
        let targets = Set(mounts.map(\.destination))
        let shared = spec.mounts.contains { [.shared, .rshared].contains($0.propagation) }
        // runc's root is rslave unless told otherwise, crun's rprivate (under which a bind's
        // slave propagation has no master): said explicitly, a slave bind behaves alike in both.
        let slave = spec.mounts.contains { [.slave, .rslave].contains($0.propagation) }
        return OCIConfig(
            process: process, root: Root(path: rootfs, readonly: spec.readOnlyRootfs), hostname: hostname,
            mounts: defaultMounts(network: spec.networkNamespacePath == nil ? spec.network : .none, files: files).filter { !targets.contains($0.destination) } + mounts,
            linux: Linux(
                namespaces: namespaces, cgroupsPath: cgroupsPath, resources: resources, maskedPaths: maskedPaths,
                readonlyPaths: readonlyPaths, sysctl: spec.sysctls.isEmpty ? nil : spec.sysctls,
                seccomp: spec.seccomp == .default ? SeccompProfile.make(capabilities: granted) : nil,
                rootfsPropagation: shared ? "rshared" : slave ? "rslave" : nil))
    }

    /// Every capability the kernel defines, in bit order, up to the running kernel's last one.
    static let allCapabilities: [String] = {
        let names = [
            "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
            "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
            "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
            "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
            "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
            "CHECKPOINT_RESTORE",
        ].map { "CAP_\($0)" }
        let text = (try? File.openForReading("/proc/sys/kernel/cap_last_cap").readAll()).map { String(decoding: $0, as: UTF8.self) }
        let last = text.flatMap { Int($0.trimmingTrailingWhitespace()) } ?? names.count - 1
        return Array(names.prefix(min(names.count, last + 1)))
    }()

    /// Docker's rule for `--cap-add`/`--cap-drop` (names as `CAP_X` or `ALL`): adding ALL grants
    /// every capability but the dropped ones; dropping ALL grants only the added ones; otherwise
    /// the defaults minus the dropped plus the added.
    static func capabilities(add: [String], drop: [String]) -> [String] {
        let granted: [String]
        if add.contains("ALL") {
            granted = allCapabilities.filter { !drop.contains($0) }
        } else if drop.contains("ALL") {
            granted = add
        } else {
            granted = defaultCapabilities.filter { !drop.contains($0) } + add
        }
        var seen = Set<String>()
        return granted.filter { seen.insert($0).inserted }
    }

    /// Docker's open-files default, overridden and extended by the task's ulimits.
    static func rlimits(_ ulimits: [TaskUlimit]) -> [Rlimit] {
        var limits = [Rlimit(type: "RLIMIT_NOFILE", hard: openFilesLimit, soft: openFilesLimit)]
        for ulimit in ulimits {
            let type = TaskUlimit.resources[ulimit.name]!
            limits.removeAll { $0.type == type }
            limits.append(Rlimit(type: type, hard: ulimit.hard, soft: ulimit.soft))
        }
        return limits
    }

    /// The OCI mount of one task mount whose host source is `source` (the bind path, or the
    /// volume's directory; unused for tmpfs).
    static func mount(_ mount: TaskMount, source: String) -> Mount {
        let access = mount.readOnly ? "ro" : "rw"
        // Read-only binds are read-only all the way down (`rro`, mount_setattr), as in Docker 25+:
        // a mount below the source must not be a way to write.
        let recursive = mount.readOnly ? ["rro"] : []
        switch mount.kind {
        case .bind:
            return Mount(destination: mount.target, type: "bind", source: source,
                         options: ["rbind", access] + recursive + [(mount.propagation ?? .rprivate).rawValue])
        case .volume:
            return Mount(destination: mount.target, type: "bind", source: source, options: ["rbind", access] + recursive + ["rprivate"])
        case .tmpfs:
            var options = ["nosuid", "nodev", "noexec", access, "mode=\(String(mount.tmpfsMode ?? 0o1777, radix: 8))"]
            if let size = mount.tmpfsSizeBytes, size > 0 { options.append("size=\(size)") }
            return Mount(destination: mount.target, type: "tmpfs", source: "tmpfs", options: options)
        }
    }

    /// Secrets and configs: a small tmpfs at /run/secrets when a secret goes there (so the task
    /// sees a memory file system, not its image's directory), then each file bound read-only
    /// from the task's host tmpfs (`hostPaths`, in the order of `files`).
    static func fileMounts(_ files: [TaskFile], hostPaths: [String]) -> [Mount] {
        precondition(files.count == hostPaths.count, "one host path per task file")
        var mounts: [Mount] = []
        if files.contains(where: { $0.target.hasPrefix("/run/secrets/") }) {
            mounts.append(Mount(destination: "/run/secrets", type: "tmpfs", source: "tmpfs",
                                options: ["nosuid", "nodev", "noexec", "mode=755", "size=65536k"]))
        }
        for (file, hostPath) in zip(files, hostPaths) {
            mounts.append(Mount(destination: file.target, type: "bind", source: hostPath,
                                options: ["bind", "ro", "nosuid", "nodev", "noexec", "rprivate"]))
        }
        return mounts
    }

    /// The kernel file systems every container gets, plus its name resolution files: the bundle's
    /// own when given, else the host's when it shares the host's network.
    static func defaultMounts(network: TaskNetwork, files: BundleFiles = BundleFiles()) -> [Mount] {
        var mounts = [
            Mount(destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
            Mount(destination: "/dev", type: "tmpfs", source: "tmpfs",
                  options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            Mount(destination: "/dev/pts", type: "devpts", source: "devpts",
                  options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
            Mount(destination: "/dev/shm", type: "tmpfs", source: "shm",
                  options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            Mount(destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
            Mount(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
            Mount(destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup",
                  options: ["nosuid", "noexec", "nodev", "relatime", "ro"]),
        ]
        for (file, own) in [("/etc/resolv.conf", files.resolvConf), ("/etc/hosts", files.hosts)] {
            if let own {
                mounts.append(Mount(destination: file, type: "bind", source: own, options: ["rbind", "ro"]))
            } else if network == .host, FileSystem.exists(file) {
                mounts.append(Mount(destination: file, type: "bind", source: file, options: ["rbind", "ro"]))
            }
        }
        return mounts
    }
}
