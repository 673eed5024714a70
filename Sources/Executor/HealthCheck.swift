import Glibc
import Platform

/// A task's health check, as `docker service create --health-*` sets it.
public struct HealthCheck: Sendable, Equatable {
    /// The probe's argv, run inside the container (Docker's CMD form; for CMD-SHELL pass
    /// `["/bin/sh", "-c", command]`). Exit 0 is healthy, anything else unhealthy.
    public var command: [String]
    public var intervalMillis: Int
    /// A probe running longer counts as failed (and is killed).
    public var timeoutMillis: Int
    /// Consecutive failures after which the container is unhealthy.
    public var retries: Int
    /// Failures during this time after start do not count (a success still counts).
    public var startPeriodMillis: Int

    public init(command: [String], intervalMillis: Int = 30_000, timeoutMillis: Int = 30_000, retries: Int = 3,
                startPeriodMillis: Int = 0) {
        precondition(!command.isEmpty && intervalMillis > 0 && timeoutMillis > 0 && retries > 0,
                     "a health check needs a command, a positive interval and timeout, and retries > 0")
        self.command = command
        self.intervalMillis = intervalMillis
        self.timeoutMillis = timeoutMillis
        self.retries = retries
        self.startPeriodMillis = startPeriodMillis
    }
}

/// Docker's health states.
public enum HealthStatus: String, Sendable, Equatable {
    /// No verdict yet (before the first success, and while failures are within the start period).
    case starting
    case healthy
    case unhealthy
}

/// The result of a command run inside a container (`Executor.exec`).
public struct ExecResult: Sendable, Equatable {
    public var status: ExitStatus
    /// stdout followed by stderr, at most `ExecResult.outputLimit` bytes.
    public var output: [UInt8]
    public var timedOut: Bool

    public static let outputLimit = 4_096
}

extension Executor {
    /// Runs `command` inside the running container `id` and waits at most `timeoutMillis`.
    /// Backends that cannot do so throw `ExecutorError.unsupported`.
    public func exec(_ id: ContainerID, command: [String], timeoutMillis: Int) throws -> ExecResult {
        if let capable = self as? ExecCapable { return try capable.execInContainer(id, command: command, timeoutMillis: timeoutMillis) }
        throw ExecutorError.unsupported("running a command inside a container")
    }
}

/// Backends that can run a command in a container (health checks, `exec`).
protocol ExecCapable {
    func execInContainer(_ id: ContainerID, command: [String], timeoutMillis: Int) throws -> ExecResult
}

/// Docker's health-check rules as a pure state machine: probe results in, status out.
struct HealthState: Equatable {
    let check: HealthCheck
    /// Monotonic milliseconds when the container started.
    let startedAtMillis: UInt64
    private(set) var status = HealthStatus.starting
    private(set) var failingStreak = 0

    init(check: HealthCheck, startedAtMillis: UInt64) {
        self.check = check
        self.startedAtMillis = startedAtMillis
    }

    /// Records one probe finished at `nowMillis`; returns true when the status changed.
    mutating func record(success: Bool, nowMillis: UInt64) -> Bool {
        let before = status
        if success {
            failingStreak = 0
            status = .healthy
        } else if nowMillis < startedAtMillis + UInt64(check.startPeriodMillis) && status == .starting {
            // Failures while the service warms up are not held against it.
        } else {
            failingStreak += 1
            if failingStreak >= check.retries { status = .unhealthy }
        }
        return status != before
    }
}

/// Runs a container's health probe every interval on its own thread until the container exits,
/// and publishes the status through `update`.
final class HealthMonitor: @unchecked Sendable {
    private let lock = ConditionLock()
    private var stopped = false
    private var thread: PlatformThread?

    /// `probe` runs the check once (true: healthy); `update` receives every status change.
    init(id: ContainerID, check: HealthCheck, probe: @escaping @Sendable () -> Bool,
         update: @escaping @Sendable (HealthStatus) -> Void) {
        let started = monotonicNanoseconds() / 1_000_000
        thread = PlatformThread(name: "health-\(id.rawValue.prefix(8))") { [self] in
            var state = HealthState(check: check, startedAtMillis: started)
            update(state.status)
            while true {
                let next = monotonicNanoseconds() + UInt64(check.intervalMillis) * 1_000_000
                if lock.waitUntil(deadline: next, { stopped }, then: { true }) == true { return }
                let healthy = probe()
                if lock.withLock({ stopped }) { return }
                if state.record(success: healthy, nowMillis: monotonicNanoseconds() / 1_000_000) { update(state.status) }
            }
        }
    }

    /// Stops probing; waits for a probe in flight unless called from the monitor itself.
    func stop(join: Bool = true) {
        lock.withLock { stopped = true }
        lock.broadcast()
        if join { thread?.join() }
    }
}
