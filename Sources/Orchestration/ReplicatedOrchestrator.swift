import ClusterState

/// Keeps slots 1...N of a replicated service filled: adds slots on scale-up, removes the highest
/// on scale-down (desired `remove`), and refills a slot whose task stopped, following the
/// restart policy. It never touches tasks of an update in progress beyond filling empty slots.
enum ReplicatedOrchestrator {
    static func reconcile(_ service: Service, replicas: UInt64, slots: [SlotKey: [SwarmTask]], order: [SlotKey], updating: Bool,
                          plan: inout RoundPlan, index: RoundIndex, factory: inout TaskFactory) {
        for key in order {
            let history = slots[key]!
            guard key.slot >= 1, key.slot <= replicas else {
                for task in history where plan.desired(task) < .remove { plan.setDesired(task, .remove) }
                continue
            }
            // The common case, one live task, allocates nothing.
            if history.count == 1 && plan.isOccupying(history[0]) { continue }
            let occupying = history.filter(plan.isOccupying)
            if occupying.count > 1 && !updating {
                SlotDeduplicator.keepOne(occupying, template: service.spec.taskTemplate, plan: &plan)
            }
            if occupying.isEmpty {
                refill(service, slot: key.slot, history: history, plan: &plan, index: index, factory: &factory)
            } else {
                SlotDeduplicator.retireReplaced(history, plan: &plan)
            }
        }
        // Slot keys are unique: if as many keys as replicas lie in 1...replicas, none is missing.
        let present = order.reduce(0) { $0 + ($1.slot >= 1 && $1.slot <= replicas ? 1 : 0) }
        guard replicas > 0, present < replicas else { return }
        for slot in 1...replicas where slots[SlotKey(slot: slot)] == nil {
            plan.create(factory.make(for: service, slot: slot, nodeID: nil, index: index))
        }
    }

    static func refill(_ service: Service, slot: UInt64, history: [SwarmTask], plan: inout RoundPlan, index: RoundIndex,
                       factory: inout TaskFactory) {
        switch RestartSupervisor.decide(history: history, service: service, plan: plan, index: index) {
        case .now: break
        case let .at(time):
            plan.revisit(service.id, at: time)
            return
        case .never: return
        }
        // The stopped task that ended on its own is now handled: mark it so it is history.
        if let latest = history.last, plan.desired(latest) <= .running { plan.setDesired(latest, .shutdown) }
        plan.create(factory.make(for: service, slot: slot, nodeID: nil, index: index))
    }
}

/// Two live tasks in one slot (a node came back, an interrupted start-first update): keep the
/// best one — up to date and running, else running, else the newest — and stop the others.
enum SlotDeduplicator {
    /// A stopped task still wanted running whose slot another task now holds (a start-first
    /// replacement that failed while the old task kept running, then a rollback) is history:
    /// wanted shut down, as Docker shows it, so `service ps` never lists it as current.
    static func retireReplaced(_ history: [SwarmTask], plan: inout RoundPlan) {
        for task in history where task.status.state.isTerminal && plan.desired(task) <= .running {
            plan.setDesired(task, .shutdown)
        }
    }

    static func keepOne(_ occupying: [SwarmTask], template: TaskTemplate, plan: inout RoundPlan) {
        precondition(occupying.count > 1)
        func rank(_ task: SwarmTask) -> Int {
            (task.status.state == .running ? 2 : 0) + (task.spec == template ? 1 : 0)
        }
        var best = occupying[0]
        for task in occupying.dropFirst() where rank(task) >= rank(best) { best = task }
        for task in occupying where task.id != best.id { plan.setDesired(task, .shutdown) }
    }
}
