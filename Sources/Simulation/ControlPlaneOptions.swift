/// A fault the control-plane nemesis injects. Raw values are the names the report prints.
public enum ControlPlaneFault: String, CaseIterable, Sendable, Comparable {
    /// A worker cut off from every manager (its tasks keep running, its heartbeats stop).
    case workerIsolated = "worker-isolated"
    /// A manager cut off from every other node (half the time the leader).
    case managerIsolated = "manager-isolated"
    /// A worker process dies with its tasks; it restarts later and reports them lost.
    case workerCrash = "worker-crash"
    /// A manager process dies (half the time the leader) and restarts from its disk.
    case managerCrash = "manager-crash"

    public static func < (lhs: ControlPlaneFault, rhs: ControlPlaneFault) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The knobs of one control-plane run. Everything random derives from `seed`.
public struct ControlPlaneOptions: Sendable {
    public var seed: UInt64
    /// Raft members; each is also a (drained) node of the cluster.
    public var managers: Int = 3
    public var workers: Int = 7
    /// Virtual time during which the workload changes services and the nemesis injects faults;
    /// then every fault heals and the cluster must converge.
    public var durationMillis: Int = 30_000
    /// After the heal, every service must converge within this much virtual time.
    public var settleBoundMillis: Int = 60_000
    /// Once converged, the run continues this long to check that it stays converged.
    public var stabilityMillis: Int = 3_000
    /// The dispatcher heartbeat period (the cluster default); workers heartbeat this often.
    public var heartbeatPeriodMillis: Int = 1_000
    /// The leader runs its control loops this often.
    public var controlLoopMillis: Int = 100
    public var tickMillis: Int = 100
    public var faults: Set<ControlPlaneFault> = Set(ControlPlaneFault.allCases)
    /// Enforce invariant 2 (no slot runs twice for longer than a heartbeat period after the
    /// heal). Off only to see what a run that breaks it does next.
    public var enforceSingleRunningTaskPerSlot = true
    /// Managers are active nodes that run tasks (as in Docker by default) instead of drained.
    public var managersRunTasks = false
    /// The dispatcher's acknowledgement guard bound (`dispatcher-ack-timeout`, five heartbeat
    /// periods by default). nil turns the backstop off, so a run shows what the assignment
    /// stream alone does.
    public var acknowledgementTimeoutMillis: Int? = 5_000
    /// The agents' drain delay (`drain-delay`): a running task on a network stops this long after
    /// the managers asked. A slot may then run twice for as much longer. 0: stop at once.
    public var drainMillis: Int = 0
    /// The last this many workers run no task networking (the process executor, not root): they
    /// say so in their description, and no task with network attachments may be placed there.
    /// Never all of them: at least one worker runs it, so services on networks can converge.
    public var workersWithoutNetworking: Int = 1

    public init(seed: UInt64) { self.seed = seed }
}
