import CPlatform
import Glibc
import Synchronization

/// One thread that owns a set of descriptors, timers and closures: the node's imperative shell.
///
/// It exists because the pure core must be driven from exactly one thread without locks, and a
/// thread wake-up is what costs on this hardware (reference/swift-on-linux.md §1, §6): the loop
/// batches everything that is ready per `epoll_wait` and runs plain closures, never continuations.
///
/// Threading rules:
/// - `run()` is called once, on the thread that becomes the loop thread (see `EventLoopThread`).
/// - `execute(_:)`, `stop()`, `inEventLoop` and `executeAndWait(_:)` are safe from any thread.
/// - Everything else (`register`, `modify`, `unregister`, `schedule*`, `cancel`,
///   `afterCurrentIteration`) must be called on the loop thread; it is checked with `precondition`.
/// All state below except `inbox` is confined to the loop thread, hence `@unchecked Sendable`.
public final class EventLoop: @unchecked Sendable {
    /// Called with what epoll reported; runs on the loop thread.
    public typealias Handler = (IOEvents) -> Void

    private struct Registration {
        var generation: UInt32
        var readable: Bool
        var writable: Bool
        var handler: Handler
    }

    private struct Inbox {
        var tasks: [@Sendable () -> Void] = []
        var wakePending = false
        var stopRequested = false
        /// `run()` has returned: tasks are refused from now on.
        var finished = false
    }

    private let epollFD: Int32
    private let wakeFD: Int32
    private let inbox = Mutex(Inbox())
    private let loopThread = Mutex<pthread_t?>(nil)

    private var registrations: [Int32: Registration] = [:]
    private var nextGeneration: UInt32 = 1
    private var timers = TimerQueue<() -> Void>()
    private var deferred: [() -> Void] = []
    private var running = false

    /// The registration key of the wake-up eventfd (generation 0 is never handed out).
    private static let wakeKey: UInt64 = 0

    public init() throws {
        epollFD = try retryingEINTR("epoll_create1", "event loop") { cplatform_epoll_create() }
        do {
            wakeFD = try retryingEINTR("eventfd", "event loop wake-up") { cplatform_eventfd() }
        } catch {
            _ = Glibc.close(epollFD)
            throw error
        }
        let interest = IOEvents.epollInterest(readable: true, writable: false)
        guard cplatform_epoll_ctl(epollFD, CPLATFORM_EPOLL_CTL_ADD, wakeFD, interest, Self.wakeKey) == 0 else {
            let failure = SystemError("epoll_ctl(ADD)", "event loop wake-up eventfd")
            _ = Glibc.close(wakeFD)
            _ = Glibc.close(epollFD)
            throw failure
        }
    }

    deinit {
        _ = Glibc.close(wakeFD)
        _ = Glibc.close(epollFD)
    }

    /// True when called on the loop thread while `run()` is active.
    public var inEventLoop: Bool {
        loopThread.withLock { thread in thread.map { pthread_equal($0, pthread_self()) != 0 } ?? false }
    }

    // MARK: Cross-thread hand-off

    /// Runs `task` on the loop thread soon, in submission order. Safe from any thread. Tasks
    /// submitted before `run()` returns are run (the last ones as it exits); later ones are
    /// refused and this returns false.
    @discardableResult
    public func execute(_ task: @escaping @Sendable () -> Void) -> Bool {
        let (accepted, mustWake) = inbox.withLock { inbox -> (Bool, Bool) in
            if inbox.finished { return (false, false) }
            inbox.tasks.append(task)
            defer { inbox.wakePending = true }
            return (true, !inbox.wakePending)
        }
        if mustWake { wake() }
        return accepted
    }

    /// Runs `body` on the loop and blocks the caller until it returns. Never call it on the loop
    /// thread (it would wait for itself); for set-up and tests, not for the hot path.
    @discardableResult
    public func executeAndWait<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        precondition(!inEventLoop, "executeAndWait on the loop thread would deadlock")
        let result = OneShot<Result<T, any Error>>()
        guard execute({ result.set(Result { try body() }) }) else { throw EventLoopError.notRunning }
        return try result.wait()!.get()
    }

    /// Asks the loop to return from `run()` after the current iteration. Safe from any thread.
    public func stop() {
        inbox.withLock { $0.stopRequested = true }
        wake()
    }

    private func wake() {
        var one: UInt64 = 1
        // EAGAIN means the counter is already non-zero: the loop will wake anyway.
        _ = withUnsafeBytes(of: &one) { Glibc.write(wakeFD, $0.baseAddress!, 8) }
    }

    // MARK: Loop-thread scheduling

    /// Runs `task` on the loop thread after the events and tasks of this iteration, before the
    /// loop sleeps again. Used to coalesce many writes into one `send`.
    public func afterCurrentIteration(_ task: @escaping () -> Void) {
        assertInLoop()
        deferred.append(task)
    }

    /// Runs `callback` once, `afterMillis` from now, on the loop thread.
    @discardableResult
    public func schedule(afterMillis: Int, _ callback: @escaping () -> Void) -> TimerHandle {
        assertInLoop()
        precondition(afterMillis >= 0, "timer delay must not be negative: \(afterMillis) ms")
        return timers.add(deadline: monotonicNanoseconds() + UInt64(afterMillis) * 1_000_000, callback)
    }

    /// Runs `callback` every `everyMillis`, first one period from now, until cancelled.
    @discardableResult
    public func scheduleRepeating(everyMillis: Int, _ callback: @escaping () -> Void) -> TimerHandle {
        assertInLoop()
        precondition(everyMillis > 0, "timer period must be positive: \(everyMillis) ms")
        let period = UInt64(everyMillis) * 1_000_000
        return timers.add(deadline: monotonicNanoseconds() + period, repeatNanos: period, callback)
    }

    /// Cancels a timer; returns false if it already fired or was cancelled.
    @discardableResult
    public func cancel(_ timer: TimerHandle) -> Bool {
        assertInLoop()
        return timers.cancel(timer)
    }

    // MARK: Descriptors

    /// Starts watching `fd` (level-triggered). The loop never closes it; unregister before closing.
    public func register(fd: Int32, readable: Bool, writable: Bool, handler: @escaping Handler) throws {
        assertInLoop()
        precondition(fd >= 0 && fd != wakeFD && fd != epollFD, "register of invalid descriptor \(fd)")
        precondition(registrations[fd] == nil, "descriptor \(fd) is already registered")
        let generation = nextGeneration
        nextGeneration = nextGeneration == UInt32.max ? 1 : nextGeneration + 1
        let interest = IOEvents.epollInterest(readable: readable, writable: writable)
        let key = UInt64(generation) << 32 | UInt64(UInt32(bitPattern: fd))
        _ = try retryingEINTR("epoll_ctl(ADD)", "fd \(fd)") { cplatform_epoll_ctl(epollFD, CPLATFORM_EPOLL_CTL_ADD, fd, interest, key) }
        registrations[fd] = Registration(generation: generation, readable: readable, writable: writable, handler: handler)
    }

    /// Changes which readiness `fd` is watched for.
    public func modify(fd: Int32, readable: Bool, writable: Bool) throws {
        assertInLoop()
        guard var registration = registrations[fd] else { preconditionFailure("modify of unregistered descriptor \(fd)") }
        if registration.readable == readable && registration.writable == writable { return }
        let interest = IOEvents.epollInterest(readable: readable, writable: writable)
        let key = UInt64(registration.generation) << 32 | UInt64(UInt32(bitPattern: fd))
        _ = try retryingEINTR("epoll_ctl(MOD)", "fd \(fd)") { cplatform_epoll_ctl(epollFD, CPLATFORM_EPOLL_CTL_MOD, fd, interest, key) }
        registration.readable = readable
        registration.writable = writable
        registrations[fd] = registration
    }

    /// Stops watching `fd`. Events already collected for it in this iteration are discarded.
    public func unregister(fd: Int32) {
        assertInLoop()
        guard registrations.removeValue(forKey: fd) != nil else { return }
        _ = cplatform_epoll_ctl(epollFD, CPLATFORM_EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// Number of registered descriptors (for leak checks in tests).
    public var registeredCount: Int {
        assertInLoop()
        return registrations.count
    }

    private func assertInLoop(function: StaticString = #function) {
        precondition(inEventLoop, "EventLoop.\(function) must be called on the loop thread")
    }

    // MARK: The loop

    /// Runs the loop on the calling thread until `stop()`. Returns after finishing the iteration in
    /// which stop was seen and running the tasks already submitted; pending timers are discarded.
    /// A loop runs once: `execute` is refused afterwards.
    public func run() {
        loopThread.withLock { thread in
            precondition(thread == nil, "EventLoop.run called twice")
            thread = pthread_self()
        }
        defer {
            finishInbox()
            loopThread.withLock { $0 = nil }
        }
        var events = [cplatform_epoll_event](repeating: cplatform_epoll_event(), count: 128)
        while !inbox.withLock({ $0.stopRequested }) {
            let count = waitForEvents(into: &events)
            dispatch(events, count: count)
            runDueTimers()
            runInbox()
            runDeferred()
        }
    }

    private func waitForEvents(into events: inout [cplatform_epoll_event]) -> Int {
        let timeout = nextTimeoutMillis()
        let count = events.withUnsafeMutableBufferPointer { buffer in
            cplatform_epoll_wait(epollFD, buffer.baseAddress!, Int32(buffer.count), timeout)
        }
        if count >= 0 { return Int(count) }
        let code = errno
        precondition(code == EINTR, "epoll_wait failed: \(SystemError("epoll_wait", errno: code))")
        return 0
    }

    /// Milliseconds until the next timer, rounded up; 0 if work is waiting; -1 for "no timer".
    private func nextTimeoutMillis() -> Int32 {
        if !deferred.isEmpty { return 0 }
        guard let deadline = timers.nextDeadline() else { return -1 }
        let now = monotonicNanoseconds()
        if deadline <= now { return 0 }
        let millis = (deadline - now + 999_999) / 1_000_000
        return Int32(min(millis, UInt64(Int32.max)))
    }

    private func dispatch(_ events: [cplatform_epoll_event], count: Int) {
        for event in events.prefix(count) {
            if event.data == Self.wakeKey {
                drainWakeCounter()
                continue
            }
            let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: event.data))
            let generation = UInt32(truncatingIfNeeded: event.data >> 32)
            // A descriptor unregistered (and maybe reused) earlier in this batch is skipped.
            guard let registration = registrations[fd], registration.generation == generation else { continue }
            registration.handler(IOEvents(epollBits: event.events))
        }
    }

    private func drainWakeCounter() {
        var counter: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &counter) { Glibc.read(wakeFD, $0.baseAddress!, 8) }
    }

    private func runDueTimers() {
        let now = monotonicNanoseconds()
        while let callback = timers.popDue(now: now) { callback() }
    }

    private func runInbox() {
        let tasks = inbox.withLock { inbox -> [@Sendable () -> Void] in
            inbox.wakePending = false
            defer { inbox.tasks.removeAll(keepingCapacity: true) }
            return inbox.tasks
        }
        for task in tasks { task() }
    }

    /// Refuses further tasks and runs the ones already accepted, so no `executeAndWait` caller
    /// is left waiting for a task that will never run.
    private func finishInbox() {
        let tasks = inbox.withLock { inbox -> [@Sendable () -> Void] in
            inbox.finished = true
            defer { inbox.tasks = [] }
            return inbox.tasks
        }
        for task in tasks { task() }
        runDeferred()
    }

    private func runDeferred() {
        // Deferred work may defer more work; it runs in this same pass, bounded by a sanity limit.
        var rounds = 0
        while !deferred.isEmpty && rounds < 16 {
            let batch = deferred
            deferred.removeAll(keepingCapacity: true)
            for task in batch { task() }
            rounds += 1
        }
    }
}

/// Why work could not be handed to an event loop.
public enum EventLoopError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The loop's `run()` has returned; it accepts no more tasks.
    case notRunning

    public var description: String { "the event loop is not running (it was stopped)" }
}

/// An `EventLoop` together with the dedicated thread running it.
///
/// It exists so callers start and stop a loop in one line and shutdown joins the thread, which
/// keeps tests from leaking threads and descriptors between cases.
public final class EventLoopThread: Sendable {
    public let loop: EventLoop
    private let thread: PlatformThread

    public init(name: String) throws {
        let loop = try EventLoop()
        let started = OneShot<Bool>()
        self.loop = loop
        thread = PlatformThread(name: name) {
            loop.execute { started.set(true) }
            loop.run()
        }
        _ = started.wait()
    }

    /// Stops the loop and joins its thread. Run clean-up on the loop first (`executeAndWait`).
    public func shutdown() {
        loop.stop()
        thread.join()
    }
}
