import API
import ClusterState
import Raft

/// What this node counts for `/metrics` beyond the values it already keeps (Raft's term and
/// indexes, the dispatcher's totals): proposals, elections, leader changes and two histograms.
///
/// It exists so the hooks in the Ready loop, the write path and the orchestrator stay one line
/// each; everything is updated and read on the node's loop.
struct NodeMetrics {
    /// Entries this node proposed to Raft as leader.
    var proposals: UInt64 = 0
    /// New Raft terms seen since this node started Raft (each term begins with an election).
    private(set) var elections: UInt64 = 0
    /// Times the leader this node knows changed to another known leader or to none.
    var leaderChanges: UInt64 = 0
    /// Duration of each storage save of a Ready (append + hard state + fsync).
    var storageSave = Histogram()
    /// Duration of each orchestration round on the leader.
    var orchestrationRound = Histogram()
    /// Entries made durable by each storage save (a group of Readys written with one fsync) that
    /// wrote any: how many writes share an fsync.
    var entriesPerSave = Histogram(bounds: NodeMetrics.countBounds)
    /// Leader: from a write's proposal to its completion (a quorum holds it durably, applied).
    var proposalToCommit = Histogram(bounds: NodeMetrics.fineLatencySeconds)
    /// From a save finishing on the writer thread to its completion running on the loop (how long
    /// the loop was busy elsewhere before it could send, acknowledge and take the next batch).
    var saveCompletionDelay = Histogram(bounds: NodeMetrics.fineLatencySeconds)
    /// Follower: from forwarding a write to the leader's answer.
    var forwardRoundTrip = Histogram(bounds: NodeMetrics.fineLatencySeconds)
    /// How late each Raft tick ran (the loop was busy or the thread not scheduled): a stall
    /// longer than the election timeout on a follower starts an election.
    var tickLateness = Histogram(bounds: NodeMetrics.fineLatencySeconds)
    /// When the last tick ran (monotonic nanoseconds; 0 before the first).
    var lastTickNanos: UInt64 = 0
    /// Bounds for small counts (entries per batch).
    static let countBounds: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    /// Latency bounds from 0.1 ms to 1 s, for the write path's stages.
    static let fineLatencySeconds: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 1]

    private var lastLeader: NodeID = noNode
    private var lastTerm: UInt64?

    /// Records a tick at `now` given the tick period.
    mutating func ticked(now: UInt64, periodMillis: Int) {
        if lastTickNanos > 0 {
            let late = Int64(bitPattern: now &- lastTickNanos) - Int64(periodMillis) * 1_000_000
            tickLateness.observe(Double(max(0, late)) / 1e9)
        }
        lastTickNanos = now
    }

    /// Counts a leader change when the known leader differs from the last one seen.
    mutating func sawSoftState(_ soft: SoftState) {
        if soft.leader != lastLeader { leaderChanges += 1 }
        lastLeader = soft.leader
    }

    /// Counts the terms `term` is ahead of the last one seen; the first call sets the baseline.
    mutating func sawTerm(_ term: UInt64) {
        if let lastTerm, term > lastTerm { elections += term - lastTerm }
        lastTerm = max(lastTerm ?? term, term)
    }
}

// `/metrics` for this node: Raft (managers only), dispatcher, tasks by state (managers, from
// the applied state), orchestration and storage latency. Called on the loop by the API.
extension SwarmNode {
    public func metricFamilies() -> [MetricFamily] {
        var families = raftFamilies()
        families += dispatcherFamilies()
        families += networkTableFamilies()
        if raft != nil { families.append(tasksByState()) }
        families.append(MetricFamily("swarmctl_orchestration_round_seconds",
                                     help: "Duration of each orchestration round on the leader (the loop waits meanwhile).",
                                     histograms: [([], nodeMetrics.orchestrationRound)]))
        families.append(MetricFamily("swarmctl_orchestration_last_round_seconds", help: "Duration of the last orchestration round.",
                                     kind: .gauge, value: Double(orchestrationRunner.lastRoundCostMillis) / 1000))
        if let payloads = agent?.payloads {
            let totals = payloads.totals
            families.append(MetricFamily("swarmctl_agent_payload_deliveries_total",
                                         help: "Secrets and configs this node's agent received (only with a task referencing them).",
                                         kind: .counter, value: Double(totals.deliveries)))
            families.append(MetricFamily("swarmctl_agent_payload_forgets_total",
                                         help: "Secrets and configs this node's agent forgot (no unfinished task referenced them).",
                                         kind: .counter, value: Double(totals.forgets)))
            families.append(MetricFamily("swarmctl_agent_payloads_held", help: "Secrets and configs held in this node's memory.",
                                         kind: .gauge, value: Double(payloads.heldKeys.count)))
        }
        return families
    }

    private func raftFamilies() -> [MetricFamily] {
        guard let current = raft else { return [] }
        return [
            MetricFamily("swarmctl_raft_term", help: "Current Raft term.", kind: .gauge, value: Double(current.term)),
            MetricFamily("swarmctl_raft_commit_index", help: "Highest Raft log index known committed.", kind: .gauge,
                         value: Double(current.commitIndex)),
            MetricFamily("swarmctl_raft_applied_index", help: "Highest Raft log index applied to the cluster state.", kind: .gauge,
                         value: Double(current.appliedIndex)),
            MetricFamily("swarmctl_raft_is_leader", help: "1 if this manager is the Raft leader, else 0.", kind: .gauge,
                         value: current.role == .leader ? 1 : 0),
            MetricFamily("swarmctl_raft_proposals_total", help: "Entries this node proposed to Raft as leader.", kind: .counter,
                         value: Double(nodeMetrics.proposals)),
            MetricFamily("swarmctl_raft_elections_total", help: "New Raft terms this manager has seen since it started (each term begins with an election).", kind: .counter,
                         value: Double(nodeMetrics.elections)),
            MetricFamily("swarmctl_raft_leader_changes_total", help: "Times the leader known to this manager changed.", kind: .counter,
                         value: Double(nodeMetrics.leaderChanges)),
            MetricFamily("swarmctl_raft_storage_save_seconds", help: "Duration of each Raft storage save (append and fsync).",
                         histograms: [([], nodeMetrics.storageSave)]),
            MetricFamily("swarmctl_raft_entries_per_save", help: "Entries made durable by each storage save that wrote entries.",
                         histograms: [([], nodeMetrics.entriesPerSave)]),
            MetricFamily("swarmctl_raft_save_completion_delay_seconds",
                         help: "From a storage save finishing to the event loop taking its completion.",
                         histograms: [([], nodeMetrics.saveCompletionDelay)]),
            MetricFamily("swarmctl_raft_proposal_commit_seconds",
                         help: "Leader: from a write's proposal to its completion (durable on a quorum and applied).",
                         histograms: [([], nodeMetrics.proposalToCommit)]),
            MetricFamily("swarmctl_raft_tick_lateness_seconds",
                         help: "How late each Raft tick ran after the previous one (event loop busy or not scheduled).",
                         histograms: [([], nodeMetrics.tickLateness)]),
            MetricFamily("swarmctl_forwarded_write_seconds", help: "Follower: from forwarding a write to the leader's answer.",
                         histograms: [([], nodeMetrics.forwardRoundTrip)]),
        ]
    }

    private func dispatcherFamilies() -> [MetricFamily] {
        let totals = dispatcherRunner.totals
        return [
            MetricFamily("swarmctl_dispatcher_sessions", help: "Nodes with an assignment session on this leader's dispatcher.",
                         kind: .gauge, value: Double(raft?.role == .leader ? dispatcherRunner.sessionCount : 0)),
            MetricFamily("swarmctl_dispatcher_resyncs_total", help: "Full assignment sets sent because a node fell out of step.",
                         kind: .counter, value: Double(totals.resyncs)),
            MetricFamily("swarmctl_dispatcher_unacknowledged_resends_total",
                         help: "Nodes sent their full set again by the acknowledgement guard.", kind: .counter,
                         value: Double(totals.unacknowledgedResends)),
            MetricFamily("swarmctl_dispatcher_unacknowledged_failures_total",
                         help: "Tasks marked failed because their node never acknowledged them.", kind: .counter,
                         value: Double(totals.unacknowledgedFailures)),
            MetricFamily("swarmctl_dispatcher_gaps_seen_total", help: "Holes this node's agent saw in its assignment stream.",
                         kind: .counter, value: Double(totals.gapsSeen)),
        ]
    }

    /// Every task state as a label (zeros included, so series do not vanish).
    private func tasksByState() -> MetricFamily {
        var counts = [TaskState: Int]()
        for task in state.tasks.values { counts[task.status.state, default: 0] += 1 }
        return MetricFamily("swarmctl_tasks", help: "Tasks in the applied cluster state, by current state.", kind: .gauge,
                            samples: TaskState.allCases.map { ([("state", $0.rawValue)], Double(counts[$0] ?? 0)) })
    }
}
