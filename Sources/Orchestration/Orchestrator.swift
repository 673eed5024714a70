import ClusterState

/// The leader's control loops over the replicated state: replicated and global orchestration,
/// restarts, rolling updates, scheduling, constraint enforcement and task reaping.
///
/// It exists as a pure value so the simulator can replay any seed exactly: it reads the state and
/// a time, and answers with commands to propose. It never performs I/O, reads a clock or spawns
/// threads. Commands carry object versions, so a command made stale by a concurrent write is
/// refused by `ClusterState.apply` and the next round retries from the newer state.
///
/// One round runs the loops in a fixed order, each seeing the decisions of the ones before:
/// constraint enforcer (lost, drained, mismatched nodes) → per service: update supervisor, then
/// replicated or global orchestrator (fill slots, restart policy, scale) → scheduler (pending and
/// just-created tasks) → task reaper. Everything is re-derived from the state each round; only
/// update pacing lives in memory.
///
/// A round looks only at the services a `ChangeWatch` puts in scope (objects or tasks changed
/// since the last round, timers due, follow-ups), so its cost follows what changed rather than
/// how many services exist; the first round, and one a minute, looks at everything.
public struct Orchestrator: Sendable {
    private var factory: TaskFactory
    private var updates: [String: UpdateTracker] = [:]
    private var watch = ChangeWatch()
    /// Services the last round looked at (nil: all of them), for tests and metrics.
    public private(set) var lastRoundScope: Int?

    /// `seed` drives the ids of the tasks this orchestrator creates. Give each leader term its
    /// own seed (e.g. mix in the node id and term); ids are also checked against the state.
    public init(seed: UInt64) {
        factory = TaskFactory(ids: TaskIDGenerator(seed: seed))
    }

    /// One reconciliation round at time `now`: the commands that move `state` toward every
    /// service's desired state. The caller proposes them and calls again once they are applied
    /// (or refused), and periodically, so time-based decisions (restart delays) are taken.
    public mutating func reconcile(_ state: ClusterState, now: Timestamp) -> [ClusterCommand] {
        guard state.cluster != nil else { return [] }
        factory.endRound()
        factory.ids.mix(state.appliedIndex)
        let scope = watch.scope(state, now: now)
        lastRoundScope = scope?.count
        let index = RoundIndex(state, now: now, scope: scope)
        var plan = RoundPlan(now: now)
        var enforcer = ConstraintEnforcer()
        enforcer.enforce(index, &plan)
        for serviceID in index.serviceIDs {
            reconcileService(state.services[serviceID]!, index: index, plan: &plan)
        }
        if !updates.isEmpty { updates = updates.filter { state.services[$0.key].map(UpdateSupervisor.isActive) ?? false } }
        Scheduler.schedule(index, &plan)
        TaskReaper.reap(index, &plan)
        watch.finish(plan, scope: scope, state: state)
        return plan.commands()
    }

    private mutating func reconcileService(_ service: Service, index: RoundIndex, plan: inout RoundPlan) {
        let slots = index.slotsByService[service.id] ?? [:]
        let order = index.slotOrder[service.id] ?? []
        let updating = UpdateSupervisor.isActive(service)
        var limit: UInt64?
        var nodes: Set<String>?
        switch service.spec.mode {
        case let .replicated(replicas): limit = replicas
        case .global: if updating { nodes = GlobalOrchestrator.eligibleNodes(for: service, index: index) }
        }
        if updating {
            // Update pacing (delay, monitor, stop-first timeout) depends on time: look again next round.
            plan.revisit(service.id, at: index.now)
            var tracker = updates[service.id] ?? UpdateTracker()
            if !explainRollback(service, tracker: &tracker, plan: &plan) {
                UpdateSupervisor.supervise(service, slots: slots, order: order, limit: limit, nodes: nodes, tracker: &tracker, plan: &plan, index: index,
                                           factory: &factory)
            }
            updates[service.id] = tracker
        }
        switch service.spec.mode {
        case let .replicated(replicas):
            ReplicatedOrchestrator.reconcile(service, replicas: replicas, slots: slots, order: order, updating: updating, plan: &plan,
                                             index: index, factory: &factory)
        case .global:
            GlobalOrchestrator.reconcile(service, slots: slots, updating: updating, plan: &plan, index: index,
                                         factory: &factory)
        }
    }

    /// `rollbackService` records "manually requested rollback"; when this orchestrator started
    /// the rollback it replaces that with the reason, as Docker shows it. Returns true when it did
    /// (the service's version changes, so the update supervisor waits for the next round).
    private func explainRollback(_ service: Service, tracker: inout UpdateTracker, plan: inout RoundPlan) -> Bool {
        guard let status = service.updateStatus, status.state == .rollbackStarted,
              status.message == "manually requested rollback", let reason = tracker.rollbackReason else { return false }
        tracker.rollbackReason = nil
        let explained = UpdateStatus(state: .rollbackStarted, startedAt: status.startedAt, message: reason)
        plan.service(.setServiceUpdateStatus(id: service.id, version: service.version, status: explained, at: plan.now))
        return true
    }
}
