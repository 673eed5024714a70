import ClusterState

/// Decides when an empty slot (or a global service's empty node) gets a new task, following the
/// restart policy. It is separate from the orchestrators because both use it, and because the
/// rule is subtle: the policy (condition, delay, attempts, window) applies only to tasks that
/// ended on their own; a task the manager stopped (node lost, drained, constraint, update) is
/// replaced at once. Everything is derived from the slot's history, so a new leader decides the same.
struct RestartSupervisor {
    enum Decision: Equatable {
        case now
        case at(Timestamp)
        case never
    }

    /// swarmkit waits this long for an old task to stop during a stop-first update.
    static let oldTaskTimeoutMillis: UInt64 = 60_000

    /// `history` is the slot's tasks in creation order, none of them occupying the slot.
    static func decide(history: [SwarmTask], service: Service, plan: RoundPlan, index: RoundIndex) -> Decision {
        guard let latest = history.last else { return .now }
        if plan.desired(latest) > .running {
            return waitsForStopFirst(latest, service: service, plan: plan, index: index) ? .at(index.now) : .now
        }
        precondition(latest.status.state.isTerminal, "a slot's latest task wanted running must have stopped to free the slot")
        guard latest.endedOnItsOwn else { return .now }
        let policy = latest.spec.restartPolicy ?? RestartPolicy()
        switch policy.condition ?? .any {
        case .none: return .never
        case .onFailure:
            if latest.status.state == .complete && (latest.status.containerStatus?.exitCode ?? 0) == 0 { return .never }
        case .any: break
        }
        if let maxAttempts = policy.maxAttempts, maxAttempts > 0 {
            let windowStart: Timestamp? = (policy.window ?? 0) > 0 ? index.now.adding(nanoseconds: -(policy.window!)) : nil
            let failures = history.filter { task in
                task.endedOnItsOwn && (windowStart.map { task.status.timestamp >= $0 } ?? true)
            }
            // The first run is not a restart: `failures - 1` restarts happened so far.
            if UInt64(failures.count) > maxAttempts {
                guard let window = policy.window, window > 0 else { return .never }
                // Within a window, attempts free up as old failures leave it: the slot is
                // reconsidered once enough of them have.
                let times = failures.map(\.status.timestamp).sorted()
                return .at(times[failures.count - Int(maxAttempts) - 1].adding(nanoseconds: window))
            }
        }
        let due = latest.status.timestamp.adding(nanoseconds: policy.delay ?? 5_000_000_000)
        return index.now >= due ? .now : .at(due)
    }

    /// Stop-first update: the new task waits until the old one, stopped by the updater on a
    /// healthy node, has stopped (or for at most a minute).
    private static func waitsForStopFirst(_ old: SwarmTask, service: Service, plan: RoundPlan, index: RoundIndex) -> Bool {
        guard let state = service.updateStatus?.state, state == .updating || state == .rollbackStarted else { return false }
        let config = UpdateSupervisor.config(of: service)
        guard (config.order ?? .stopFirst) == .stopFirst, old.spec != service.spec.taskTemplate else { return false }
        guard !old.status.state.isTerminal, old.status.state >= .assigned,
              let node = index.node(old.nodeID), node.status.state == .ready, node.spec.availability != .drain else { return false }
        if plan.desiredOverrides[old.id] != nil { return true }
        return index.now < old.updatedAt.adding(milliseconds: oldTaskTimeoutMillis)
    }
}
