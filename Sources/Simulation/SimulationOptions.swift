/// A kind of fault the simulator can inject. Raw values are the names `--faults` accepts.
public enum FaultKind: String, CaseIterable, Sendable, Comparable {
    /// Random message loss on every link.
    case loss
    /// Messages delivered twice.
    case duplicate
    /// Wide delay jitter, so messages overtake each other (sometimes on one slow node's links only).
    case reorder
    /// Two sides that cannot talk to each other.
    case partition
    /// One direction of one link cut.
    case oneWay = "one-way"
    /// Two sides joined only through one node.
    case bridge
    /// The leader cut off from everyone (a minority of one).
    case isolateLeader = "isolate-leader"
    /// A node that reaches only the leader.
    case leaderOnly = "leader-only"
    /// Process crash and restart from what the disk kept (possibly mid-write).
    case crash
    /// A storm in which new leaders crash within 20 ms of winning, before or while they
    /// replicate: the pattern of the paper's Figure 8.
    case leaderCrash = "leader-crash"
    /// Remove a member, re-add a fresh one as learner, promote it; sometimes remove the leader.
    case membership
    /// Leadership transfer with TimeoutNow.
    case transfer

    public static func < (lhs: FaultKind, rhs: FaultKind) -> Bool { lhs.rawValue < rhs.rawValue }

    /// A `--faults` entry that names no fault.
    public struct UnknownName: Error, Equatable {
        public let name: String
    }

    /// Parses `all`, `none` or a comma-separated list of fault names.
    public static func parseList(_ text: String) -> Result<Set<FaultKind>, UnknownName> {
        if text == "all" { return .success(Set(allCases)) }
        if text == "none" || text.isEmpty { return .success([]) }
        var kinds = Set<FaultKind>()
        for name in text.split(separator: ",") {
            guard let kind = FaultKind(rawValue: String(name)) else { return .failure(UnknownName(name: String(name))) }
            kinds.insert(kind)
        }
        return .success(kinds)
    }
}

/// The knobs of one simulated run. Everything random derives from `seed`.
public struct SimulationOptions: Sendable {
    public var seed: UInt64
    public var nodes: Int = 3
    /// Virtual time with faults active; then every fault heals and liveness is checked.
    public var durationMillis: Int = 30_000
    public var faults: Set<FaultKind> = Set(FaultKind.allCases)
    public var tickMillis: Int = 100
    public var clients: Int = 3
    /// Apply this many entries between snapshots, keep `retainEntries` for slow followers.
    public var snapshotInterval: UInt64 = 40
    public var retainEntries: UInt64 = 8
    /// After healing, a write must commit within this much virtual time.
    public var livenessBoundMillis: Int = 20_000

    public init(seed: UInt64) { self.seed = seed }

    /// The `--faults` spelling of `faults`.
    public var faultList: String {
        if faults == Set(FaultKind.allCases) { return "all" }
        if faults.isEmpty { return "none" }
        return faults.sorted().map(\.rawValue).joined(separator: ",")
    }
}
