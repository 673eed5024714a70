import ClusterState
import SeededRandom

/// Makes task ids the way Docker shows them (25 lowercase alphanumerics) from a seed, so a
/// simulated cluster replays the same ids for the same seed. The orchestrator is pure: it may not
/// draw global randomness, so it draws from a seeded `SplitMix64`.
struct TaskIDGenerator: Sendable {
    private var random: SplitMix64
    private static let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8)
    static let length = 25

    init(seed: UInt64) { random = SplitMix64(seed: seed) }

    /// Folds `value` (e.g. the applied index) into the stream, so two leaders started with the
    /// same seed still draw different ids once they have seen different states.
    mutating func mix(_ value: UInt64) {
        random.fold(value)
    }

    mutating func next() -> UInt64 { random.next() }

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
