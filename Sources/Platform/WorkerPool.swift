/// A few threads that run blocking work (fsync of a batch, spawning a runtime, unpacking an image)
/// so the event loop never blocks.
///
/// It exists because the loop thread owns the core and must stay responsive; completions come back
/// through `EventLoop.execute`, one wake-up per job, via `EventLoop.blockingWork(on:_:completion:)`.
/// Shared state is guarded by `lock` (hence `@unchecked Sendable`). Jobs start in submission order; the queue is unbounded, so callers bound their own
/// in-flight work (the shell has at most one fsync batch outstanding).
public final class WorkerPool: @unchecked Sendable {
    private struct State {
        var jobs: [@Sendable () -> Void] = []
        var head = 0
        var shuttingDown = false
    }

    private let lock = ConditionLock()
    private var state = State()
    private var threads: [PlatformThread] = []

    public init(threads count: Int, name: String) {
        precondition(count > 0, "a worker pool needs at least one thread")
        threads = (0..<count).map { index in
            PlatformThread(name: "\(name)-\(index)") { [self] in workerLoop() }
        }
    }

    /// Queues `job`; it runs on some worker thread. Submitting after `shutdown()` is a bug.
    public func submit(_ job: @escaping @Sendable () -> Void) {
        lock.withLock {
            precondition(!state.shuttingDown, "WorkerPool.submit after shutdown")
            state.jobs.append(job)
        }
        lock.broadcast()
    }

    /// Runs the jobs already queued, then stops and joins the threads.
    public func shutdown() {
        lock.withLock { state.shuttingDown = true }
        lock.broadcast()
        for thread in threads { thread.join() }
    }

    private func workerLoop() {
        while let job = nextJob() { job() }
    }

    private func nextJob() -> (@Sendable () -> Void)? {
        lock.waitUntil({ state.head < state.jobs.count || state.shuttingDown }) {
            guard state.head < state.jobs.count else { return nil }
            let job = state.jobs[state.head]
            state.head += 1
            if state.head == state.jobs.count {
                state.jobs.removeAll(keepingCapacity: true)
                state.head = 0
            }
            return job
        } ?? nil
    }
}

extension EventLoop {
    /// Runs `work` on `pool`, then `completion` with its result on this loop's thread.
    /// Must be called on the loop thread; `completion` may capture loop-confined state.
    public func blockingWork<T: Sendable>(
        on pool: WorkerPool,
        _ work: @escaping @Sendable () throws -> T,
        completion: @escaping (Result<T, any Error>) -> Void
    ) {
        let callback = LoopBound(completion, loop: self)
        pool.submit { [self] in
            let result = Result { try work() }
            execute { callback.unwrapped(result) }
        }
    }
}
