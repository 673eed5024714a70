/// Bounds on what one write may carry, chosen so the cluster never wedges on a single entry.
///
/// It exists because a Raft entry is replicated whole: an entry larger than a transport frame can
/// never reach a follower, so commit stops and the leader is deposed again and again. etcd refuses
/// requests over 1.5 MiB; so do we, before proposing, with an error that names the limit.
public enum ClusterLimits {
    /// Largest encoded command accepted into the Raft log (1.5 MiB, as etcd's request limit).
    public static let maxEntryBytes = 3 << 19

    /// Most replicas one service may ask for. The leader's control loops run on its event loop and
    /// their rounds grow with the tasks of a service: at 100,000 unschedulable replicas one round
    /// outlasted the election timeout and the managers deposed each other for minutes. 10,000 is
    /// the largest service measured to converge without an election (Benchmarks/README.md).
    public static let maxReplicas: UInt64 = 10_000

    /// Why a command of `byteCount` encoded bytes is refused, or nil if it fits.
    public static func entryRefusal(byteCount: Int) -> ClusterError? {
        guard byteCount > maxEntryBytes else { return nil }
        return .invalid("the request encodes to \(byteCount) bytes, over the limit of \(maxEntryBytes) bytes (1.5 MiB) "
            + "for one replicated write: make the spec smaller (fewer or shorter env values, labels, arguments)")
    }
}
