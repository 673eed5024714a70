import ClusterState
import Executor

/// What the executor needs from a swarm task: the command, environment, limits, stop grace.
enum TaskSpecMapping {
    /// Every task's environment names its node's data directory, so leftovers of a node that
    /// died can be found (process backend) and ended without touching anything else.
    static let nodeMarker = "SWARMCTL_NODE_DIR"

    static func spec(for task: SwarmTask, nodeDirectory: String) -> TaskSpec {
        let container = task.spec.containerSpec
        let command = (container.command ?? []) + (container.args ?? [])
        var environment = container.env ?? []
        environment.append("\(nodeMarker)=\(nodeDirectory)")
        environment.append("SWARMCTL_TASK_ID=\(task.id)")
        if let slot = task.slot { environment.append("SWARMCTL_TASK_SLOT=\(slot)") }
        let graceMillis = container.stopGracePeriod.map { Int($0 / 1_000_000) } ?? 10_000
        var spec = TaskSpec(command: command, environment: environment, workingDirectory: container.dir, user: container.user,
                            stopGraceMillis: max(0, graceMillis))
        spec.image = container.image
        spec.hostname = container.hostname
        let limits = task.spec.resources?.limits
        spec.resources = TaskResources(memoryBytes: limits?.memoryBytes, nanoCPUs: limits?.nanoCPUs, pidsLimit: limits?.pids)
        return spec
    }
}
