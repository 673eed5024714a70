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
    }

    struct Namespace: Encodable, Equatable {
        var type: String
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

    /// The bundle configuration for `spec`: `rootfs` is the bundle-relative or absolute root,
    /// `user` the resolved numeric user, `cgroupsPath` where runc puts the container's cgroups.
    static func make(
        spec: TaskSpec, args: [String], environment: [String], user: User, rootfs: String, hostname: String,
        cgroupsPath: String
    ) -> OCIConfig {
        var namespaces = ["pid", "ipc", "uts", "mount"].map { Namespace(type: $0) }
        if spec.network == .none { namespaces.append(Namespace(type: "network")) }
        let capabilities = Capabilities(
            bounding: defaultCapabilities, effective: user.uid == 0 ? defaultCapabilities : [],
            permitted: defaultCapabilities)
        let process = Process(
            user: user, args: args, env: environment, cwd: spec.workingDirectory ?? "/",
            capabilities: capabilities,
            rlimits: [Rlimit(type: "RLIMIT_NOFILE", hard: openFilesLimit, soft: openFilesLimit)])
        let resources = Resources(
            // Deny every device node; runc still creates and allows its defaults (null, zero,
            // full, random, urandom, tty, ptmx), as for Docker containers.
            devices: [DeviceRule(allow: false, access: "rwm")],
            memory: spec.resources.memoryBytes.map { Memory(limit: $0, swap: Cgroups.swapLimitSupported ? $0 : nil) },
            cpu: spec.resources.nanoCPUs.map {
                CPU(quota: max(1_000, $0 * Int64(cpuPeriodMicros) / 1_000_000_000), period: cpuPeriodMicros)
            },
            pids: spec.resources.pidsLimit.map { Pids(limit: $0) })
        return OCIConfig(
            process: process, root: Root(path: rootfs, readonly: spec.readOnlyRootfs), hostname: hostname,
            mounts: defaultMounts(network: spec.network),
            linux: Linux(
                namespaces: namespaces, cgroupsPath: cgroupsPath, resources: resources, maskedPaths: maskedPaths,
                readonlyPaths: readonlyPaths))
    }

    /// The kernel file systems every container gets, plus the host's name resolution files when
    /// it shares the host's network.
    static func defaultMounts(network: TaskNetwork) -> [Mount] {
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
        if network == .host {
            for file in ["/etc/resolv.conf", "/etc/hosts"] where FileSystem.exists(file) {
                mounts.append(Mount(destination: file, type: "bind", source: file, options: ["rbind", "ro"]))
            }
        }
        return mounts
    }
}
