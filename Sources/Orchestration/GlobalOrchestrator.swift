import ClusterState

/// Runs one task of a global service on every eligible node: ready, active, matching the
/// constraints. Nodes that join later get theirs in the next round; tasks leave nodes that drain
/// or stop matching (the constraint enforcer stops them). A paused node keeps its task but gets
/// no new one. Resources are the scheduler's business: a task that does not fit stays pending.
enum GlobalOrchestrator {
    static func reconcile(_ service: Service, slots: [SlotKey: [SwarmTask]], updating: Bool,
                          plan: inout RoundPlan, index: RoundIndex, factory: inout TaskFactory) {
        let constraints = try? PlacementConstraint.parseAll(service.spec.taskTemplate.placement?.constraints)
        for node in index.nodes {
            let history = slots[SlotKey(nodeID: node.id)] ?? []
            let occupying = history.filter(plan.isOccupying)
            if occupying.count > 1 && !updating {
                SlotDeduplicator.keepOne(occupying, template: service.spec.taskTemplate, plan: &plan)
            }
            guard occupying.isEmpty, node.status.state == .ready, node.spec.availability == .active,
                  let constraints, constraints.firstUnmet(by: node) == nil else { continue }
            guard RestartSupervisor.decide(history: history, service: service, plan: plan, index: index) == .now else { continue }
            if let latest = history.last, plan.desired(latest) <= .running { plan.setDesired(latest, .shutdown) }
            plan.create(factory.make(for: service, slot: nil, nodeID: node.id, index: index))
        }
    }
}
