import Glibc

/// A mutex with a condition variable, for the few places a thread must sleep until another thread
/// changes shared state (worker pools, joining a loop thread, waiting on a result).
///
/// It exists because `Synchronization.Mutex` has no condition variable and Foundation's
/// `NSCondition` would pull Foundation into Platform. The pthread objects live on the heap so they
/// never move after initialisation, as POSIX requires.
public final class ConditionLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init failed")
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        precondition(pthread_cond_init(condition, &attributes) == 0, "pthread_cond_init failed")
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Runs `body` with the mutex held.
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// With the mutex held: sleeps until `ready()` is true or the monotonic deadline (nanoseconds,
    /// as `monotonicNanoseconds()`) passes, then runs `body`. Returns nil on timeout.
    public func waitUntil<T>(
        deadline: UInt64? = nil, _ ready: () -> Bool, then body: () throws -> T
    ) rethrows -> T? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !ready() {
            guard let deadline else {
                pthread_cond_wait(condition, mutex)
                continue
            }
            if monotonicNanoseconds() >= deadline { return nil }
            var until = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
            _ = pthread_cond_timedwait(condition, mutex, &until)
        }
        return try body()
    }

    /// Wakes every waiter; call after changing the state their `ready` predicate reads.
    public func broadcast() {
        pthread_cond_broadcast(condition)
    }
}

/// A value one thread sets once and other threads wait for, e.g. the result of work run on a loop.
/// It exists for the few blocking hand-offs (start-up, `executeAndWait`, tests) where a
/// continuation would cost a thread hop and need an async caller.
public final class OneShot<Value: Sendable>: @unchecked Sendable {
    private let lock = ConditionLock()
    private var value: Value?

    public init() {}

    /// Stores the value and wakes waiters. Setting twice is a programming error.
    public func set(_ newValue: Value) {
        lock.withLock {
            precondition(value == nil, "OneShot set twice")
            value = newValue
        }
        lock.broadcast()
    }

    /// Blocks until the value is set, or until `timeoutMillis` passes (then nil).
    public func wait(timeoutMillis: Int? = nil) -> Value? {
        let deadline = timeoutMillis.map { monotonicNanoseconds() + UInt64($0) * 1_000_000 }
        return lock.waitUntil(deadline: deadline, { value != nil }, then: { value! })
    }
}
