import Agent
import Dispatch
import Platform

/// Saves the agent's records on a queue of its own, the newest snapshot only: while one save
/// runs, later snapshots replace each other and the last one is saved next, at least
/// `spacingMillis` after the one before (`flush` saves at once).
///
/// It exists because every status change asks for a save, and a save encodes every record and
/// replaces the file: 50 containers starting meant about 100 saves of 50 records each, queued
/// one behind the other and each stale by the time it ran, on the 2 cores the containers' starts
/// needed. Skipping the stale snapshots loses nothing: only the newest state matters on disk.
/// Back to back, the saves (encode all records, write, two fsyncs) still took 4% of a 50-replica
/// converge's CPU; spaced, a burst of changes costs a few saves instead of one per change, and a
/// change waits at most `spacingMillis` more before it is on disk.
final class RecordSaver: @unchecked Sendable {
    /// The least time between the end of one save and the start of the next.
    static let spacingMillis = 25

    private let store: AgentStore
    private let logger: NodeLogger
    private let queue = DispatchQueue(label: "swarmctl-agent-store")
    private let lock = ConditionLock()
    /// The snapshot to save next (guarded by `lock`).
    private var pending: [String: AgentRecord]?
    /// Whether a drain is queued or running (guarded by `lock`).
    private var draining = false

    init(store: AgentStore, logger: NodeLogger) {
        self.store = store
        self.logger = logger
    }

    /// Saves `records` soon, after any save in progress, unless a newer snapshot comes first.
    func save(_ records: [String: AgentRecord]) {
        let startDrain = lock.withLock { () -> Bool in
            pending = records
            guard !draining else { return false }
            draining = true
            return true
        }
        if startDrain { queue.async { [self] in drain() } }
    }

    /// Returns once the newest snapshot handed to `save` is on disk (or its save failed).
    func flush() {
        queue.sync { saveNow() }
    }

    /// Saves the pending snapshot, then comes back after the spacing if another arrived meanwhile.
    private func drain() {
        saveNow()
        let more = lock.withLock { () -> Bool in
            if pending == nil { draining = false }
            return pending != nil
        }
        if more { queue.asyncAfter(deadline: .now() + .milliseconds(Self.spacingMillis)) { [self] in drain() } }
    }

    /// Saves the pending snapshot, if any (on the queue).
    private func saveNow() {
        guard let records = lock.withLock({ () -> [String: AgentRecord]? in
            defer { pending = nil }
            return pending
        }) else { return }
        do {
            try store.save(records)
        } catch {
            logger.error("agent: could not save the task records to \(store.path): \(error); "
                + "free space or fix the permissions there, or a restart of this node will not re-adopt its containers")
        }
    }
}
