/// The node's `docker exec` instances: created, running, or exited with a code, each tied to the
/// container it runs in.
///
/// It exists to bound exec state like everything else on the node: at most `maxRecords` are kept
/// (the oldest not running is forgotten first) and at most `maxRunning` run at once; beyond
/// either a request is refused with 503 rather than queued. Loop-confined, no I/O.
final class ExecRegistry {
    enum Phase: Equatable {
        case created
        case running
        case exited(Int32)
    }

    struct Record {
        let id: String
        let container: LocalContainer
        let configuration: ExecConfiguration
        var phase = Phase.created
        var processID: Int32 = 0
        var process: (any ExecProcessHandle)?
        /// A terminal size asked for while the process was still starting (the docker CLI
        /// resizes right after the stream opens), applied once it runs.
        var pendingSize: (rows: Int, columns: Int)?
        let order: UInt64
    }

    let maxRecords: Int
    let maxRunning: Int
    private(set) var records: [String: Record] = [:]
    private var nextOrder: UInt64 = 0

    init(maxRecords: Int = 256, maxRunning: Int = 32) {
        precondition(maxRecords >= maxRunning && maxRunning > 0, "exec limits must be positive, records at least running")
        self.maxRecords = maxRecords
        self.maxRunning = maxRunning
    }

    var runningCount: Int { records.values.filter { $0.phase == .running }.count }

    /// Records a new exec; forgets the oldest one not running when full.
    func create(id: String, container: LocalContainer, configuration: ExecConfiguration) -> Result<Void, APIError> {
        precondition(records[id] == nil, "exec id \(id) drawn twice")
        if records.count >= maxRecords {
            guard let oldest = records.values.filter({ $0.phase != .running }).min(by: { $0.order < $1.order }) else {
                return .failure(APIError(status: 503, "\(records.count) execs are running on this node (the limit): wait for one to end"))
            }
            records[oldest.id] = nil
        }
        nextOrder += 1
        records[id] = Record(id: id, container: container, configuration: configuration, order: nextOrder)
        return .success(())
    }

    /// The record of `id`, or dockerd's 404.
    func find(_ id: String) -> Result<Record, APIError> {
        guard let record = records[id] else { return .failure(APIError(status: 404, "No such exec instance: \(id)")) }
        return .success(record)
    }

    /// Marks `id` as starting: 409 if it already ran or runs, 503 at the running limit.
    func begin(_ id: String) -> Result<Record, APIError> {
        guard var record = records[id] else { return .failure(APIError(status: 404, "No such exec instance: \(id)")) }
        switch record.phase {
        case .running: return .failure(APIError(status: 409, "Error: Exec command \(id) is already running"))
        case .exited: return .failure(APIError(status: 409, "Error: Exec command \(id) has already run"))
        case .created: break
        }
        guard runningCount < maxRunning else {
            return .failure(APIError(status: 503, "\(maxRunning) execs are already running on this node (the limit): wait for one to end"))
        }
        record.phase = .running
        records[id] = record
        return .success(record)
    }

    /// The process of a running exec is known.
    func started(_ id: String, process: any ExecProcessHandle) {
        records[id]?.process = process
        records[id]?.processID = process.processID
        if let size = records[id]?.pendingSize {
            records[id]?.pendingSize = nil
            _ = process.resize(rows: size.rows, columns: size.columns)
        }
    }

    /// Records a terminal size for an exec whose process is still starting; false unless it is.
    func holdSize(_ id: String, rows: Int, columns: Int) -> Bool {
        guard let record = records[id], record.phase == .running, record.process == nil, record.configuration.tty else { return false }
        records[id]?.pendingSize = (rows, columns)
        return true
    }

    /// The exec ended (or never started: `code` is then dockerd's 126/127-style failure code).
    func finished(_ id: String, exitCode: Int32) {
        guard var record = records[id] else { return }
        if let process = record.process, record.processID == 0 { record.processID = process.processID }
        record.phase = .exited(exitCode)
        record.process = nil
        records[id] = record
    }
}
