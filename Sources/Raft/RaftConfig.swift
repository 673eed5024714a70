// Raft's users draw from the same generator (`SplitMix64`): they get it with `import Raft`.
@_exported import SeededRandom

/// Tunables of one Raft node. Ticks are logical; the shell decides how long a tick is
/// (100 ms by default, see ARCHITECTURE.md § Defaults).
public struct RaftConfig: Sendable {
    public var id: NodeID
    /// Followers wait a random number of ticks in [electionTicks, 2 × electionTicks) before campaigning.
    public var electionTicks: Int = 5
    public var heartbeatTicks: Int = 1
    public var preVote: Bool = true
    public var checkQuorum: Bool = true
    /// Unacknowledged append messages in flight per follower in the replicate state.
    public var maxInflightMessages: Int = 256
    /// Upper bound on the entry bytes in one append message.
    public var maxBytesPerMessage: Int = 1 << 20
    /// Snapshot bytes per chunk message.
    public var snapshotChunkSize: Int = 256 << 10
    /// Seeds the election-timeout randomness; the same seed replays the same timeouts.
    public var randomSeed: UInt64

    public init(id: NodeID, randomSeed: UInt64? = nil) {
        precondition(id != noNode, "node id 0 is reserved for 'no node'")
        self.id = id
        // Not `id × 0x9E37_79B9_7F4A_7C15`: SplitMix64 advances its state by that very constant, so
        // such seeds give node k + 1 node k's stream shifted by one draw. Once two nodes' draw
        // counts differ by their id difference they draw identical election timeouts from then on
        // and time out on the same tick every election (split votes). Mixing the id first gives
        // unrelated streams.
        var mixer = SplitMix64(seed: id)
        self.randomSeed = randomSeed ?? mixer.next()
    }

    func validate() {
        precondition(heartbeatTicks >= 1, "heartbeatTicks must be at least 1")
        precondition(electionTicks > heartbeatTicks, "electionTicks must exceed heartbeatTicks")
        precondition(maxInflightMessages >= 1, "maxInflightMessages must be at least 1")
        precondition(snapshotChunkSize >= 1, "snapshotChunkSize must be at least 1")
    }
}
