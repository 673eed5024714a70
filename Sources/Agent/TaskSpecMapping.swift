import ClusterState
import Executor
import Platform

/// What the executor needs from a swarm task: the command, environment, limits, stop grace.
enum TaskSpecMapping {
    static func spec(for task: SwarmTask, nodeDirectory: String) -> TaskSpec {
        let container = task.spec.containerSpec
        let command = (container.command ?? []) + (container.args ?? [])
        var environment = container.env ?? []
        environment.append("\(TaskSpec.nodeDirectoryVariable)=\(nodeDirectory)")
        environment.append("SWARMCTL_TASK_ID=\(task.id)")
        if let slot = task.slot { environment.append("SWARMCTL_TASK_SLOT=\(slot)") }
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
        return spec
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
