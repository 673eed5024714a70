/// Checks the container settings of a ContainerSpec that a node could only refuse late (when a
/// task is already placed), so a service with them is refused at create/update with a message
/// naming the setting and what to do: mounts, capabilities, ulimits, sysctls, DNS, hosts.
///
/// What only the node can know (does a bind source exist there?) is checked by its executor,
/// which rejects the task saying so.
public enum ContainerSettingsValidation {
    /// Every capability the Linux kernel defines, in bit order (capability.h), without `CAP_`.
    public static let capabilities = [
        "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
        "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
        "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
        "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
        "CHECKPOINT_RESTORE",
    ]

    /// `net_admin`, `NET_ADMIN` or `CAP_NET_ADMIN` as `CAP_NET_ADMIN`; `all` as `ALL`; nil if unknown.
    public static func capabilityName(_ name: String) -> String? {
        let upper = name.uppercased()
        if upper == "ALL" { return "ALL" }
        let bare = upper.hasPrefix("CAP_") ? String(upper.dropFirst(4)) : upper
        return capabilities.contains(bare) ? "CAP_\(bare)" : nil
    }

    /// The resource names of `--ulimit` (setrlimit's, lower case without `RLIMIT_`).
    public static let ulimitNames: Set<String> = [
        "as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio",
        "rttime", "sigpending", "stack",
    ]

    /// Sysctls a container may set: those of its own IPC namespace. `net.*` is refused because
    /// tasks share the node's network namespace, where they would change the node's settings.
    public static func sysctlProblem(_ name: String) -> String? {
        let ipc: Set<String> = ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
                                "kernel.shmmni", "kernel.shm_rmid_forced"]
        if ipc.contains(name) || name.hasPrefix("fs.mqueue.") { return nil }
        if name.hasPrefix("net.") {
            return "sysctl \(name): tasks share the node's network namespace, so a net.* sysctl would change the node's own; "
                + "set it on the node instead"
        }
        return "sysctl \(name) is not namespaced (it would change the whole node): only kernel.msg*, kernel.sem, kernel.shm* "
            + "and fs.mqueue.* may be set per container"
    }

    /// The first problem of `spec`'s container settings, or nil.
    public static func problem(_ spec: ContainerSpec) -> String? {
        for mount in spec.mounts ?? [] {
            if let problem = mountProblem(mount) { return "Mounts: \(problem)" }
        }
        let targets = (spec.mounts ?? []).map { normalizedPath($0.target) }
        if let duplicate = targets.first(where: { target in targets.filter { $0 == target }.count > 1 }) {
            return "Mounts: \(duplicate) is the target of more than one mount; give each mount its own target"
        }
        for name in (spec.capabilityAdd ?? []) + (spec.capabilityDrop ?? []) where capabilityName(name) == nil {
            return "CapabilityAdd/CapabilityDrop: unknown capability \"\(name)\": use a name such as NET_ADMIN or CAP_SYS_TIME, or ALL"
        }
        for ulimit in spec.ulimits ?? [] {
            if !ulimitNames.contains(ulimit.name) {
                return "Ulimits: unknown ulimit \"\(ulimit.name)\": use one of \(ulimitNames.sorted().joined(separator: ", "))"
            }
            if ulimit.soft < 0 || ulimit.hard < 0 || ulimit.soft > ulimit.hard {
                return "Ulimits: \(ulimit.name) soft limit \(ulimit.soft) must be between 0 and the hard limit \(ulimit.hard)"
            }
        }
        if Set((spec.ulimits ?? []).map(\.name)).count != (spec.ulimits ?? []).count {
            return "Ulimits: a ulimit is given twice; give each once"
        }
        for name in (spec.sysctls ?? [:]).keys.sorted() {
            if let problem = sysctlProblem(name) { return "Sysctls: \(problem)" }
        }
        for line in spec.hosts ?? [] {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.count < 2 || line.contains("\n") {
                return "Hosts: \"\(line)\" is not \"IP NAME [ALIAS...]\" (the CLI's --host takes NAME:IP)"
            }
        }
        if let dns = spec.dnsConfig {
            for entry in (dns.nameservers ?? []) + (dns.search ?? []) + (dns.options ?? []) where entry.isEmpty || entry.contains(where: \.isWhitespace) {
                return "DNSConfig: \"\(entry)\" is not a single address, domain or option"
            }
        }
        for group in spec.groups ?? [] where group.isEmpty || group.contains(":") || group.contains(where: \.isWhitespace) {
            return "Groups: \"\(group)\" is not a group name or number"
        }
        if let mode = spec.privileges?.seccomp?.mode, !["", "default", "unconfined"].contains(mode) {
            return "Privileges.Seccomp.Mode: \"\(mode)\" is not implemented; use default or unconfined"
        }
        return nil
    }

    static func mountProblem(_ mount: Mount) -> String? {
        let target = mount.target
        guard target.hasPrefix("/"), normalizedPath(target) != "/" else {
            return "target \"\(target)\" must be an absolute path other than /"
        }
        if target.split(separator: "/").contains("..") { return "target \"\(target)\" must not contain .." }
        let source = mount.source ?? ""
        switch mount.type {
        case "bind":
            guard source.hasPrefix("/") else {
                return "bind source \"\(source)\" must be an absolute path on the node"
            }
            if mount.volumeOptions != nil || mount.tmpfsOptions != nil { return "a bind mount takes no volume or tmpfs options" }
            let propagations = ["private", "rprivate", "shared", "rshared", "slave", "rslave"]
            if let propagation = mount.bindOptions?.propagation, !propagation.isEmpty, !propagations.contains(propagation) {
                return "bind propagation \"\(propagation)\" is not one of \(propagations.joined(separator: ", "))"
            }
        case "volume":
            guard !source.isEmpty else {
                return "a volume mount needs a volume name (src=NAME); anonymous volumes are not implemented"
            }
            if let problem = volumeNameProblem(source) { return problem }
            if mount.bindOptions != nil || mount.tmpfsOptions != nil { return "a volume mount takes no bind or tmpfs options" }
        case "tmpfs":
            if !source.isEmpty { return "a tmpfs mount takes no source" }
            if mount.bindOptions != nil || mount.volumeOptions != nil { return "a tmpfs mount takes no bind or volume options" }
            if let size = mount.tmpfsOptions?.sizeBytes, size < 0 { return "tmpfs size cannot be negative" }
            if let mode = mount.tmpfsOptions?.mode, mode > 0o7777 { return "tmpfs mode \(String(mode, radix: 8)) is not a permission mode" }
        default:
            return "mount type \"\(mount.type)\" is not implemented; use bind, volume or tmpfs"
        }
        return nil
    }

    /// Docker's rule: one path component of letters, digits and `_.-`, starting with a letter or digit.
    public static func volumeNameProblem(_ name: String) -> String? {
        func isAlphanumeric(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        let bytes = Array(name.utf8)
        guard let first = bytes.first, isAlphanumeric(first),
              bytes.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") })
        else {
            return "volume name \"\(name)\" must be letters, digits, '_', '.' and '-', starting with a letter or digit"
        }
        return nil
    }

    /// `/a//b/` as `/a/b`.
    static func normalizedPath(_ path: String) -> String {
        "/" + path.split(separator: "/").joined(separator: "/")
    }
}
