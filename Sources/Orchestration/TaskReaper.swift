import ClusterState

/// Deletes what no one needs any more, so the state (and every snapshot) stays bounded:
/// history beyond `taskHistoryRetentionLimit` stopped tasks per slot (or per node for global
/// services), tasks marked `remove` once they stopped or if they never reached a node, and the
/// tasks of removed services likewise. A stopped task that was never assigned is marked
/// `shutdown` so it does not look pending forever.
enum TaskReaper {
    static let neverAssignedMessage = "task stopped before it was assigned"

    static func reap(_ index: RoundIndex, _ plan: inout RoundPlan) {
        for serviceID in index.servicesWithTasks {
            var removed = Set<String>()
            let serviceGone = index.state.services[serviceID] == nil
            index.forEachTask(ofService: serviceID) { task in
                if isUnwanted(task, serviceGone: serviceGone, plan, index) && isStopped(task, index) {
                    plan.remove(task.id)
                    removed.insert(task.id)
                } else if neverAssigned(task) && plan.desired(task) > .running && task.status.state < .shutdown {
                    plan.report(task.id, TaskStatus(timestamp: index.now, state: .shutdown, message: neverAssignedMessage))
                }
            }
            guard index.historyLimit >= 0, !serviceGone else { continue }
            trimHistory(index.slotsByService[serviceID]!, order: index.slotOrder[serviceID]!, removed: removed,
                        limit: index.historyLimit, plan: &plan)
        }
    }

    /// Its service is gone, it was scaled away, or it was stopped and its node is gone.
    private static func isUnwanted(_ task: SwarmTask, serviceGone: Bool, _ plan: RoundPlan, _ index: RoundIndex) -> Bool {
        if serviceGone || plan.desired(task) >= .remove { return true }
        return task.nodeID != nil && index.node(task.nodeID) == nil && plan.desired(task) > .running
    }

    /// The task will not run again: it stopped, never reached a node, or its node is gone.
    private static func isStopped(_ task: SwarmTask, _ index: RoundIndex) -> Bool {
        task.status.state.isTerminal || neverAssigned(task) || index.node(task.nodeID) == nil
    }

    private static func neverAssigned(_ task: SwarmTask) -> Bool { task.status.state < .assigned }

    /// Keeps the newest `limit` stopped tasks of each slot; a stopped task still wanted running
    /// (waiting out its restart delay) is not history yet.
    private static func trimHistory(_ slots: [SlotKey: [SwarmTask]], order: [SlotKey], removed: Set<String>, limit: Int,
                                    plan: inout RoundPlan) {
        for key in order {
            let slot = slots[key]!
            guard slot.count > limit else { continue }
            let history = slot.filter { $0.status.state.isTerminal && plan.desired($0) > .running && !removed.contains($0.id) }
            guard history.count > limit else { continue }
            for task in history.prefix(history.count - limit) { plan.remove(task.id) }
        }
    }
}
