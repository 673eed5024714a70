/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, seedable, deterministic generator. Raft's
/// election timeouts, the simulators, the orchestrator's task ids and the randomized tests all
/// draw from one of these, so a seed replays a run exactly.
///
/// It lives in a module of its own, below every other, so the pure cores (Raft, Orchestration)
/// and the tests share one copy instead of each writing the algorithm again.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Folds `value` into the stream (then draws once), so two generators started from the same
    /// seed draw differently once they have seen different values.
    public mutating func fold(_ value: UInt64) {
        state ^= value &* 0xD6E8_FEB8_6659_FD93
        _ = next()
    }

    /// A number in `0..<bound` (0 for a bound below 1), by the remainder of one draw.
    public mutating func below(_ bound: Int) -> Int {
        Int(next() % UInt64(max(bound, 1)))
    }
}
