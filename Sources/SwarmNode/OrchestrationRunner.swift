import ClusterState
import Orchestration
import Platform
import Raft

/// What the orchestration runner asks of its node, on the node's loop.
protocol OrchestrationRunnerHost: AnyObject {
    var isStopped: Bool { get }
    /// This node leads (rounds are scheduled only then).
    var isLeader: Bool { get }
    /// The leader's applied state includes everything committed before its term (acting on a
    /// stale state could fill a slot that is already filled).
    var leaderStateIsCurrent: Bool { get }
    /// The applied state a round reconciles.
    var state: ClusterState { get }
    func proposeCommands(_ commands: [ClusterCommand], _ done: @escaping ([Result<Void, RequestFailure>]) -> Void)
    /// One round took `millis` milliseconds (`/metrics`).
    func observeOrchestrationRound(millis: UInt64)
}

/// Runs the pure control loops (`Orchestrator.reconcile`) on the leader: after every applied
/// batch and on a short timer it asks the orchestrator what to change and proposes that, one
/// round in flight at a time, rounds spaced by their own cost.
///
/// It exists so the orchestrator and the scheduling of its rounds (in flight, scheduled, the
/// last round's time and cost) have one owner instead of being fields of `SwarmNode` (issue
/// 15). Confined to the node's loop.
final class OrchestrationRunner: @unchecked Sendable {
    /// The timer period that lets time-based decisions (restart delays, update monitors) happen.
    static let periodMillis = 100

    /// Rounds start at least this far apart, so a stream of writes does not turn into a full
    /// reconciliation per applied batch.
    static let minimumRoundGapMillis: UInt64 = 20

    private unowned let host: any OrchestrationRunnerHost
    private let loop: EventLoop
    private let logger: NodeLogger
    /// A round longer than this is logged (the loop waits meanwhile): the Raft tick.
    private let slowRoundMillis: UInt64
    private var orchestrator = Orchestrator(seed: (try? RandomID.transportID()) ?? 1)
    private var inFlight = 0
    private var scheduled = false
    private var lastRoundMillis: UInt64 = 0
    /// How long the last round took (`/metrics`).
    private(set) var lastRoundCostMillis: UInt64 = 0

    init(host: any OrchestrationRunnerHost, loop: EventLoop, logger: NodeLogger, slowRoundMillis: UInt64) {
        self.host = host
        self.loop = loop
        self.logger = logger
        self.slowRoundMillis = slowRoundMillis
    }

    /// A fresh orchestrator per term: its first round looks at every service.
    func leadershipStarted(term: UInt64) {
        orchestrator = Orchestrator(seed: (try? RandomID.transportID()) ?? term)
    }

    /// Asks for a round at the end of this loop iteration, or once the minimum gap since the
    /// last round has passed (many triggers coalesce into one round).
    func schedule() {
        guard !scheduled, host.isLeader else { return }
        scheduled = true
        // The gap grows with the last round's cost (at least twice its length), so a large state
        // cannot keep the loop busy reconciling while writes wait.
        let gap = max(Self.minimumRoundGapMillis, 2 * lastRoundCostMillis)
        let now = Clock.monotonicMillis()
        let wait = lastRoundMillis + gap > now ? Int(lastRoundMillis + gap - now) : 0
        let run = { [self] in
            scheduled = false
            runRound()
        }
        if wait > 0 { _ = loop.schedule(afterMillis: wait, run) } else { loop.afterCurrentIteration(run) }
    }

    private func runRound() {
        guard !host.isStopped, inFlight == 0, host.leaderStateIsCurrent else { return }
        let state = host.state
        guard state.cluster != nil else { return }
        lastRoundMillis = Clock.monotonicMillis()
        let commands = orchestrator.reconcile(state, now: Clock.now())
        lastRoundCostMillis = Clock.monotonicMillis() - lastRoundMillis
        host.observeOrchestrationRound(millis: lastRoundCostMillis)
        if lastRoundCostMillis >= slowRoundMillis {
            logger.warn("orchestration round took \(lastRoundCostMillis) ms for \(commands.count) commands (the event loop waits meanwhile)")
        }
        guard !commands.isEmpty else { return }
        inFlight = commands.count
        host.proposeCommands(commands) { [self] results in
            inFlight = 0
            for case let .failure(failure) in results { logger.debug("orchestrator command refused: \(failure)") }
            schedule()
        }
    }
}
