import Raft

/// Faults injected on this node's links, off by default: the seam `swarmctl chaos` and tests use.
///
/// It exists so the same transport code runs in production and in fault tests; only this value
/// changes. Outgoing frames to a peer can be dropped (all, or a random fraction), delayed (with
/// jitter) or duplicated; incoming frames from a peer can be dropped, which together with the
/// peer's own rules gives symmetric, one-way and bridge partitions.
public struct FaultRules: Sendable, Equatable {
    /// No faults.
    public static let none = FaultRules()

    /// Peers to which every outgoing frame is dropped (a one-way partition from this node).
    public var dropAllTo: Set<NodeID> = []
    /// Peers from which every incoming frame is dropped (a one-way partition toward this node).
    public var dropAllFrom: Set<NodeID> = []
    /// Per-peer probability in [0, 1] of dropping each outgoing frame.
    public var dropProbability: [NodeID: Double] = [:]
    /// Per-peer delay added to each outgoing frame, in milliseconds, and its uniform jitter.
    public var delayMillis: [NodeID: Int] = [:]
    public var jitterMillis: [NodeID: Int] = [:]
    /// Per-peer probability in [0, 1] of sending each outgoing frame twice.
    public var duplicateProbability: [NodeID: Double] = [:]

    public init(dropAllTo: Set<NodeID> = [], dropAllFrom: Set<NodeID> = [], dropProbability: [NodeID: Double] = [:],
                delayMillis: [NodeID: Int] = [:], jitterMillis: [NodeID: Int] = [:], duplicateProbability: [NodeID: Double] = [:]) {
        precondition(dropProbability.values.allSatisfy { (0...1).contains($0) }, "drop probabilities must be in [0, 1]")
        precondition(duplicateProbability.values.allSatisfy { (0...1).contains($0) }, "duplicate probabilities must be in [0, 1]")
        precondition(delayMillis.values.allSatisfy { $0 >= 0 } && jitterMillis.values.allSatisfy { $0 >= 0 }, "delays must not be negative")
        self.dropAllTo = dropAllTo
        self.dropAllFrom = dropAllFrom
        self.dropProbability = dropProbability
        self.delayMillis = delayMillis
        self.jitterMillis = jitterMillis
        self.duplicateProbability = duplicateProbability
    }

    public var isEnabled: Bool { self != .none }

    /// Whether to drop a frame to `peer`, given `roll`, a uniform random number in [0, 1).
    public func shouldDrop(to peer: NodeID, roll: Double) -> Bool {
        if dropAllTo.contains(peer) { return true }
        guard let probability = dropProbability[peer] else { return false }
        return roll < probability
    }

    /// Whether to drop a frame that arrived from `peer`.
    public func shouldDrop(from peer: NodeID) -> Bool { dropAllFrom.contains(peer) }

    /// The delay for one frame to `peer`, given `roll` in [0, 1) for the jitter.
    public func delay(to peer: NodeID, roll: Double) -> Int {
        guard let base = delayMillis[peer] else { return 0 }
        let jitter = jitterMillis[peer] ?? 0
        return max(0, base + Int((roll * 2 - 1) * Double(jitter)))
    }

    /// Whether to send a frame to `peer` twice, given `roll` in [0, 1).
    public func shouldDuplicate(to peer: NodeID, roll: Double) -> Bool {
        guard let probability = duplicateProbability[peer] else { return false }
        return roll < probability
    }
}
