import ClusterState

/// Makes task ids the way Docker shows them (25 lowercase alphanumerics) from a seed, so a
/// simulated cluster replays the same ids for the same seed. The orchestrator is pure: it may not
/// draw global randomness, and it must not depend on the Raft module just for a generator.
struct TaskIDGenerator: Sendable {
    private var state: UInt64
    private static let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8)
    static let length = 25

    init(seed: UInt64) { state = seed }

    /// Folds `value` (e.g. the applied index) into the stream, so two leaders started with the
    /// same seed still draw different ids once they have seen different states.
    mutating func mix(_ value: UInt64) {
        state ^= value &* 0xD6E8_FEB8_6659_FD93
        _ = next()
    }

    /// SplitMix64 (Steele, Lea, Flood 2014).
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A fresh id, never one of `taken`.
    mutating func nextID(avoiding taken: [String: SwarmTask]) -> String {
        while true {
            var bytes = [UInt8](repeating: 0, count: Self.length)
            var bits = next()
            for position in 0..<Self.length {
                if position % 12 == 11 { bits = next() }
                bytes[position] = Self.alphabet[Int(bits % 36)]
                bits /= 36
            }
            let id = String(decoding: bytes, as: UTF8.self)
            if taken[id] == nil { return id }
        }
    }
}
