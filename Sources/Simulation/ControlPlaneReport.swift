/// What one or more control-plane runs did, printed by `swarmctl simulate --control-plane`.
/// Only virtual times and counts: the same seed prints the same report byte for byte.
public struct ControlPlaneReport: Sendable, Equatable {
    public var runs = 0
    public var servicesCreated = 0
    public var servicesConverged = 0
    /// Virtual time from the heal to convergence, one entry per run that converged.
    public var convergenceMillis: [Int] = []
    public var tasksCreated = 0
    public var tasksStarted = 0
    public var tasksFailedByThemselves = 0
    /// Containers a restarted agent re-adopted (instead of starting them again).
    public var tasksReadopted = 0
    public var scalings = 0
    public var rollingUpdates = 0
    /// Rolling updates whose availability was checked from start to finish without a fault.
    public var updatesCheckedForAvailability = 0
    public var leaderChanges = 0
    public var entriesCommitted = 0
    public var faultsInjected: [ControlPlaneFault: Int] = [:]
    /// Tasks the acknowledgement guard resent, and marked failed, because their node never
    /// acknowledged them (zero unless an assignment was lost).
    public var unacknowledgedResends = 0
    public var unacknowledgedFailures = 0
    /// Network table messages agents applied; agents found holding exactly the leader's latest
    /// tables at the end; snapshot round trips of the state checked to apply like the original.
    public var networkTableMessagesApplied = 0
    public var networkTablesInSync = 0
    public var networkSnapshotProbes = 0
    /// Network table messages sent in parts (`NetworkTableMessage.split`).
    public var networkTableMessagesSplit = 0
    /// Assignment messages sent in parts; checks of the payloads an agent holds after applying
    /// a message; agents found holding exactly the leader's latest payloads at the end.
    public var assignmentMessagesSplit = 0
    public var payloadChecks = 0
    public var agentsPayloadsInSync = 0
    /// Every violated invariant: the seed to replay and what went wrong (first one per run).
    public var violations: [Violation] = []

    public struct Violation: Sendable, Equatable {
        public var seed: UInt64
        public var message: String
    }

    public init() {}

    public var violation: Violation? { violations.first }

    public mutating func merge(_ other: ControlPlaneReport) {
        runs += other.runs
        servicesCreated += other.servicesCreated
        servicesConverged += other.servicesConverged
        convergenceMillis += other.convergenceMillis
        tasksCreated += other.tasksCreated
        tasksStarted += other.tasksStarted
        tasksFailedByThemselves += other.tasksFailedByThemselves
        tasksReadopted += other.tasksReadopted
        scalings += other.scalings
        rollingUpdates += other.rollingUpdates
        updatesCheckedForAvailability += other.updatesCheckedForAvailability
        leaderChanges += other.leaderChanges
        entriesCommitted += other.entriesCommitted
        for (kind, count) in other.faultsInjected { faultsInjected[kind, default: 0] += count }
        unacknowledgedResends += other.unacknowledgedResends
        unacknowledgedFailures += other.unacknowledgedFailures
        networkTableMessagesApplied += other.networkTableMessagesApplied
        networkTablesInSync += other.networkTablesInSync
        networkSnapshotProbes += other.networkSnapshotProbes
        networkTableMessagesSplit += other.networkTableMessagesSplit
        assignmentMessagesSplit += other.assignmentMessagesSplit
        payloadChecks += other.payloadChecks
        agentsPayloadsInSync += other.agentsPayloadsInSync
        violations += other.violations
    }

    /// The `fraction` quantile (nearest rank) of the convergence times, in milliseconds.
    public func convergenceQuantile(_ fraction: Double) -> Int? {
        guard !convergenceMillis.isEmpty else { return nil }
        let sorted = convergenceMillis.sorted()
        let rank = Int((fraction * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }

    public func lines() -> [String] {
        func seconds(_ millis: Int?) -> String {
            guard let millis else { return "-" }
            let tenths = (millis + 50) / 100
            return "\(tenths / 10).\(tenths % 10)s"
        }
        let faults = faultsInjected.keys.sorted().map { "\($0.rawValue)=\(faultsInjected[$0]!)" }
        var lines = [
            "runs                 \(runs)",
            "services converged   \(servicesConverged)/\(servicesCreated)",
            "convergence (virtual, from heal)  median \(seconds(convergenceQuantile(0.5)))  p99 \(seconds(convergenceQuantile(0.99)))  max \(seconds(convergenceMillis.max()))",
            "tasks created        \(tasksCreated)",
            "tasks started        \(tasksStarted)",
            "tasks failed (own)   \(tasksFailedByThemselves)",
            "tasks re-adopted     \(tasksReadopted)",
            "scalings             \(scalings)",
            "rolling updates      \(rollingUpdates) (\(updatesCheckedForAvailability) checked for availability without faults)",
            "leader changes       \(leaderChanges)",
            "entries committed    \(entriesCommitted)",
            "faults injected      " + (faults.isEmpty ? "none" : faults.joined(separator: " ")),
            "unacknowledged tasks \(unacknowledgedResends) resent, \(unacknowledgedFailures) failed",
            "network tables       \(networkTableMessagesApplied) messages applied, \(networkTableMessagesSplit) sent in parts, "
                + "\(networkTablesInSync) agents in sync at the end, \(networkSnapshotProbes) snapshot probes",
            "secrets and configs  \(payloadChecks) checks of what agents hold, \(assignmentMessagesSplit) messages sent in parts, "
                + "\(agentsPayloadsInSync) agents in sync at the end",
        ]
        if violations.isEmpty {
            lines.append("invariants           ok")
        } else {
            lines.append("invariants           VIOLATED in \(violations.count) run(s)")
        }
        return lines
    }
}
