import ClusterState
import Foundation

/// One task's log to fetch from the node that ran it, from a byte offset per stream.
public struct TaskLogRequest: Codable, Sendable, Equatable {
    public var taskID: String
    public var nodeID: String
    public var stdoutOffset: UInt64
    public var stderrOffset: UInt64
    /// Only the last `tail` lines of each stream (first fetch of `--tail N`); nil: everything.
    public var tail: Int?

    public init(taskID: String, nodeID: String, stdoutOffset: UInt64 = 0, stderrOffset: UInt64 = 0, tail: Int? = nil) {
        self.taskID = taskID
        self.nodeID = nodeID
        self.stdoutOffset = stdoutOffset
        self.stderrOffset = stderrOffset
        self.tail = tail
    }
}

/// Bytes of one task's stream, and the offset to ask for next time.
public struct TaskLogChunk: Codable, Sendable, Equatable {
    public var taskID: String
    /// 1 stdout, 2 stderr (the stdcopy stream byte).
    public var stream: UInt8
    public var data: [UInt8]
    public var nextOffset: UInt64

    public init(taskID: String, stream: UInt8, data: [UInt8], nextOffset: UInt64) {
        self.taskID = taskID
        self.stream = stream
        self.data = data
        self.nextOffset = nextOffset
    }
}

/// `GET /services/{id}/logs`: every task's output, gathered from the nodes that ran the tasks,
/// in docker's stdcopy framing (8-byte header per line) on a chunked stream; with `follow=1` the
/// stream stays open and new output is polled once a second until the client leaves.
final class ServiceLogStream {
    struct Options {
        var stdout: Bool
        var stderr: Bool
        var tail: Int?
        var timestamps: Bool
        var follow: Bool
        var details: Bool
    }

    static let pollMillis = 1_000

    private let controlPlane: any ControlPlane
    private let reference: String
    private let options: Options
    private let stream: HTTPResponseStream
    private var offsets: [String: (stdout: UInt64, stderr: UInt64)] = [:]
    private var partial: [String: [UInt8]] = [:]

    init(controlPlane: any ControlPlane, reference: String, options: Options, stream: HTTPResponseStream) {
        self.controlPlane = controlPlane
        self.reference = reference
        self.options = options
        self.stream = stream
    }

    static func options(_ query: QueryParameters) -> Result<Options, APIError> {
        let tailText = query["tail"] ?? "all"
        var tail: Int? = nil
        if tailText != "all" && !tailText.isEmpty {
            guard let value = Int(tailText), value >= 0 else { return .failure(.badRequest("invalid tail value \(tailText): use a number or all")) }
            tail = value
        }
        let options = Options(stdout: query.bool("stdout"), stderr: query.bool("stderr"), tail: tail, timestamps: query.bool("timestamps"),
                              follow: query.bool("follow"), details: query.bool("details"))
        guard options.stdout || options.stderr else {
            return .failure(.badRequest("Bad parameters: you must choose at least one stream"))
        }
        return .success(options)
    }

    /// One round: read the service's tasks, fetch what is new, write it; again after a second
    /// when following.
    func round() {
        guard stream.isOpen else { return }
        controlPlane.readState { [self] result in
            guard case let .success(view) = result, case let .success(service) = view.state.findService(reference) else {
                return stream.finish()
            }
            let tasks = view.state.tasks(ofService: service.id).filter { $0.nodeID != nil && $0.status.state >= .starting }
            let requests = tasks.map { task in
                let offset = offsets[task.id] ?? (0, 0)
                return TaskLogRequest(taskID: task.id, nodeID: task.nodeID!, stdoutOffset: offset.stdout, stderrOffset: offset.stderr,
                                      tail: offsets[task.id] == nil ? options.tail : nil)
            }
            let byID = Dictionary(uniqueKeysWithValues: tasks.map { ($0.id, $0) })
            controlPlane.fetchLogs(requests) { [self] chunks in
                write(chunks, tasks: byID, serviceID: service.id)
                if options.follow && stream.isOpen {
                    controlPlane.after(millis: Self.pollMillis) { [self] in round() }
                } else {
                    stream.finish()
                }
            }
        }
    }

    private func write(_ chunks: [TaskLogChunk], tasks: [String: SwarmTask], serviceID: String) {
        var body: [UInt8] = []
        let now = Date()
        for chunk in chunks {
            var offset = offsets[chunk.taskID] ?? (0, 0)
            if chunk.stream == 1 { offset.stdout = chunk.nextOffset } else { offset.stderr = chunk.nextOffset }
            offsets[chunk.taskID] = offset
            guard (chunk.stream == 1 && options.stdout) || (chunk.stream == 2 && options.stderr), let task = tasks[chunk.taskID] else { continue }
            let key = "\(chunk.taskID)/\(chunk.stream)"
            var pending = (partial[key] ?? []) + chunk.data
            while let newline = pending.firstIndex(of: 10) {
                body += frame(Array(pending[...newline]), stream: chunk.stream, task: task, serviceID: serviceID, at: now)
                pending.removeSubrange(...newline)
            }
            // A line still being written waits for its newline (at most 16 KiB are held back).
            if pending.count > 16 << 10 {
                body += frame(pending + [10], stream: chunk.stream, task: task, serviceID: serviceID, at: now)
                pending = []
            }
            partial[key] = pending
        }
        stream.write(body)
    }

    /// One stdcopy frame: stream byte, three zeros, big-endian length, then the line with the
    /// optional timestamp and swarm details dockerd puts before the message.
    private func frame(_ line: [UInt8], stream: UInt8, task: SwarmTask, serviceID: String, at time: Date) -> [UInt8] {
        var prefix = ""
        if options.timestamps {
            // The executor keeps no per-line times: this is when the manager read the line.
            prefix += RFC3339.format(UInt64(time.timeIntervalSince1970 * 1000)) + " "
        }
        if options.details {
            prefix += "com.docker.swarm.node.id=\(task.nodeID ?? ""),com.docker.swarm.service.id=\(serviceID),com.docker.swarm.task.id=\(task.id) "
        }
        let payload = Array(prefix.utf8) + line
        let length = UInt32(payload.count)
        return [stream, 0, 0, 0, UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + payload
    }
}

extension DockerAPI {
    /// `GET /services/{ref}/logs`, which answers with a stream rather than one response.
    /// Returns false if `segments` is not that route.
    func serviceLogs(_ request: HTTPRequest, _ segments: [String], _ responder: HTTPResponder) -> Bool {
        guard request.method == "GET", segments.count == 3, segments[0] == "services", segments[2] == "logs" else { return false }
        let reply: Reply = { [identity] response in responder.respond(Self.withStandardHeaders(response, identity)) }
        guard let controlPlane = manager(reply) else { return true }
        let options: ServiceLogStream.Options
        switch ServiceLogStream.options(request.query) {
        case let .failure(error): reply(error.response); return true
        case let .success(parsed): options = parsed
        }
        controlPlane.readState { [identity] result in
            switch result {
            case let .failure(error): reply(error.response)
            case let .success(view):
                if case let .failure(error) = view.state.findService(segments[1]) { return reply(APIError(error).response) }
                let headers = Self.withStandardHeaders(HTTPResponse(status: 200), identity).headers
                guard let stream = responder.startStream(status: 200, headers: headers) else { return }
                ServiceLogStream(controlPlane: controlPlane, reference: segments[1], options: options, stream: stream).round()
            }
        }
        return true
    }
}
