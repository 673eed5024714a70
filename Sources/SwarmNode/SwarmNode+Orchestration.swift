import ClusterState
import Orchestration
import Raft

// The leader runs the pure control loops: after every applied batch and on a short timer it
// asks the orchestrator what to change and proposes that, one round in flight at a time.
extension SwarmNode {
    /// The timer period that lets time-based decisions (restart delays, update monitors) happen.
    static let orchestrationPeriodMillis = 100

    /// Rounds start at least this far apart, so a stream of writes does not turn into a full
    /// reconciliation per applied batch.
    static let minimumRoundGapMillis: UInt64 = 20

    /// Asks for a round at the end of this loop iteration, or once the minimum gap since the
    /// last round has passed (many triggers coalesce into one round).
    func scheduleOrchestration() {
        guard !orchestrationScheduled, raft?.role == .leader else { return }
        orchestrationScheduled = true
        // The gap grows with the last round's cost (at least twice its length), so a large state
        // cannot keep the loop busy reconciling while writes wait.
        let gap = max(Self.minimumRoundGapMillis, 2 * lastOrchestrationCostMillis)
        let now = Clock.monotonicMillis()
        let wait = lastOrchestrationMillis + gap > now ? Int(lastOrchestrationMillis + gap - now) : 0
        let run = { [self] in
            orchestrationScheduled = false
            runOrchestrationRound()
        }
        if wait > 0 { _ = loop.schedule(afterMillis: wait, run) } else { loop.afterCurrentIteration(run) }
    }

    /// A leader may only act on a state that includes everything committed before its term:
    /// acting on a stale state could fill a slot that is already filled.
    var leaderStateIsCurrent: Bool {
        guard let current = raft, current.role == .leader else { return false }
        return current.term(at: current.commitIndex) == current.term && current.appliedIndex == current.commitIndex
    }

    func runOrchestrationRound() {
        guard !isStopped, orchestrationInFlight == 0, leaderStateIsCurrent, state.cluster != nil else { return }
        lastOrchestrationMillis = Clock.monotonicMillis()
        let commands = orchestrator.reconcile(state, now: Clock.now())
        lastOrchestrationCostMillis = Clock.monotonicMillis() - lastOrchestrationMillis
        nodeMetrics.orchestrationRound.observe(Double(lastOrchestrationCostMillis) / 1000)
        if lastOrchestrationCostMillis >= UInt64(configuration.raftTickMillis) {
            logger.warn("orchestration round took \(lastOrchestrationCostMillis) ms for \(commands.count) commands (the event loop waits meanwhile)")
        }
        guard !commands.isEmpty else { return }
        orchestrationInFlight = commands.count
        proposeCommands(commands) { [self] results in
            orchestrationInFlight = 0
            for case let .failure(failure) in results { logger.debug("orchestrator command refused: \(failure)") }
            scheduleOrchestration()
        }
    }
}
