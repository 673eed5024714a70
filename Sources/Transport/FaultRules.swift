import Raft

/// Faults injected on the send path, off by default: the seam `swarmctl chaos` and tests use.
///
/// It exists so the same transport code runs in production and in fault tests; only this value
/// changes. Today it supports dropping (all or a random fraction) per destination peer; delay,
/// duplication and one-way partitions are meant to be added here.
public struct FaultRules: Sendable, Equatable {
    /// No faults.
    public static let none = FaultRules()

    /// Peers to which every outgoing frame is dropped (a one-way partition from this node).
    public var dropAllTo: Set<NodeID> = []
    /// Per-peer probability in [0, 1] of dropping each outgoing frame.
    public var dropProbability: [NodeID: Double] = [:]

    public init(dropAllTo: Set<NodeID> = [], dropProbability: [NodeID: Double] = [:]) {
        precondition(dropProbability.values.allSatisfy { (0...1).contains($0) }, "drop probabilities must be in [0, 1]")
        self.dropAllTo = dropAllTo
        self.dropProbability = dropProbability
    }

    public var isEnabled: Bool { !dropAllTo.isEmpty || !dropProbability.isEmpty }

    /// Whether to drop a frame to `peer`, given `roll`, a uniform random number in [0, 1).
    public func shouldDrop(to peer: NodeID, roll: Double) -> Bool {
        if dropAllTo.contains(peer) { return true }
        guard let probability = dropProbability[peer] else { return false }
        return roll < probability
    }
}
