import ClusterState

/// Builds new tasks following the convention shared with the agent and the shell: status
/// `pending` with "pending task scheduling", desired `running`, the service's current template,
/// a slot for replicated services and a node for global ones, and a Docker-style id.
struct TaskFactory {
    var ids: TaskIDGenerator
    private var issued: Set<String> = []

    static let pendingMessage = "pending task scheduling"

    init(ids: TaskIDGenerator) { self.ids = ids }

    mutating func make(for service: Service, slot: UInt64?, nodeID: String?, index: RoundIndex) -> SwarmTask {
        precondition((slot == nil) != (nodeID == nil), "a task has a slot (replicated) or a node (global), not both")
        var id = ids.nextID(avoiding: index.state.tasks)
        while !issued.insert(id).inserted { id = ids.nextID(avoiding: index.state.tasks) }
        var task = SwarmTask(id: id, createdAt: index.now, serviceID: service.id, slot: slot, nodeID: nodeID,
                             spec: service.spec.taskTemplate, desiredState: .running,
                             status: TaskStatus(timestamp: index.now, state: .pending, message: Self.pendingMessage))
        task.serviceAnnotations = TaskServiceAnnotations(name: service.spec.name)
        return task
    }

    /// Forgets the ids issued in the last round (they are in the state by now, or were refused).
    mutating func endRound() { issued.removeAll(keepingCapacity: true) }
}
