import ClusterState

/// The container settings among the `service create/update` flags, as docker spells them:
/// `--mount`, `--read-only`, `--init`, `--cap-add/--cap-drop`, `--ulimit`, `--sysctl`, `--dns*`, `--host`,
/// `--group`, `--security-opt seccomp=…`. On update the list flags take `-add`/`-rm` forms as in
/// docker (`--mount-add`, `--mount-rm TARGET`, `--ulimit-rm NAME`, …), and the create forms add.
enum ContainerSettingFlags {
    static func apply(_ arguments: inout CommandLineArguments, _ container: inout ContainerSpec) throws(UsageError) {
        try applyMounts(&arguments, &container)
        try PayloadFlags.apply(&arguments, &container)
        // `--read-only` or, as docker's boolean flags, `--read-only=false` (the last one given wins).
        if let last = arguments.takeSwitchValues("--read-only").last {
            container.readOnly = try last.map { value throws(UsageError) in try boolean(value, flag: "--read-only") } ?? true
        }
        if let last = arguments.takeSwitchValues("--init").last {
            container.initProcess = try last.map { value throws(UsageError) in try boolean(value, flag: "--init") } ?? true
        }
        container.capabilityAdd = listed(&arguments, "--cap-add", container.capabilityAdd, removing: "--cap-add-rm")
        container.capabilityDrop = listed(&arguments, "--cap-drop", container.capabilityDrop, removing: "--cap-drop-rm")
        try applyUlimits(&arguments, &container)
        var sysctls = container.sysctls ?? [:]
        for entry in arguments.takeValues("--sysctl") + arguments.takeValues("--sysctl-add") {
            let (key, value) = try ServiceSpecFlags.keyValue(entry, flag: "--sysctl")
            sysctls[key] = value
        }
        for key in arguments.takeValues("--sysctl-rm") { sysctls[key] = nil }
        container.sysctls = sysctls.isEmpty ? nil : sysctls
        try applyDNS(&arguments, &container)
        try applyHosts(&arguments, &container)
        container.groups = listed(&arguments, "--group", container.groups, removing: "--group-rm")
        for option in arguments.takeValues("--security-opt") {
            switch option {
            case "seccomp=unconfined", "seccomp:unconfined", "seccomp=default", "seccomp:default":
                var privileges = container.privileges ?? Privileges()
                privileges.seccomp = Privileges.Seccomp(mode: String(option.dropFirst("seccomp=".count)))
                container.privileges = privileges
            case "no-new-privileges", "no-new-privileges=true", "no-new-privileges:true":
                var privileges = container.privileges ?? Privileges()
                privileges.noNewPrivileges = true
                container.privileges = privileges
            default:
                throw UsageError(message: "--security-opt \(option): only seccomp=default, seccomp=unconfined and no-new-privileges are implemented")
            }
        }
    }

    /// `--FLAG V` and `--FLAG-add V` append (without duplicates), `removing` takes values out.
    private static func listed(_ arguments: inout CommandLineArguments, _ flag: String, _ current: [String]?, removing: String? = nil) -> [String]? {
        var values = current ?? []
        for value in arguments.takeValues(flag) + arguments.takeValues(flag + "-add") where !values.contains(value) { values.append(value) }
        let removed = arguments.takeValues(removing ?? flag + "-rm")
        values.removeAll { removed.contains($0) }
        return values.isEmpty ? nil : values
    }

    private static func applyMounts(_ arguments: inout CommandLineArguments, _ container: inout ContainerSpec) throws(UsageError) {
        var mounts = container.mounts ?? []
        for text in arguments.takeValues("--mount") + arguments.takeValues("--mount-add") {
            let mount = try parseMount(text)
            mounts.removeAll { $0.target == mount.target }
            mounts.append(mount)
        }
        for target in arguments.takeValues("--mount-rm") { mounts.removeAll { $0.target == target } }
        container.mounts = mounts.isEmpty ? nil : mounts
    }

    /// docker's `--mount` CSV: `type=bind|volume|tmpfs,source|src=…,target|destination|dst=…,readonly[=BOOL],`
    /// `bind-propagation=…,volume-nocopy[=BOOL],tmpfs-size=SIZE,tmpfs-mode=OCTAL`.
    static func parseMount(_ text: String) throws(UsageError) -> Mount {
        var mount = Mount(type: "volume", target: "")
        for field in text.split(separator: ",").map(String.init) {
            let parts = field.split(separator: "=", maxSplits: 1).map(String.init)
            let key = parts[0].lowercased()
            let value = parts.count > 1 ? parts[1] : nil
            func required() throws(UsageError) -> String {
                guard let value, !value.isEmpty else { throw UsageError(message: "--mount \(text): \(key) needs a value (\(key)=…)") }
                return value
            }
            switch key {
            case "type": mount.type = try required()
            case "source", "src": mount.source = try required()
            case "target", "destination", "dst": mount.target = try required()
            case "readonly", "ro": mount.readOnly = try value.map { v throws(UsageError) in try boolean(v, flag: "--mount \(key)") } ?? true
            case "bind-propagation":
                mount.bindOptions = Mount.BindOptions(propagation: try required())
            case "volume-nocopy":
                let noCopy = try value.map { v throws(UsageError) in try boolean(v, flag: "--mount volume-nocopy") } ?? true
                mount.volumeOptions = Mount.VolumeOptions(noCopy: noCopy)
            case "tmpfs-size":
                var options = mount.tmpfsOptions ?? Mount.TmpfsOptions()
                options.sizeBytes = try ServiceSpecFlags.bytes(try required(), flag: "--mount tmpfs-size")
                mount.tmpfsOptions = options
            case "tmpfs-mode":
                guard let mode = UInt32(try required(), radix: 8), mode <= 0o7777 else {
                    throw UsageError(message: "--mount \(text): tmpfs-mode expects an octal mode such as 1777")
                }
                var options = mount.tmpfsOptions ?? Mount.TmpfsOptions()
                options.mode = mode
                mount.tmpfsOptions = options
            default:
                throw UsageError(message: "--mount \(text): unknown key \(key); use type, source, target, readonly, bind-propagation, "
                    + "volume-nocopy, tmpfs-size or tmpfs-mode")
            }
        }
        guard !mount.target.isEmpty else { throw UsageError(message: "--mount \(text): target=PATH is required") }
        return mount
    }

    private static func applyUlimits(_ arguments: inout CommandLineArguments, _ container: inout ContainerSpec) throws(UsageError) {
        var ulimits = container.ulimits ?? []
        for text in arguments.takeValues("--ulimit") + arguments.takeValues("--ulimit-add") {
            let ulimit = try parseUlimit(text)
            ulimits.removeAll { $0.name == ulimit.name }
            ulimits.append(ulimit)
        }
        for name in arguments.takeValues("--ulimit-rm") { ulimits.removeAll { $0.name == name } }
        container.ulimits = ulimits.isEmpty ? nil : ulimits
    }

    /// `nofile=512` or `nofile=512:1024` (soft:hard), as docker.
    static func parseUlimit(_ text: String) throws(UsageError) -> Ulimit {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        let limits = parts.count == 2 ? parts[1].split(separator: ":", omittingEmptySubsequences: false).compactMap { Int64($0) } : []
        guard parts.count == 2, (1...2).contains(limits.count), limits.count == parts[1].split(separator: ":", omittingEmptySubsequences: false).count
        else { throw UsageError(message: "--ulimit \(text): expected NAME=SOFT[:HARD], e.g. nofile=512:1024") }
        return Ulimit(name: parts[0], soft: limits[0], hard: limits.last!)
    }

    private static func applyDNS(_ arguments: inout CommandLineArguments, _ container: inout ContainerSpec) throws(UsageError) {
        var dns = container.dnsConfig ?? DNSConfig()
        dns.nameservers = listed(&arguments, "--dns", dns.nameservers)
        dns.search = listed(&arguments, "--dns-search", dns.search)
        dns.options = listed(&arguments, "--dns-option", dns.options)
        container.dnsConfig = dns.isEmpty ? nil : dns
    }

    /// `--host NAME:IP` becomes the hosts line `IP NAME`, as docker sends it.
    private static func applyHosts(_ arguments: inout CommandLineArguments, _ container: inout ContainerSpec) throws(UsageError) {
        var hosts = container.hosts ?? []
        for text in arguments.takeValues("--host") + arguments.takeValues("--host-add") {
            guard let colon = text.firstIndex(of: ":"), colon != text.startIndex, text.index(after: colon) != text.endIndex else {
                throw UsageError(message: "--host \(text): expected NAME:IP, e.g. db:10.0.0.5")
            }
            let line = "\(text[text.index(after: colon)...]) \(text[..<colon])"
            if !hosts.contains(line) { hosts.append(line) }
        }
        for text in arguments.takeValues("--host-rm") {
            let name = text.split(separator: ":").first.map(String.init) ?? text
            hosts.removeAll { $0.split(separator: " ").dropFirst().contains(Substring(name)) }
        }
        container.hosts = hosts.isEmpty ? nil : hosts
    }

    private static func boolean(_ text: String, flag: String) throws(UsageError) -> Bool {
        switch text.lowercased() {
        case "true", "1": return true
        case "false", "0": return false
        default: throw UsageError(message: "\(flag)=\(text): expected true or false")
        }
    }
}
