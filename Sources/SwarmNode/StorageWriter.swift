import Dispatch
import Foundation
import Platform
import Raft
import Storage

/// Runs the Raft storage's disk work (WAL appends with their fsync, snapshot files, compaction,
/// fault settings) on a thread of its own, so the event loop keeps serving sockets while a batch
/// is made durable: with the fsync on the loop nothing else ran for its 0.2–5 ms.
///
/// Every operation goes through one serial queue, so `RaftStorage` (not thread-safe) is only
/// ever used by one thread at a time. Saves are written in the order they were submitted; a save
/// may join a group ahead of an `enqueue`d job submitted before it (today only the node's own
/// snapshot and compaction, which do not depend on it). Several Readys may be in flight: those
/// waiting when the writer gets to them are written together and made durable with one fsync
/// (group commit), and their completions reach the loop in submission order, in one hop.
final class StorageWriter: @unchecked Sendable {
    typealias Completion = @Sendable (SaveReport) -> Void

    /// How one save went, as its completion hears it.
    struct SaveReport: Sendable {
        /// Why the group this save was written in failed; nil if it is durable (as asked).
        var failure: (any Error)?
        /// How long the group's writes and fsync took, and when they finished (monotonic).
        var nanoseconds: UInt64
        var finishedAt: UInt64
        /// The group's size, reported with its first save only (0 for the others), so each
        /// group is counted once: its saves and its entries.
        var groupSaves: Int
        var groupEntries: Int
    }

    let storage: RaftStorage
    private let queue = DispatchQueue(label: "swarmctl-storage-writer", qos: .userInitiated)
    private let lock = NSLock()
    /// Saves submitted and not yet taken by the writer, oldest first.
    private var waiting: [(ready: Ready, loop: EventLoop, completion: Completion)] = []

    init(storage: RaftStorage) {
        self.storage = storage
    }

    /// Persists `ready` (snapshot, entries, hard state, fsync if it or a batch written with it
    /// must) on the writer thread, after everything submitted before, then posts `completion` to
    /// `loop` with the outcome, the time the save took and when it finished (monotonic
    /// nanoseconds, so the loop can tell how long the completion waited).
    func save(_ ready: Ready, on loop: EventLoop, completion: @escaping Completion) {
        lock.lock()
        waiting.append((ready, loop, completion))
        let first = waiting.count == 1
        lock.unlock()
        // One drain per group: saves submitted before it runs join it.
        if first { queue.async { [self] in drain() } }
    }

    /// Writes every waiting save in order, the last one with the group's fsync, then hands
    /// the completions to the loop.
    private func drain() {
        lock.lock()
        let group = waiting
        waiting = []
        lock.unlock()
        guard !group.isEmpty else { return }
        let started = monotonicNanoseconds()
        let mustSync = group.contains { $0.ready.mustSync }
        var failure: (any Error)?
        for (position, item) in group.enumerated() {
            var ready = item.ready
            ready.mustSync = position == group.count - 1 ? mustSync : false
            do {
                try storage.save(ready)
            } catch {
                failure = error
                break
            }
        }
        let finished = monotonicNanoseconds()
        let first = SaveReport(failure: failure, nanoseconds: finished &- started, finishedAt: finished, groupSaves: group.count,
                               groupEntries: group.reduce(0) { $0 + $1.ready.entries.count })
        var others = first
        others.groupSaves = 0
        others.groupEntries = 0
        let rest = others
        let completions = group.map(\.completion)
        _ = group[0].loop.execute {
            for (position, completion) in completions.enumerated() { completion(position == 0 ? first : rest) }
        }
    }

    /// Runs `body` on the writer thread after everything submitted before, and waits for it.
    func perform<T>(_ body: (RaftStorage) throws -> T) rethrows -> T {
        try queue.sync { try body(storage) }
    }

    /// Runs `body` on the writer thread after everything submitted before, without waiting.
    func enqueue(_ body: @escaping @Sendable (RaftStorage) -> Void) {
        queue.async { [self] in body(storage) }
    }
}
