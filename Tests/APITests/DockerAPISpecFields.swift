/// Test data: the fields of the service spec objects as the Docker Engine API defines them,
/// extracted from moby/moby `api/swagger.yaml` (commit b985e2313a8676e18072b442911fc8f64f17d440,
/// 2026-08-23, API 1.56) with
///
///     python3 -c 'import yaml; d = yaml.safe_load(open("swagger.yaml"))["definitions"]; ...'
///
/// listing `properties` of `ServiceSpec`, `TaskSpec`, `TaskSpec.ContainerSpec` and the nested
/// objects, in the order the spec gives them (the items of `Mounts` and `Ulimits` as objects of
/// their own; `Mount` and `ContainerSpec.Privileges` from the same definitions). Kept as data so the classification test fails when
/// a field is added here and nobody decided whether it is implemented or refused.
enum DockerAPISpecFields {
    /// Object path (as in the 400 messages) → its fields.
    static let objects: [(path: String, fields: [String])] = [
        ("", ["Name", "Labels", "TaskTemplate", "Mode", "UpdateConfig", "RollbackConfig", "Networks", "EndpointSpec"]),
        ("TaskTemplate", ["PluginSpec", "ContainerSpec", "NetworkAttachmentSpec", "Resources", "RestartPolicy", "Placement",
                          "ForceUpdate", "Runtime", "Networks", "LogDriver"]),
        ("TaskTemplate.ContainerSpec", ["Image", "Labels", "Command", "Args", "Hostname", "Env", "Dir", "User", "Groups", "Privileges",
                                        "TTY", "OpenStdin", "ReadOnly", "Mounts", "StopSignal", "StopGracePeriod", "HealthCheck", "Hosts",
                                        "DNSConfig", "Secrets", "OomScoreAdj", "Configs", "Isolation", "Init", "Sysctls",
                                        "CapabilityAdd", "CapabilityDrop", "Ulimits"]),
        ("TaskTemplate.ContainerSpec.HealthCheck", ["Test", "Interval", "Timeout", "Retries", "StartPeriod", "StartInterval"]),
        ("TaskTemplate.ContainerSpec.Privileges", ["CredentialSpec", "SELinuxContext", "Seccomp", "AppArmor", "NoNewPrivileges"]),
        ("TaskTemplate.ContainerSpec.Privileges.Seccomp", ["Mode", "Profile"]),
        ("TaskTemplate.ContainerSpec.Mounts", ["Target", "Source", "Type", "ReadOnly", "Consistency", "BindOptions", "VolumeOptions",
                                               "ImageOptions", "TmpfsOptions"]),
        ("TaskTemplate.ContainerSpec.Mounts.BindOptions", ["Propagation", "NonRecursive", "CreateMountpoint", "ReadOnlyNonRecursive",
                                                           "ReadOnlyForceRecursive"]),
        ("TaskTemplate.ContainerSpec.Mounts.VolumeOptions", ["NoCopy", "Labels", "DriverConfig", "Subpath"]),
        ("TaskTemplate.ContainerSpec.Mounts.TmpfsOptions", ["SizeBytes", "Mode", "Options"]),
        ("TaskTemplate.ContainerSpec.DNSConfig", ["Nameservers", "Search", "Options"]),
        ("TaskTemplate.ContainerSpec.Ulimits", ["Name", "Soft", "Hard"]),
        ("TaskTemplate.ContainerSpec.Secrets", ["File", "SecretID", "SecretName"]),
        ("TaskTemplate.ContainerSpec.Secrets.File", ["Name", "UID", "GID", "Mode"]),
        ("TaskTemplate.ContainerSpec.Configs", ["File", "Runtime", "ConfigID", "ConfigName"]),
        ("TaskTemplate.ContainerSpec.Configs.File", ["Name", "UID", "GID", "Mode"]),
        ("TaskTemplate.Resources", ["Limits", "Reservations", "SwapBytes", "MemorySwappiness"]),
        ("TaskTemplate.Resources.Limits", ["NanoCPUs", "MemoryBytes", "Pids"]),
        ("TaskTemplate.Resources.Reservations", ["NanoCPUs", "MemoryBytes", "GenericResources"]),
        ("TaskTemplate.RestartPolicy", ["Condition", "Delay", "MaxAttempts", "Window"]),
        ("TaskTemplate.Placement", ["Constraints", "Preferences", "MaxReplicas", "Platforms"]),
        ("UpdateConfig", ["Parallelism", "Delay", "FailureAction", "Monitor", "MaxFailureRatio", "Order"]),
        ("RollbackConfig", ["Parallelism", "Delay", "FailureAction", "Monitor", "MaxFailureRatio", "Order"]),
        ("EndpointSpec", ["Mode", "Ports"]),
        ("EndpointSpec.Ports", ["Name", "Protocol", "TargetPort", "PublishedPort", "PublishMode"]),
        ("Networks", ["Target", "Aliases", "DriverOpts"]),
        ("TaskTemplate.Networks", ["Target", "Aliases", "DriverOpts"]),
    ]
}
