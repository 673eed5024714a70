import ClusterState

/// Which services a round must look at: the ones whose objects or tasks changed since the last
/// round (read from the state's `ChangeJournal`), plus timers (restart delays, update pacing and
/// monitors), plus follow-ups of the last round's own commands (in case they never applied).
/// This keeps a round's cost proportional to what changed, not to the number of services.
///
/// Node changes widen the scope to the services with tasks on those nodes and to every global
/// service; a change that may free capacity (a node change, a task leaving a node) widens it to
/// the services that still have tasks waiting for a node. A full pass happens when there is no
/// history to go on (first round, journal overrun, state replaced), when the task history limit
/// changed. As a safety net, a rolling sweep adds the next services in id order to every round,
/// as many as the time since the last round calls for, so each service is looked at about every
/// `fullSweepMillis` (a full pass of 100,000 services kept the leader's loop 0.6 s, writes waiting).
struct ChangeWatch: Sendable {
    static let fullSweepMillis: UInt64 = 60_000

    private var seenIndex: UInt64?
    private var historyLimit: Int64?
    /// The rolling sweep: the last service id it covered (nil: start from the first), when the
    /// last round ran, and the service-milliseconds owed (a service is due per `fullSweepMillis`).
    private var sweepCursor: String?
    private var lastRound: Timestamp?
    private var sweepCredit: UInt64 = 0
    /// Services to look at again once `now` reaches the time.
    private var wakeups: [String: Timestamp] = [:]
    /// Services the last round proposed commands for.
    private var followUps: Set<String> = []
    /// Services with tasks the scheduler could not place.
    private var unplaced: Set<String> = []
    private var globalServices: Set<String> = []

    /// The services this round must reconcile, or nil for all of them.
    mutating func scope(_ state: ClusterState, now: Timestamp) -> Set<String>? {
        defer { seenIndex = state.appliedIndex }
        let limit = state.cluster?.spec.orchestration.taskHistoryRetentionLimit
        let previousRound = lastRound
        lastRound = now
        guard let seen = seenIndex, seen <= state.appliedIndex, limit == historyLimit,
              let changes = state.changes.changes(after: seen) else {
            historyLimit = limit
            sweepCursor = nil
            sweepCredit = 0
            wakeups = [:]
            followUps = []
            globalServices = Set(state.services.values.lazy.filter { $0.spec.mode.isGlobal }.map(\.id))
            return nil
        }
        var scope = followUps
        followUps = []
        for (serviceID, due) in wakeups where due <= now { scope.insert(serviceID) }
        for serviceID in scope { wakeups[serviceID] = nil }
        var changedNodes = Set<String>()
        var capacityChanged = false
        for change in changes {
            switch change.object {
            case .cluster:
                break
            case let .node(id):
                changedNodes.insert(id)
            case let .service(id):
                scope.insert(id)
                if let service = state.services[id] {
                    if service.spec.mode.isGlobal { globalServices.insert(id) } else { globalServices.remove(id) }
                } else {
                    globalServices.remove(id)
                    capacityChanged = true
                }
            case let .task(id, serviceID, nodeID):
                scope.insert(serviceID)
                if nodeID != nil && !capacityChanged { capacityChanged = mayFreeCapacity(state.tasks[id]) }
            }
        }
        if !changedNodes.isEmpty {
            capacityChanged = true
            scope.formUnion(globalServices)
            for nodeID in changedNodes {
                for taskID in state.taskIDs(onNode: nodeID) {
                    if let task = state.tasks[taskID] { scope.insert(task.serviceID) }
                }
            }
        }
        if capacityChanged { scope.formUnion(unplaced) }
        scope.formUnion(sweep(state, since: previousRound, now: now))
        return scope
    }

    /// The next services of the rolling sweep: the credit grows by the number of services times
    /// the milliseconds since the last round, and each `fullSweepMillis` of it is one service.
    private mutating func sweep(_ state: ClusterState, since previous: Timestamp?, now: Timestamp) -> [String] {
        let total = UInt64(state.services.count)
        guard let previous, now > previous, total > 0 else { return [] }
        let elapsed = now.millisecondsSinceEpoch - previous.millisecondsSinceEpoch
        sweepCredit = min(sweepCredit + total * min(elapsed, Self.fullSweepMillis), total * Self.fullSweepMillis)
        let due = Int(sweepCredit / Self.fullSweepMillis)
        guard due > 0 else { return [] }
        sweepCredit -= UInt64(due) * Self.fullSweepMillis
        var slice = state.serviceIDs(after: sweepCursor, limit: due)
        if slice.count < due {
            // Past the last id: the sweep starts over from the first.
            slice += state.serviceIDs(after: nil, limit: min(due - slice.count, Int(total) - slice.count))
        }
        sweepCursor = slice.last
        return slice
    }

    /// Records what the round left to do: timers, follow-ups, services still waiting for a node.
    mutating func finish(_ plan: RoundPlan, scope: Set<String>?, state: ClusterState) {
        for (serviceID, due) in plan.revisits {
            if let known = wakeups[serviceID], known <= due { continue }
            wakeups[serviceID] = due
        }
        followUps = plan.servicesTouched(in: state)
        if let scope { unplaced.subtract(scope) } else { unplaced = [] }
        unplaced.formUnion(plan.unplacedServices)
    }

    /// Capacity on a node may have been freed: the task is gone, stopped or being stopped.
    private func mayFreeCapacity(_ task: SwarmTask?) -> Bool {
        guard let task else { return true }
        return task.status.state.isTerminal || task.desiredState > .running
    }
}
