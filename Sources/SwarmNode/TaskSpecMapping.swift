import ClusterState
import Executor
import Platform

/// What the executor needs from a swarm task: the command, environment, limits, stop grace.
enum TaskSpecMapping {
    static func spec(for task: SwarmTask, nodeDirectory: String) -> TaskSpec {
        let container = task.spec.containerSpec
        let command = (container.command ?? []) + (container.args ?? [])
        // Nothing of swarmctl's own (docker sets no variables either): leftovers are found by
        // the executor's pid records and runtime state, not by marks in the environment.
        let environment = container.env ?? []
        let graceMillis = container.stopGracePeriod.map { Int($0 / 1_000_000) } ?? 10_000
        var spec = TaskSpec(command: command, environment: environment, workingDirectory: container.dir, user: container.user,
                            stopGraceMillis: max(0, graceMillis))
        spec.image = container.image
        spec.hostname = container.hostname
        // The API refuses a name that is no signal, so nil here is only an empty or absent one.
        if let signal = container.stopSignal.flatMap(Signals.number(named:)) { spec.stopSignal = signal }
        let limits = task.spec.resources?.limits
        spec.resources = TaskResources(memoryBytes: limits?.memoryBytes, nanoCPUs: limits?.nanoCPUs, pidsLimit: limits?.pids)
        spec.healthCheck = healthCheck(container.healthcheck)
        applyContainerSettings(container, to: &spec)
        return spec
    }

    /// Mounts, root file system, capabilities, limits, name resolution, groups, seccomp and init; the
    /// API validated them (`ContainerSettingsValidation`), so what is unknown here is skipped.
    static func applyContainerSettings(_ container: ContainerSpec, to spec: inout TaskSpec) {
        spec.mounts = (container.mounts ?? []).compactMap(mount)
        spec.readOnlyRootfs = container.readOnly ?? false
        spec.capabilityAdd = (container.capabilityAdd ?? []).compactMap(ContainerSettingsValidation.capabilityName)
        spec.capabilityDrop = (container.capabilityDrop ?? []).compactMap(ContainerSettingsValidation.capabilityName)
        spec.ulimits = (container.ulimits ?? []).compactMap { ulimit in
            guard TaskUlimit.resources[ulimit.name] != nil, ulimit.soft >= 0, ulimit.hard >= ulimit.soft else { return nil }
            return TaskUlimit(name: ulimit.name, soft: UInt64(ulimit.soft), hard: UInt64(ulimit.hard))
        }
        spec.sysctls = container.sysctls ?? [:]
        if let dns = container.dnsConfig, !dns.isEmpty {
            spec.dns = TaskDNS(nameservers: dns.nameservers ?? [], search: dns.search ?? [], options: dns.options ?? [])
        }
        spec.extraHosts = container.hosts ?? []
        spec.groups = container.groups ?? []
        spec.seccomp = container.privileges?.seccomp?.mode == "unconfined" ? .unconfined : .default
        spec.initProcess = container.initProcess ?? false
    }

    static func mount(_ mount: Mount) -> TaskMount? {
        guard let kind = TaskMount.Kind(rawValue: mount.type) else { return nil }
        var result = TaskMount(kind: kind, source: mount.source ?? "", target: mount.target, readOnly: mount.readOnly ?? false,
                               propagation: mount.bindOptions?.propagation.flatMap(TaskMount.Propagation.init(rawValue:)),
                               tmpfsSizeBytes: mount.tmpfsOptions?.sizeBytes, tmpfsMode: mount.tmpfsOptions?.mode)
        result.noCopy = mount.volumeOptions?.noCopy ?? false
        return result
    }

    /// Docker's `Healthcheck` (`CMD-SHELL cmd`, `CMD argv…`, `NONE`; durations in ns, 0 meaning
    /// the default) as the executor's probe.
    static func healthCheck(_ config: HealthConfig?) -> HealthCheck? {
        guard let config, let test = config.test, let kind = test.first else { return nil }
        let command: [String]
        switch kind {
        case "CMD-SHELL" where test.count >= 2: command = ["/bin/sh", "-c", test.dropFirst().joined(separator: " ")]
        case "CMD" where test.count >= 2: command = Array(test.dropFirst())
        default: return nil
        }
        func millis(_ nanos: Int64?, _ fallback: Int) -> Int { nanos.map { $0 > 0 ? Int($0 / 1_000_000) : fallback } ?? fallback }
        return HealthCheck(command: command, intervalMillis: max(1, millis(config.interval, 30_000)), timeoutMillis: max(1, millis(config.timeout, 30_000)),
                           retries: max(1, Int(config.retries ?? 3)), startPeriodMillis: millis(config.startPeriod, 0))
    }
}
