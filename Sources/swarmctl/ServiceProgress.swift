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

    /// Polls until the service converged (0), its update paused or rolled back (1).
    func waitForConvergence() throws -> Int32 {
        var printed: [String: String] = [:]
        var lastOverall = ""
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
            switch snapshot.outcome {
            case .converged:
                if !quiet { writeStandardOutput("verify: Service \(serviceID) converged\n") }
                return 0
            case let .failed(reason):
                writeStandardError("swarmctl: \(reason)\n")
                return 1
            case .inProgress:
                usleep(periodMillis * 1000)
            }
        }
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
        outcome = Self.outcome(service: service, desired: desired, running: running, expectRollback: expectRollback)
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
