import Dispatch
import Platform
import Raft
import Storage

/// Runs the Raft storage's disk work (WAL appends with their fsync, snapshot files, compaction,
/// fault settings) on a thread of its own, so the event loop keeps serving sockets while a batch
/// is made durable: with the fsync on the loop nothing else ran for its 0.2–5 ms.
///
/// Every operation goes through one serial queue, so `RaftStorage` (not thread-safe) is only
/// ever used by one thread at a time and in submission order. The node keeps at most one
/// `Ready` in flight: the next one is taken only after this one's completion ran on the loop.
final class StorageWriter: @unchecked Sendable {
    let storage: RaftStorage
    private let queue = DispatchQueue(label: "swarmctl-storage-writer", qos: .userInitiated)

    init(storage: RaftStorage) {
        self.storage = storage
    }

    /// Persists `ready` (snapshot, entries, hard state, fsync if it must) on the writer thread,
    /// then posts `completion` to `loop` with the outcome, the time the save took and when it
    /// finished (monotonic nanoseconds, so the loop can tell how long the completion waited).
    func save(_ ready: Ready, on loop: EventLoop,
              completion: @escaping @Sendable (_ failure: (any Error)?, _ nanoseconds: UInt64, _ finishedAt: UInt64) -> Void) {
        queue.async { [self] in
            let started = monotonicNanoseconds()
            let failure: (any Error)?
            do {
                try storage.save(ready)
                failure = nil
            } catch {
                failure = error
            }
            let finished = monotonicNanoseconds()
            _ = loop.execute { completion(failure, finished &- started, finished) }
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
