import Glibc
import Platform

/// Per-task timestamps of the way from an assignment to a running container, written when the
/// node runs with `SWARMCTL_START_TRACE=FILE` (a diagnostics switch: it weakens nothing, it only
/// costs a `write` per phase).
///
/// It exists to show where the time of `service create` → N/N running goes (scheduling and
/// dispatch, the executor's prepare and start, the status report's way back to the managers):
/// each line is `MONOTONIC_NS TASK_ID PHASE`, on the machine-wide monotonic clock, so a benchmark
/// on the same machine puts its own timestamps (the request it sent) on the same axis.
/// `Benchmarks/compare/start-phases.py` sums a file up.
final class StartTrace: @unchecked Sendable {
    static let variable = "SWARMCTL_START_TRACE"

    /// The trace of this process, nil unless the variable names a file.
    static let shared: StartTrace? = getenv(variable).flatMap { value in
        let path = String(cString: value)
        return path.isEmpty ? nil : StartTrace(path: path)
    }

    /// The phases, in the order a task goes through them.
    enum Phase: String {
        /// The agent saw the task for the first time (the assignment reached the node).
        case assigned
        /// The executor's prepare began (on the task's worker), and ended.
        case prepareBegin = "prepare-begin"
        case prepared
        /// The executor's start began (after waiting for a start slot), and the runtime reported the container running.
        case startBegin = "start-begin"
        case started
        /// The running status left the agent (sent to the leader, or buffered on it).
        case reported
        /// The managers' store recorded the running status (a Raft commit applied).
        case recorded
    }

    private let descriptor: Int32

    private init?(path: String) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return nil }
        self.descriptor = descriptor
    }

    /// Appends one line; O_APPEND keeps the lines of concurrent callers whole.
    func mark(_ taskID: String, _ phase: Phase) {
        let line = Array("\(monotonicNanoseconds()) \(taskID) \(phase.rawValue)\n".utf8)
        _ = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    }
}
