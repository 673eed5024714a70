import ClusterState

/// Runs one task of a global service on every eligible node: ready, active, matching the
/// constraints, running task networking if the service's tasks have network attachments. Nodes that join later get theirs in the next round; tasks leave nodes that drain
/// or stop matching (the constraint enforcer stops them). A paused node keeps its task but gets
/// no new one. Resources are the scheduler's business: a task that does not fit stays pending.
enum GlobalOrchestrator {
    static func reconcile(_ service: Service, slots: [SlotKey: [SwarmTask]], updating: Bool,
                          plan: inout RoundPlan, index: RoundIndex, factory: inout TaskFactory) {
        let constraints = try? PlacementConstraint.parseAll(service.spec.taskTemplate.placement?.constraints)
        let networked = index.state.needsTaskNetworking(serviceID: service.id, template: service.spec.taskTemplate)
        for node in index.nodes {
            let history = slots[SlotKey(nodeID: node.id)] ?? []
            let occupying = history.filter(plan.isOccupying)
            if occupying.count > 1 && !updating {
                SlotDeduplicator.keepOne(occupying, template: service.spec.taskTemplate, plan: &plan)
            }
            if !occupying.isEmpty { SlotDeduplicator.retireReplaced(history, plan: &plan) }
            guard occupying.isEmpty, node.spec.availability == .active, isEligible(node, constraints, networked: networked) else { continue }
            switch RestartSupervisor.decide(history: history, service: service, plan: plan, index: index) {
            case .now: break
            case let .at(time):
                plan.revisit(service.id, at: time)
                continue
            case .never: continue
            }
            if let latest = history.last, plan.desired(latest) <= .running { plan.setDesired(latest, .shutdown) }
            plan.create(factory.make(for: service, slot: nil, nodeID: node.id, index: index))
        }
    }

    /// Ready, not drained, matching the constraints, running task networking if the tasks need
    /// it (a paused node keeps its task).
    static func isEligible(_ node: Node, _ constraints: [PlacementConstraint]?, networked: Bool) -> Bool {
        guard let constraints else { return false }
        return node.status.state == .ready && node.spec.availability != .drain && constraints.firstUnmet(by: node) == nil
            && (!networked || node.runsTaskNetworking)
    }

    /// The nodes a global service should run on now.
    static func eligibleNodes(for service: Service, index: RoundIndex) -> Set<String> {
        let constraints = try? PlacementConstraint.parseAll(service.spec.taskTemplate.placement?.constraints)
        let networked = index.state.needsTaskNetworking(serviceID: service.id, template: service.spec.taskTemplate)
        return Set(index.nodes.filter { isEligible($0, constraints, networked: networked) }.map(\.id))
    }
}
