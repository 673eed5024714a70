import ClusterState

/// Stops tasks that may no longer run where they are: the node is down or gone (its tasks are
/// lost), drained, no longer satisfies the task's placement constraints, or no longer runs task
/// networking while the task has network attachments. It runs first in a
/// round so the orchestrators see those slots as free and replace the tasks in the same round
/// (no restart delay: the task did not fail, its node did).
struct ConstraintEnforcer {
    private var parsed: [[String]: [PlacementConstraint]] = [:]

    mutating func enforce(_ index: RoundIndex, _ plan: inout RoundPlan) {
        for serviceID in index.servicesWithTasks {
            index.forEachTask(ofService: serviceID) { task in
                guard plan.isOccupying(task), let nodeID = task.nodeID else { return }
                if mustLeave(task, node: index.node(nodeID)) { plan.setDesired(task, .shutdown) }
            }
        }
    }

    private mutating func mustLeave(_ task: SwarmTask, node: Node?) -> Bool {
        guard let node, node.status.state != .down else { return true }
        if node.spec.availability == .drain { return true }
        if !(task.networksAttachments ?? []).isEmpty && !node.runsTaskNetworking { return true }
        guard let texts = task.spec.placement?.constraints, !texts.isEmpty else { return false }
        return constraints(texts).firstUnmet(by: node) != nil
    }

    /// A constraint that does not parse is not enforced here (the scheduler reports it).
    private mutating func constraints(_ texts: [String]) -> [PlacementConstraint] {
        if let known = parsed[texts] { return known }
        let result = (try? PlacementConstraint.parseAll(texts)) ?? []
        parsed[texts] = result
        return result
    }
}
