import Platform

/// Where runc puts a container's cgroups on this machine and what the kernel recorded there.
///
/// cgroup v1 (one hierarchy per controller, as on this project's VMs) and v2 (one unified
/// hierarchy, `cgroup.controllers` at the root) name the OOM counter differently.
enum Cgroups {
    static let mountPoint = "/sys/fs/cgroup"

    /// True when /sys/fs/cgroup is the unified (v2) hierarchy.
    static var isUnified: Bool { FileSystem.exists("\(mountPoint)/cgroup.controllers") }

    /// Whether runc can bound memory plus swap: v1 needs swap accounting (memory.memsw.*), v2
    /// has memory.swap.max wherever swap is compiled in.
    static let swapLimitSupported: Bool = isUnified
        ? FileSystem.exists("/proc/swaps")
        : FileSystem.exists("\(mountPoint)/memory/memory.memsw.limit_in_bytes")

    /// The directories of the cgroup `cgroupsPath` (e.g. "/swarmctl/ID") that exist now.
    static func existingDirectories(cgroupsPath: String) -> [String] {
        if isUnified {
            let path = mountPoint + cgroupsPath
            return FileSystem.isDirectory(path) ? [path] : []
        }
        let controllers = (try? FileSystem.list(mountPoint)) ?? []
        return controllers.map { "\(mountPoint)/\($0)\(cgroupsPath)" }.filter { FileSystem.isDirectory($0) }
    }

    /// How many processes the kernel OOM-killed in the cgroup (0 if it is gone or unknown):
    /// `oom_kill` in v1's memory.oom_control or v2's memory.events.
    static func oomKills(cgroupsPath: String) -> Int {
        let file = isUnified ? "\(mountPoint)\(cgroupsPath)/memory.events"
            : "\(mountPoint)/memory\(cgroupsPath)/memory.oom_control"
        // Kernel pseudo-files report size 0: read up to a bound instead of by size.
        guard let bytes = try? Tree.readPseudoFile(file) else { return 0 }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, fields[0] == "oom_kill" { return Int(fields[1]) ?? 0 }
        }
        return 0
    }
}
