/// What one or more simulated runs did, printed by `swarmctl simulate`. Contains no wall-clock
/// figure, so the same seed prints the same report byte for byte.
public struct SimulationReport: Sendable, Equatable {
    public var runs = 0
    public var elections = 0
    public var leaderChanges = 0
    public var entriesCommitted = 0
    public var writesAcknowledged = 0
    public var readsChecked = 0
    public var snapshotsInstalled = 0
    public var membershipChanges = 0
    public var leaderTransfers = 0
    /// Damaged last records found by their checksum at restart and dropped.
    public var tornTailsRepaired = 0
    public var faultsInjected: [FaultKind: Int] = [:]
    /// Seed and description of the first violated invariant, if any.
    public var violation: (seed: UInt64, message: String)? = nil

    public init() {}

    public static func == (lhs: SimulationReport, rhs: SimulationReport) -> Bool {
        lhs.lines() == rhs.lines()
    }

    public mutating func merge(_ other: SimulationReport) {
        runs += other.runs
        elections += other.elections
        leaderChanges += other.leaderChanges
        entriesCommitted += other.entriesCommitted
        writesAcknowledged += other.writesAcknowledged
        readsChecked += other.readsChecked
        snapshotsInstalled += other.snapshotsInstalled
        membershipChanges += other.membershipChanges
        leaderTransfers += other.leaderTransfers
        tornTailsRepaired += other.tornTailsRepaired
        for (kind, count) in other.faultsInjected { faultsInjected[kind, default: 0] += count }
        if violation == nil { violation = other.violation }
    }

    public func lines() -> [String] {
        var lines = [
            "runs                 \(runs)",
            "elections            \(elections)",
            "leader changes       \(leaderChanges)",
            "entries committed    \(entriesCommitted)",
            "writes acknowledged  \(writesAcknowledged)",
            "reads checked        \(readsChecked)",
            "snapshots installed  \(snapshotsInstalled)",
            "membership changes   \(membershipChanges)",
            "leader transfers     \(leaderTransfers)",
            "torn tails repaired  \(tornTailsRepaired)",
        ]
        let faults = faultsInjected.keys.sorted().map { "\($0.rawValue)=\(faultsInjected[$0]!)" }
        lines.append("faults injected      " + (faults.isEmpty ? "none" : faults.joined(separator: " ")))
        if let violation {
            lines.append("invariants           VIOLATED (seed \(violation.seed)): \(violation.message)")
        } else {
            lines.append("invariants           ok")
        }
        return lines
    }
}
