import ClusterState

/// Rolls a service's tasks onto its current template while `UpdateStatus` is `updating` or
/// `rollback_started`: `parallelism` slots at a time (0 = all), `delay` after each slot finishes,
/// stop-first (old task stops, then its replacement starts) or start-first (the replacement runs
/// before the old task stops), failures of new tasks checked against `maxFailureRatio` with
/// action pause | continue | rollback, and "completed" one `monitor` period after the last slot.
///
/// Progress is derived from the tasks (which slots still run an old template, which new tasks
/// are not yet running), so a new leader resumes the update where the old one left it. Only
/// the pacing (when the last slot finished) lives in memory, in an `UpdateTracker`.
enum UpdateSupervisor {
    /// The config that drives this update: `RollbackConfig` during a rollback, Docker's defaults
    /// for anything unset.
    static func config(of service: Service) -> UpdateConfig {
        let rollingBack = service.updateStatus?.state == .rollbackStarted
        let chosen = (rollingBack ? service.spec.rollbackConfig : service.spec.updateConfig) ?? UpdateConfig()
        return chosen.filled(from: .dockerDefault)
    }

    static func isActive(_ service: Service) -> Bool {
        service.updateStatus?.state == .updating || service.updateStatus?.state == .rollbackStarted
    }

    /// A slot's standing in the update.
    private enum SlotState {
        case done
        case inFlight
        case dirty(old: [SwarmTask], hasRunning: Bool)
    }

    /// `limit` is the replica count (slots above it are being removed); `nodes`, for a global
    /// service, the nodes it should run on (other nodes' slots are left to empty out).
    static func supervise(_ service: Service, slots: [SlotKey: [SwarmTask]], order: [SlotKey], limit: UInt64?, nodes: Set<String>?, tracker: inout UpdateTracker,
                          plan: inout RoundPlan, index: RoundIndex, factory: inout TaskFactory) {
        guard let status = service.updateStatus, isActive(service) else { return }
        let rollingBack = status.state == .rollbackStarted
        let config = config(of: service)
        let template = service.spec.taskTemplate
        let startedAt = status.startedAt ?? service.updatedAt
        tracker.restart(startedAt: startedAt, rollback: rollingBack)

        var dirty: [(key: SlotKey, old: [SwarmTask], hasRunning: Bool)] = []
        var inFlight = 0
        var considered = 0
        for key in order {
            if let limit, key.slot > limit || key.slot == 0 { continue }
            if let nodes, !nodes.contains(key.nodeID) { continue }
            considered += 1
            switch classify(slots[key]!, template: template, plan: &plan) {
            case .done: break
            case .inFlight: inFlight += 1
            case let .dirty(old, hasRunning): dirty.append((key, old, hasRunning))
            }
        }
        if inFlight < tracker.inFlight { tracker.lastFinishedAt = index.now }
        tracker.inFlight = inFlight

        if let failed = firstFailure(slots, template: template, since: startedAt),
           Double(failureCount(slots, template: template, since: startedAt)) / Double(max(considered, 1)) > (config.maxFailureRatio ?? 0) {
            switch config.failureAction ?? .pause {
            case .pause:
                pause(service, status: status, taskID: failed.id, plan: &plan)
                return
            case .rollback where !rollingBack:
                if service.previousSpec != nil {
                    plan.service(.rollbackService(id: service.id, version: service.version, at: index.now))
                    tracker.rollbackReason = "update rolled back due to failure or early termination of task \(failed.id)"
                } else {
                    pause(service, status: status, taskID: failed.id, plan: &plan)
                }
                return
            case .rollback:
                pause(service, status: status, taskID: failed.id, plan: &plan)
                return
            case .continue: break
            }
        }

        if dirty.isEmpty && inFlight == 0 {
            complete(service, status: status, config: config, tracker: tracker, startedAt: startedAt, plan: &plan, index: index)
            return
        }
        let parallelism = Int(config.parallelism ?? 1)
        var room = parallelism == 0 ? dirty.count : max(0, parallelism - inFlight)
        if let delay = config.delay, delay > 0 {
            if inFlight > 0 { room = 0 }
            if let finished = tracker.lastFinishedAt, index.now < finished.adding(nanoseconds: delay) { room = 0 }
        }
        // Slots whose task is not running anyway go first: updating them costs no capacity.
        let ordered = dirty.sorted { ($0.hasRunning ? 1 : 0, $0.key) < ($1.hasRunning ? 1 : 0, $1.key) }
        for slot in ordered.prefix(room) {
            start(slot.key, old: slot.old, service: service, order: config.order ?? .stopFirst, plan: &plan, index: index,
                  factory: &factory)
            inFlight += 1
        }
        tracker.inFlight = inFlight
    }

    /// Done: every live task is up to date and running (or the slot is empty on its own).
    /// In flight: a replacement is not running yet, or the old task is stopping before it.
    private static func classify(_ history: [SwarmTask], template: TaskTemplate, plan: inout RoundPlan) -> SlotState {
        // An update that replaced an unfinished start-first update leaves two out-of-date tasks
        // in a slot (the old one and its replacement): keep the best, stop the other now rather
        // than when the rolling update reaches the slot (found by the control-plane simulator,
        // seeds 3, 19 and 114).
        for group in [history.filter(plan.isOccupying).filter { $0.spec != template },
                      history.filter(plan.isOccupying).filter { $0.spec == template }] where group.count > 1 {
            SlotDeduplicator.keepOne(group, template: template, plan: &plan)
        }
        let occupying = history.filter(plan.isOccupying)
        let old = occupying.filter { $0.spec != template }
        let new = occupying.filter { $0.spec == template }
        if old.isEmpty {
            if new.contains(where: { $0.status.state < .running }) { return .inFlight }
            if new.isEmpty, let latest = history.last, plan.desired(latest) > .running { return .inFlight }
            return .done
        }
        if !new.isEmpty {
            // Start-first: once a replacement runs, the old task may stop.
            guard new.contains(where: { $0.status.state == .running }) else { return .inFlight }
            for task in old { plan.setDesired(task, .shutdown) }
            return .done
        }
        return .dirty(old: old, hasRunning: old.contains { $0.status.state == .running })
    }

    private static func start(_ key: SlotKey, old: [SwarmTask], service: Service, order: UpdateOrder,
                              plan: inout RoundPlan, index: RoundIndex, factory: inout TaskFactory) {
        switch order {
        case .stopFirst:
            // The replicated/global orchestrator refills the slot once the old task has stopped.
            for task in old { plan.setDesired(task, .shutdown) }
        case .startFirst:
            let task = key.nodeID.isEmpty
                ? factory.make(for: service, slot: key.slot, nodeID: nil, index: index)
                : factory.make(for: service, slot: nil, nodeID: key.nodeID, index: index)
            plan.create(task)
        }
    }

    /// Tasks of this update (current template, created since it started) that stopped on their own.
    private static func failures(_ slots: [SlotKey: [SwarmTask]], template: TaskTemplate, since: Timestamp) -> [SwarmTask] {
        slots.values.flatMap { $0.filter { $0.createdAt >= since && $0.endedOnItsOwn && $0.spec == template } }
            .sorted(by: SwarmTask.creationOrder)
    }

    private static func firstFailure(_ slots: [SlotKey: [SwarmTask]], template: TaskTemplate, since: Timestamp) -> SwarmTask? {
        failures(slots, template: template, since: since).first
    }

    private static func failureCount(_ slots: [SlotKey: [SwarmTask]], template: TaskTemplate, since: Timestamp) -> Int {
        failures(slots, template: template, since: since).count
    }

    private static func pause(_ service: Service, status: UpdateStatus, taskID: String, plan: inout RoundPlan) {
        let rollingBack = status.state == .rollbackStarted
        let message = "\(rollingBack ? "rollback" : "update") paused due to failure or early termination of task \(taskID)"
        let paused = UpdateStatus(state: rollingBack ? .rollbackPaused : .paused, startedAt: status.startedAt, message: message)
        plan.service(.setServiceUpdateStatus(id: service.id, version: service.version, status: paused, at: plan.now))
    }

    private static func complete(_ service: Service, status: UpdateStatus, config: UpdateConfig, tracker: UpdateTracker,
                                 startedAt: Timestamp, plan: inout RoundPlan, index: RoundIndex) {
        let lastChange = tracker.lastFinishedAt ?? startedAt
        guard index.now >= lastChange.adding(nanoseconds: config.monitor ?? 0) else { return }
        let rollingBack = status.state == .rollbackStarted
        let done = UpdateStatus(state: rollingBack ? .rollbackCompleted : .completed, startedAt: status.startedAt,
                                completedAt: index.now, message: rollingBack ? "rollback completed" : "update completed")
        plan.service(.setServiceUpdateStatus(id: service.id, version: service.version, status: done, at: index.now))
    }
}

/// The in-memory pacing of one service's update; lost on a leader change, which only means the
/// new leader starts the next slot without waiting out the remaining delay.
struct UpdateTracker: Sendable {
    var startedAt: Timestamp?
    var rollback = false
    /// Slots in flight at the end of the previous round.
    var inFlight = 0
    /// When a slot last finished (its replacement runs), for `delay` and `monitor`.
    var lastFinishedAt: Timestamp?
    /// Why this orchestrator started a rollback, to replace ClusterState's generic message.
    var rollbackReason: String?

    mutating func restart(startedAt: Timestamp, rollback: Bool) {
        guard self.startedAt != startedAt || self.rollback != rollback else { return }
        let reason = rollbackReason
        self = UpdateTracker(startedAt: startedAt, rollback: rollback)
        if rollback { rollbackReason = reason }
    }
}
