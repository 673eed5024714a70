import ClusterState
import Orchestration
import Raft

// The node as the host of its orchestration runner (the leader's control loops).
extension SwarmNode: OrchestrationRunnerHost {
    /// Asks for an orchestration round (`OrchestrationRunner.schedule`).
    func scheduleOrchestration() {
        orchestrationRunner.schedule()
    }

    /// A leader may only act on a state that includes everything committed before its term:
    /// acting on a stale state could fill a slot that is already filled.
    var leaderStateIsCurrent: Bool {
        guard let log = replicatedLog, log.raft.role == .leader else { return false }
        return log.raft.term(at: log.raft.commitIndex) == log.raft.term && log.raft.appliedIndex == log.raft.commitIndex
    }

    func observeOrchestrationRound(millis: UInt64) {
        nodeMetrics.orchestrationRound.observe(Double(millis) / 1000)
    }
}
