import Glibc

/// BENCHMARK ONLY switches, read from the environment once. They exist so a benchmark can
/// measure what a protection costs with the very same code (not an older build); each weakens
/// the node, so the node logs a warning naming it at every start.
enum BenchmarkSwitches {
    /// `SWARMCTL_BENCH_INSECURE_CLUSTER=1`: after the (still mutual, still verified) TLS handshake,
    /// cluster-port links whose both ends set it carry frames unencrypted (see
    /// `Sources/Crypto/TLSBenchmarkPlaintext.swift`). Used by `compare-bench writes --tls-ab`.
    static let insecureClusterVariable = "SWARMCTL_BENCH_INSECURE_CLUSTER"

    static let insecureCluster: Bool = getenv(insecureClusterVariable).map { String(cString: $0) == "1" } ?? false

    /// The warnings to log at start (empty when no switch is set).
    static var warnings: [String] {
        guard insecureCluster else { return [] }
        return ["BENCHMARK ONLY: \(insecureClusterVariable)=1: cluster-port frames to peers that set it too are NOT ENCRYPTED "
            + "after the TLS handshake (anyone on the path can read and alter them, join tokens and secrets included); "
            + "unset it unless you are measuring what TLS costs"]
    }
}
