import API
import ClusterState
import Dispatch
import Executor
import Transport

// Service logs: the manager answering `/services/{id}/logs` asks each node that ran a task
// for the task's output over the node's own session (workers dial managers, never the other
// way), and the node reads its executor's log files off the loop.
extension SwarmNode {
    /// Longest a manager waits for a node's logs before answering without them.
    static let logsTimeoutMillis = 3_000
    /// Most bytes sent per task and request; older output beyond it is skipped.
    static let maxLogBytesPerStream = 1 << 20

    public func after(millis: Int, _ body: @escaping () -> Void) {
        _ = loop.schedule(afterMillis: millis, body)
    }

    public func fetchLogs(_ requests: [TaskLogRequest], _ done: @escaping ([TaskLogChunk]) -> Void) {
        var byNode: [String: [TaskLogRequest]] = [:]
        for request in requests { byNode[request.nodeID, default: []].append(request) }
        guard !byNode.isEmpty else { return done([]) }
        var collected: [TaskLogChunk] = []
        var remaining = byNode.count
        var finished = false
        let finish: ([TaskLogChunk]) -> Void = { chunks in
            guard !finished else { return }
            collected += chunks
            remaining -= 1
            if remaining == 0 {
                finished = true
                done(collected.sorted { $0.taskID < $1.taskID })
            }
        }
        for (nodeID, tasks) in byNode.sorted(by: { $0.key < $1.key }) {
            let requestID = pendingRequests.makeRequestID()
            if nodeID == identity.nodeID {
                pendingLogRequests[requestID] = finish
                readLocalLogs(tasks) { [self] chunks in
                    _ = loop.execute { [self] in receiveLogs(LogsResponse(requestID: requestID, chunks: chunks)) }
                }
            } else if let connection = nodeConnections[nodeID] {
                pendingLogRequests[requestID] = finish
                transport.reply(application: ApplicationFrame(.logsRequest, LogsRequest(requestID: requestID, tasks: tasks)), on: connection)
                _ = loop.schedule(afterMillis: Self.logsTimeoutMillis) { [self] in
                    pendingLogRequests.removeValue(forKey: requestID)?([])
                }
            } else {
                finish([])
            }
        }
    }

    /// A manager asked this node for task output: read it off the loop, answer on the same link.
    func serveLogs(_ request: LogsRequest, on connection: ConnectionID) {
        readLocalLogs(request.tasks) { [self] chunks in
            _ = loop.execute { [self] in
                transport.reply(application: ApplicationFrame(.logsResponse, LogsResponse(requestID: request.requestID, chunks: chunks)),
                                on: connection)
            }
        }
    }

    func receiveLogs(_ response: LogsResponse) {
        pendingLogRequests.removeValue(forKey: response.requestID)?(response.chunks)
    }

    /// Reads the executor's timestamped lines on a background queue; `done` runs there.
    func readLocalLogs(_ tasks: [TaskLogRequest], _ done: @escaping @Sendable ([TaskLogChunk]) -> Void) {
        guard let executor = taskExecutor, let agent else { return done([]) }
        let containers = tasks.map { agent.container(ofTask: $0.taskID) }
        DispatchQueue.global().async {
            var chunks: [TaskLogChunk] = []
            for (task, container) in zip(tasks, containers) {
                guard let container, let records = try? executor.logRecords(container) else { continue }
                let lines = records.map { TaskLogLine(stream: $0.stream == .stdout ? 1 : 2, timeNanos: $0.timeNanos, sequence: $0.sequence, data: $0.bytes) }
                chunks.append(TaskLogChunk.select(lines, for: task, maxBytes: SwarmNode.maxLogBytesPerStream))
            }
            done(chunks)
        }
    }
}
