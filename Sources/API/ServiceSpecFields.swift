/// Which fields of a ServiceSpec body this cluster honours and which it refuses, checked on the
/// raw JSON before decoding.
///
/// It exists because Go's `encoding/json` (and our lenient decoder, which follows it) silently
/// drops what a type does not hold: `--mount`, `--read-only` or `--cap-drop ALL` would be
/// accepted and ignored, and the user would believe the task runs as asked. Every field the
/// Docker API defines is either implemented here or refused with
/// `400 unsupported field PATH: WHAT TO DO` when it carries a value other than its default
/// (the docker CLI and docker-py send some of them empty on every create: `"DNSConfig": {}`,
/// `"Init": false`, `"Isolation": "default"`). Fields the API does not define are refused
/// likewise when set. Keys match case-insensitively, as in Go.
enum ServiceSpecFields {
    /// How one field is treated.
    indirect enum Rule: Sendable {
        /// Honoured; its members are checked by `children` when given (nil: a value of its own).
        case implemented(children: [String: Rule]?)
        /// Refused unless `accepts` holds (zero values always pass): `advice` says what to do.
        case refused(advice: String, accepts: @Sendable (JSONValue) -> Bool)

        static let leaf = Rule.implemented(children: nil)

        static func refused(_ advice: String) -> Rule { .refused(advice: advice, accepts: { _ in false }) }

        /// Refused unless the value is one of `values` (case-insensitive strings).
        static func refused(_ advice: String, unless values: [String]) -> Rule {
            .refused(advice: advice, accepts: { value in
                guard let text = value.stringValue?.lowercased() else { return false }
                return values.contains(text)
            })
        }
    }

    private static let notYet = "is not implemented by this cluster yet; remove it from the service spec"

    static let containerSpec: [String: Rule] = [
        "Image": .leaf, "Labels": .leaf, "Command": .leaf, "Args": .leaf, "Hostname": .leaf, "Env": .leaf, "Dir": .leaf,
        "User": .leaf, "StopGracePeriod": .leaf, "StopSignal": .leaf,
        "HealthCheck": .implemented(children: [
            "Test": .leaf, "Interval": .leaf, "Timeout": .leaf, "Retries": .leaf, "StartPeriod": .leaf,
            "StartInterval": .refused("a health-check start interval \(notYet) (--health-start-interval)"),
        ]),
        "Groups": .leaf,
        "Privileges": .implemented(children: [
            "CredentialSpec": .refused("credential specs are for Windows services; remove --credential-spec"),
            "SELinuxContext": .refused("SELinux labels \(notYet)"),
            "Seccomp": .implemented(children: [
                "Mode": .leaf,
                "Profile": .refused("custom seccomp profiles \(notYet); use the default (Mode default) or Mode unconfined"),
            ]),
            "AppArmor": .refused("AppArmor profiles \(notYet)"),
            "NoNewPrivileges": .leaf,
        ]),
        "TTY": .refused("a TTY for the task \(notYet) (--tty)"),
        "OpenStdin": .refused("an open stdin for the task \(notYet)"),
        "ReadOnly": .leaf,
        "Mounts": .implemented(children: mount),
        "Hosts": .leaf,
        "DNSConfig": .implemented(children: ["Nameservers": .leaf, "Search": .leaf, "Options": .leaf]),
        "Secrets": .implemented(children: ["File": .implemented(children: payloadFile), "SecretID": .leaf, "SecretName": .leaf]),
        "Configs": .implemented(children: [
            "File": .implemented(children: payloadFile), "ConfigID": .leaf, "ConfigName": .leaf,
            "Runtime": .refused("configs for plugin runtimes \(notYet); give the config a File target"),
        ]),
        "OomScoreAdj": .refused("an OOM score adjustment \(notYet) (--oom-score-adj)"),
        "Isolation": .refused("only the default isolation exists on Linux (--isolation default)", unless: ["default"]),
        "Init": .leaf,
        "Sysctls": .leaf,
        "CapabilityAdd": .leaf,
        "CapabilityDrop": .leaf,
        "Ulimits": .implemented(children: ["Name": .leaf, "Soft": .leaf, "Hard": .leaf]),
    ]

    /// The `File` of a secret or config reference.
    static let payloadFile: [String: Rule] = ["Name": .leaf, "UID": .leaf, "GID": .leaf, "Mode": .leaf]

    /// One of `ContainerSpec.Mounts` (bind, volume and tmpfs; the types are checked by the validation).
    static let mount: [String: Rule] = [
        "Target": .leaf, "Source": .leaf, "Type": .leaf, "ReadOnly": .leaf,
        "Consistency": .refused("mount consistency is for Docker Desktop file sharing; remove consistency=", unless: ["default"]),
        "BindOptions": .implemented(children: [
            "Propagation": .leaf,
            "NonRecursive": .refused("non-recursive bind mounts \(notYet) (bind-recursive=disabled)"),
            "CreateMountpoint": .refused("creating a missing bind source \(notYet) (bind-create-src); create the path on the node"),
            "ReadOnlyNonRecursive": .refused("non-recursive read-only bind mounts \(notYet) (bind-recursive=writable)"),
            "ReadOnlyForceRecursive": .refused("forcing recursive read-only \(notYet) (bind-recursive=readonly); read-only "
                                               + "bind mounts are recursive where the kernel can"),
        ]),
        "VolumeOptions": .implemented(children: [
            "NoCopy": .leaf,
            "Labels": .refused("volume labels \(notYet) (volume-label)"),
            "DriverConfig": .refused(advice: "volume drivers other than local without options \(notYet) (volume-driver, volume-opt)",
                                     accepts: isLocalDriver),
            "Subpath": .refused("volume subpaths \(notYet) (volume-subpath)"),
        ]),
        "ImageOptions": .refused("image mounts \(notYet) (type=image)"),
        "TmpfsOptions": .implemented(children: [
            "SizeBytes": .leaf, "Mode": .leaf,
            "Options": .refused("tmpfs options other than size and mode \(notYet)"),
        ]),
    ]

    static let taskSpec: [String: Rule] = [
        "ContainerSpec": .implemented(children: containerSpec),
        "Resources": .implemented(children: [
            "Limits": .implemented(children: ["NanoCPUs": .leaf, "MemoryBytes": .leaf, "Pids": .leaf]),
            "Reservations": .implemented(children: [
                "NanoCPUs": .leaf, "MemoryBytes": .leaf,
                "GenericResources": .refused("generic resources \(notYet) (--generic-resource)"),
            ]),
            "SwapBytes": .refused("a swap limit \(notYet) (--limit-memory-swap)"),
            "MemorySwappiness": .refused("memory swappiness \(notYet) (--memory-swappiness)"),
        ]),
        "RestartPolicy": .implemented(children: ["Condition": .leaf, "Delay": .leaf, "MaxAttempts": .leaf, "Window": .leaf]),
        "Placement": .implemented(children: [
            "Constraints": .leaf, "Preferences": .leaf, "MaxReplicas": .leaf,
            "Platforms": .refused("platform placement \(notYet); use a constraint such as node.platform.arch==x86_64"),
        ]),
        "ForceUpdate": .leaf,
        "Runtime": .refused("only container tasks exist here (plugin and attachment tasks are not implemented)", unless: ["container"]),
        "PluginSpec": .refused("plugin tasks \(notYet)"),
        "NetworkAttachmentSpec": .refused("network attachment tasks \(notYet)"),
        "Networks": .implemented(children: networkAttachment),
        "LogDriver": .refused(advice: "log drivers other than json-file without options \(notYet) (--log-driver, --log-opt); "
                              + "task output is kept in rotated files on the node", accepts: isDefaultLogDriver),
    ]

    /// Fields this cluster adds to Docker's spec (full paths), each implemented.
    static let extensions: Set<String> = ["EndpointSpec.Ports.PublishPolicy"]

    /// One of `TaskTemplate.Networks` (or the legacy `Networks`).
    static let networkAttachment: [String: Rule] = [
        "Target": .leaf, "Aliases": .leaf,
        "DriverOpts": .refused("network driver options \(notYet) (--network name=…,driver-opt=…)"),
    ]

    static let updateConfig: [String: Rule] = [
        "Parallelism": .leaf, "Delay": .leaf, "FailureAction": .leaf, "Monitor": .leaf, "MaxFailureRatio": .leaf, "Order": .leaf,
    ]

    static let serviceSpec: [String: Rule] = [
        "Name": .leaf, "Labels": .leaf, "Mode": .leaf,
        "TaskTemplate": .implemented(children: taskSpec),
        "UpdateConfig": .implemented(children: updateConfig),
        "RollbackConfig": .implemented(children: updateConfig),
        "Networks": .implemented(children: networkAttachment),
        "EndpointSpec": .implemented(children: [
            "Mode": .leaf,
            "Ports": .implemented(children: [
                "Name": .leaf, "Protocol": .leaf, "TargetPort": .leaf, "PublishedPort": .leaf, "PublishMode": .leaf,
                "PublishPolicy": .leaf,
            ]),
        ]),
    ]

    /// The first field of `document` (a ServiceSpec) that is refused, as a 400.
    static func problem(in document: JSONValue) -> APIError? {
        check(document, rules: serviceSpec, path: "")
    }

    /// The first field of `document` refused by `rules` (another body type: SecretSpec, ConfigSpec).
    static func problem(in document: JSONValue, rules: [String: Rule]) -> APIError? {
        check(document, rules: rules, path: "")
    }

    private static func check(_ value: JSONValue, rules: [String: Rule], path: String) -> APIError? {
        if case let .array(items) = value {
            // A list of objects (Mounts, Ulimits): each is checked against the same rules.
            for item in items {
                if let problem = check(item, rules: rules, path: path) { return problem }
            }
            return nil
        }
        guard case let .object(members) = value else { return nil }
        for (key, member) in members {
            let exact = rules[key]
            let name = exact != nil ? key : rules.keys.first { LenientKeys.foldedEqual($0, key) }
            // Built only when needed: most members are implemented leaves.
            func fieldPath() -> String { path.isEmpty ? (name ?? key) : "\(path).\(name ?? key)" }
            guard let name, let rule = exact ?? rules[name] else {
                if isZero(member) { continue }
                return unsupported(fieldPath(), "the Docker API has no such field; check its spelling or remove it")
            }
            switch rule {
            case .implemented(children: nil):
                continue
            case let .implemented(children: children?):
                if let problem = check(member, rules: children, path: fieldPath()) { return problem }
            case let .refused(advice, accepts):
                if isZero(member) || accepts(member) { continue }
                return unsupported(fieldPath(), advice)
            }
        }
        return nil
    }

    static func unsupported(_ path: String, _ advice: String) -> APIError {
        .badRequest("unsupported field \(path): \(advice)")
    }

    /// Go's zero values, and structs of nothing but zero values (`{"Nameservers": []}`). An
    /// object with a key that cannot be a field name (`{"/tmp": ""}`, `{"net.core.somaxconn": ""}`)
    /// is a map with an entry, which is a value even when the entry's value is empty.
    static func isZero(_ value: JSONValue) -> Bool {
        switch value {
        case .null: true
        case let .bool(flag): !flag
        case let .number(text): Double(text) == 0
        case let .string(text): text.isEmpty
        case let .array(items): items.isEmpty
        case let .object(members):
            members.allSatisfy { key, member in
                !key.isEmpty && key.utf8.allSatisfy { ($0 | 0x20) >= UInt8(ascii: "a") && ($0 | 0x20) <= UInt8(ascii: "z") } && isZero(member)
            }
        }
    }

    private static func member(_ value: JSONValue, _ name: String) -> JSONValue? {
        guard case let .object(members) = value else { return nil }
        return members.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    /// `{"Name": "json-file"}` without options is what tasks get anyway.
    @Sendable private static func isDefaultLogDriver(_ value: JSONValue) -> Bool {
        guard case let .object(members) = value else { return false }
        let known = members.allSatisfy { ["name", "options"].contains($0.0.lowercased()) }
        let name = member(value, "Name")?.stringValue ?? ""
        return known && ["", "json-file"].contains(name) && member(value, "Options").map(isZero) ?? true
    }

    /// `{"Name": "local"}` without options is the only volume driver there is.
    @Sendable private static func isLocalDriver(_ value: JSONValue) -> Bool {
        guard case let .object(members) = value else { return false }
        let known = members.allSatisfy { ["name", "options"].contains($0.0.lowercased()) }
        let name = member(value, "Name")?.stringValue ?? ""
        return known && ["", "local"].contains(name) && member(value, "Options").map(isZero) ?? true
    }

}
