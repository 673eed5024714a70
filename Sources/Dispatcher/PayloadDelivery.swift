import ClusterState

/// Which secrets and configs the dispatcher sends a node: those referenced by the node's tasks
/// that have not finished, and no others.
///
/// It exists so the rule "a secret goes only to a node with a task that needs it, and is
/// forgotten once no such task remains" lives in one pure place that the node shell and the
/// control-plane simulator both call before asking `AssignmentDispatcher` for a message.
public enum PayloadDelivery {
    /// The payloads `tasks` (one node's assigned tasks) need, in key order.
    public static func payloads(for tasks: [SwarmTask], in state: ClusterState) -> [TaskPayload] {
        let unfinished = tasks.filter { !$0.status.state.isTerminal && !$0.spec.containerSpec.payloadReferences.isEmpty }
        guard !unfinished.isEmpty else { return [] }
        return state.payloads(neededBy: unfinished)
    }
}
