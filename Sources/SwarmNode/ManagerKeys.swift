import Foundation

/// A manager's key-encryption key (KEK) in memory, and the unlock key its data dir is wrapped
/// under (autolock), as the node shell tracks them.
///
/// It exists because a locked data dir no longer holds the KEK in clear: the node keeps the one
/// it unlocked (or created) so it can rewrap it when the cluster turns autolock on or off or
/// rotates the unlock key, without asking the operator again.
struct ManagerKeys {
    /// The KEK the Raft storage was opened with (nil on workers, and before Raft starts).
    var kek: [UInt8]?
    /// The unlock key `DATA/keys/raft-kek.locked` and the TLS key are sealed under; nil while
    /// the KEK is stored in clear (autolock off).
    var wrappedUnder: String?
    /// The commit index the node restarted with: the state is not followed before it is applied
    /// again, so replaying an old "autolock off" does not write the KEK in clear for a moment.
    var followFromIndex: UInt64 = 0

    /// Benchmark-only switch (never for production data): `SWARMCTL_BENCHMARK_PLAINTEXT_RAFT=1`
    /// opens the Raft storage without encryption at rest, so `compare-bench encryption` can
    /// measure what encryption costs with the same binary. Autolock is then unavailable.
    static let benchmarkPlaintextVariable = "SWARMCTL_BENCHMARK_PLAINTEXT_RAFT"

    static var benchmarkPlaintext: Bool { ProcessInfo.processInfo.environment[benchmarkPlaintextVariable] == "1" }
}
