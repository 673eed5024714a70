import ClusterState

/// The leader's control loops over the replicated state: replicated and global orchestration,
/// restarts, rolling updates, scheduling, constraint enforcement and task reaping.
///
/// It exists as a pure value so the simulator can replay any seed exactly: it reads the state and
/// a time, and answers with commands to propose. It never performs I/O, reads a clock or spawns
/// threads. Commands carry object versions, so a command made stale by a concurrent write is
/// refused by `ClusterState.apply` and the next round retries from the newer state.
public struct Orchestrator: Sendable {
    /// `seed` drives the ids of the tasks this orchestrator creates.
    public init(seed: UInt64) {}

    /// One reconciliation round at time `now`: the commands that move `state` toward every
    /// service's desired state. The caller proposes them and calls again once they are applied
    /// (or refused), and periodically, so time-based decisions (restart delays) are taken.
    public mutating func reconcile(_ state: ClusterState, now: Timestamp) -> [ClusterCommand] { [] }
}
