import ClusterState
import Foundation
import Glibc

/// Follows a service until it converges, printing docker-style progress: an overall count and
/// one line per slot (per node for global services), each printed again only when it changes.
///
/// It exists because every write to a service is asynchronous (the orchestrator and agents do
/// the work), and users need to see what is happening and why a slot is stuck.
struct ServiceProgress {
    let connection: APIConnection
    let serviceID: String
    let quiet: Bool
    /// The update status before this command's write: unchanged, it is not this command's.
    var statusBefore: UpdateStatus? = nil
    /// A rollback was asked for, so `rollback_completed` is success rather than failure.
    var expectRollback = false
    /// Polling period; docker's CLI polls every 200 ms too.
    var periodMillis: UInt32 = 200
    /// How long every task must keep running before the service counts as converged. Nil means
    /// docker's rule: the service's `UpdateConfig.Monitor`, else 5 s. Tests shrink it.
    var monitorMillis: Int? = nil

    /// Polls until the service converged and stayed so for the monitor period (0), or its update
    /// paused or rolled back, or every task was rejected (1).
    func waitForConvergence() throws -> Int32 {
        var printed: [String: String] = [:]
        var lastOverall = ""
        var stability = StabilityWait()
        let clock = ContinuousClock()
        let start = clock.now
        while true {
            let service = try connection.decode(Service.self, "GET", "/services/\(serviceID)")
            let filter = "{\"service\":{\"\(serviceID)\":true},\"_up-to-date\":{\"true\":true}}"
            let tasks = try connection.decode([SwarmTask].self, "GET", "/tasks", query: [("filters", filter)])
            var current = service
            if current.updateStatus == statusBefore { current.updateStatus = nil }
            let snapshot = ProgressSnapshot(service: current, tasks: tasks, expectRollback: expectRollback)
            if !quiet {
                let overall = "overall progress: \(snapshot.running) out of \(snapshot.desired) tasks"
                if overall != lastOverall {
                    writeStandardOutput(overall + "\n")
                    lastOverall = overall
                }
                for (key, line) in snapshot.lines where printed[key] != line {
                    writeStandardOutput(line + "\n")
                    printed[key] = line
                }
            }
            if case let .failed(reason) = snapshot.outcome {
                writeStandardError("swarmctl: \(reason)\n")
                return 1
            }
            let elapsed = start.duration(to: clock.now)
            let nowMillis = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
            let monitor = monitorMillis ?? StabilityWait.monitorMillis(of: service.spec, rollback: expectRollback)
            let step = stability.observe(converged: snapshot.outcome == .converged, nowMillis: nowMillis, monitorMillis: monitor)
            if !quiet, let line = step.line { writeStandardOutput("verify: \(line)\n") }
            if step.done {
                if !quiet { writeStandardOutput("verify: Service \(serviceID) converged\n") }
                return 0
            }
            usleep(periodMillis * 1000)
        }
    }
}

/// Docker's stability wait: once every task runs, the service must stay so for the monitor
/// period before it counts as converged; a task that stops meanwhile restarts the wait.
/// Pure (the caller passes the time), so the rule is tested without waiting.
struct StabilityWait {
    /// When the tasks were first seen all running in the current stretch.
    private(set) var convergedAtMillis: Int?
    private var lastLine: String?

    struct Step: Equatable {
        var done: Bool
        /// The `verify:` line to print, when it changed.
        var line: String?
    }

    /// docker's default `--update-monitor`.
    static let defaultMonitorMillis = 5_000

    /// The service's `UpdateConfig.Monitor` (`RollbackConfig.Monitor` for a rollback), in
    /// nanoseconds, or docker's 5 s when unset or zero.
    static func monitorMillis(of spec: ServiceSpec, rollback: Bool = false) -> Int {
        guard let nanos = (rollback ? spec.rollbackConfig : spec.updateConfig)?.monitor, nanos > 0 else { return defaultMonitorMillis }
        return Int(nanos / 1_000_000)
    }

    mutating func observe(converged: Bool, nowMillis: Int, monitorMillis: Int) -> Step {
        guard converged else {
            let wasWaiting = convergedAtMillis != nil
            convergedAtMillis = nil
            return emit(wasWaiting ? "Detected task failure" : nil, done: false)
        }
        let since = convergedAtMillis ?? nowMillis
        convergedAtMillis = since
        let waited = nowMillis - since
        if waited >= monitorMillis { return Step(done: true, line: nil) }
        let seconds = (monitorMillis - waited + 999) / 1000
        return emit("Waiting \(seconds) seconds to verify that tasks are stable...", done: false)
    }

    private mutating func emit(_ line: String?, done: Bool) -> Step {
        guard let line, line != lastLine else { return Step(done: done, line: nil) }
        lastLine = line
        return Step(done: done, line: line)
    }
}

/// One poll's view of a service's convergence: pure, so the rules are testable without a node.
struct ProgressSnapshot {
    enum Outcome: Equatable {
        case inProgress
        case converged
        case failed(String)
    }

    let desired: Int
    let running: Int
    /// (slot key, line), in slot order.
    let lines: [(String, String)]
    let outcome: Outcome

    init(service: Service, tasks: [SwarmTask], expectRollback: Bool = false) {
        let live = tasks.filter { $0.desiredState <= .running }
        var current: [String: SwarmTask] = [:]
        for task in live {
            let key = task.slot.map { String($0) } ?? task.nodeID ?? task.id
            if let known = current[key], known.createdAt > task.createdAt { continue }
            current[key] = task
        }
        switch service.spec.mode {
        case let .replicated(replicas): desired = Int(replicas)
        case .global: desired = current.count
        }
        running = current.values.filter { $0.status.state == .running }.count
        let keys = current.keys.sorted { (Int($0) ?? Int.max, $0) < (Int($1) ?? Int.max, $1) }
        let total = desired
        lines = keys.map { key in
            let task = current[key]!
            let label = service.spec.mode.isGlobal ? String(key.prefix(12)) : "\(key)/\(total)"
            var text = "\(label): \(task.status.state.rawValue)"
            if let err = task.status.err, !err.isEmpty {
                text += "   \(err)"
            } else if task.status.state != .running, !task.status.message.isEmpty {
                text += "   \(task.status.message)"
            }
            return (key, text)
        }
        let rejection = Self.everySlotRejected(tasks, desired: desired, global: service.spec.mode.isGlobal)
        outcome = rejection.map { .failed("every task of \(service.spec.name) was rejected: \($0): fix the spec with 'swarmctl service update' or remove the service (its tasks keep being retried)") }
            ?? Self.outcome(service: service, desired: desired, running: running, expectRollback: expectRollback)
    }

    /// The newest rejection's error when no slot can run: in every slot (at least `desired` of
    /// them) the last task that finished was rejected and none runs now. A rejection is the
    /// node refusing the spec (an unknown user, a missing image …), which retrying repeats.
    static func everySlotRejected(_ tasks: [SwarmTask], desired: Int, global: Bool) -> String? {
        var slots: [String: [SwarmTask]] = [:]
        for task in tasks {
            let key = global ? (task.nodeID ?? task.id) : (task.slot.map { String($0) } ?? task.id)
            slots[key, default: []].append(task)
        }
        guard desired > 0, slots.count >= desired else { return nil }
        var newestError: (SwarmTask, String)?
        for attempts in slots.values {
            if attempts.contains(where: { $0.status.state == .running }) { return nil }
            guard let finished = attempts.filter({ $0.status.state.isTerminal }).max(by: { $0.createdAt < $1.createdAt }),
                  finished.status.state == .rejected else { return nil }
            let error = finished.status.err.flatMap { $0.isEmpty ? nil : $0 } ?? finished.status.message
            if newestError.map({ $0.0.createdAt < finished.createdAt }) ?? true { newestError = (finished, error) }
        }
        return newestError?.1
    }

    private static func outcome(service: Service, desired: Int, running: Int, expectRollback: Bool) -> Outcome {
        let message = service.updateStatus?.message ?? ""
        switch service.updateStatus?.state {
        case .paused?, .rollbackPaused?:
            return .failed("update paused: \(message.isEmpty ? "a task failed" : message): fix the spec and run 'service update' again, or 'service rollback'")
        case .rollbackCompleted? where !expectRollback:
            return .failed("the update failed and was rolled back to the previous spec\(message.isEmpty ? "" : " (\(message))"): check 'service ps' for the failing task's error")
        case .updating?, .rollbackStarted?:
            return .inProgress
        default:
            return running >= desired ? .converged : .inProgress
        }
    }
}
