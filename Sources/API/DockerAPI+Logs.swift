import ClusterState
import Foundation

/// One task's log lines to fetch from the node that ran it: those after `afterSequence`, in the
/// chosen streams and time window, or only the last `tail` of them.
public struct TaskLogRequest: Codable, Sendable, Equatable {
    public var taskID: String
    public var nodeID: String
    /// Lines with a larger sequence number only (0: from the first kept line).
    public var afterSequence: UInt64
    /// Only the last `tail` matching lines (stdout and stderr counted together); nil: all.
    public var tail: Int?
    /// Write-time window in nanoseconds since the epoch; nil: unbounded.
    public var since: Int64?
    public var until: Int64?
    public var stdout: Bool
    public var stderr: Bool

    public init(taskID: String, nodeID: String, afterSequence: UInt64 = 0, tail: Int? = nil, since: Int64? = nil, until: Int64? = nil,
                stdout: Bool = true, stderr: Bool = true) {
        self.taskID = taskID
        self.nodeID = nodeID
        self.afterSequence = afterSequence
        self.tail = tail
        self.since = since
        self.until = until
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// One line of a task's output as its node recorded it.
public struct TaskLogLine: Codable, Sendable, Equatable {
    /// 1 stdout, 2 stderr (the stdcopy stream byte).
    public var stream: UInt8
    /// When the line was written, nanoseconds since the epoch (0: unknown).
    public var timeNanos: Int64
    public var sequence: UInt64
    public var data: [UInt8]

    public init(stream: UInt8, timeNanos: Int64, sequence: UInt64, data: [UInt8]) {
        self.stream = stream
        self.timeNanos = timeNanos
        self.sequence = sequence
        self.data = data
    }
}

/// A node's answer for one task: the matching lines, and the sequence to continue after.
public struct TaskLogChunk: Codable, Sendable, Equatable {
    public var taskID: String
    public var lines: [TaskLogLine]
    /// The last sequence number the node has for the task, matching or not.
    public var lastSequence: UInt64

    public init(taskID: String, lines: [TaskLogLine], lastSequence: UInt64) {
        self.taskID = taskID
        self.lines = lines
        self.lastSequence = lastSequence
    }

    /// `request` applied to a task's kept lines (oldest first): the node-side selection, shared
    /// by every node and the tests. At most `maxBytes` of the newest matching lines are kept.
    public static func select(_ lines: [TaskLogLine], for request: TaskLogRequest, maxBytes: Int = 1 << 20) -> TaskLogChunk {
        var matching = lines.filter { line in
            line.sequence > request.afterSequence && (line.stream == 1 ? request.stdout : request.stderr)
                && line.timeNanos >= (request.since ?? Int64.min) && line.timeNanos <= (request.until ?? Int64.max)
        }
        if let tail = request.tail { matching = Array(matching.suffix(max(tail, 0))) }
        var bytes = 0
        var first = matching.count
        while first > 0 && bytes + matching[first - 1].data.count <= maxBytes {
            first -= 1
            bytes += matching[first].data.count
        }
        return TaskLogChunk(taskID: request.taskID, lines: Array(matching[first...]),
                            lastSequence: max(lines.last?.sequence ?? 0, request.afterSequence))
    }
}

/// `GET /services/{id}/logs` and `GET /tasks/{id}/logs`: the tasks' lines gathered from the nodes
/// that ran them, merged across tasks and streams in write-time order, in docker's stdcopy framing
/// (8-byte header per line) on a chunked stream. `--tail` counts the merged stream; with
/// `follow=1` the stream stays open and new lines are polled every `pollMillis` until the client
/// leaves or `until` passes.
final class ServiceLogStream {
    struct Options {
        var stdout: Bool
        var stderr: Bool
        var tail: Int?
        var timestamps: Bool
        var follow: Bool
        var details: Bool
        var since: Int64? = nil
        var until: Int64? = nil
    }

    /// Whose logs: every task of a service, or one task (found in the cluster state, or a task
    /// of this node's, `docker logs` on a node, which needs no state).
    enum Subject {
        case service(String)
        case task(String)
        case local(SwarmTask)
    }

    static let pollMillis = 250

    private let controlPlane: any ControlPlane
    private let subject: Subject
    private let options: Options
    private let stream: HTTPResponseStream
    private let now: () -> Timestamp
    private var cursors: [String: UInt64] = [:]
    private var firstRound = true

    init(controlPlane: any ControlPlane, subject: Subject, options: Options, stream: HTTPResponseStream, now: @escaping () -> Timestamp) {
        self.controlPlane = controlPlane
        self.subject = subject
        self.options = options
        self.stream = stream
        self.now = now
    }

    static func options(_ query: QueryParameters) -> Result<Options, APIError> {
        let tailText = query["tail"] ?? "all"
        var tail: Int? = nil
        if tailText != "all" && !tailText.isEmpty {
            guard let value = Int(tailText) else { return .failure(.badRequest("invalid tail value \(tailText): use a number or all")) }
            tail = max(value, 0)
        }
        var options = Options(stdout: query.bool("stdout"), stderr: query.bool("stderr"), tail: tail, timestamps: query.bool("timestamps"),
                              follow: query.bool("follow"), details: query.bool("details"))
        guard options.stdout || options.stderr else {
            return .failure(.badRequest("Bad parameters: you must choose at least one stream"))
        }
        for name in ["since", "until"] {
            guard let text = query[name], !text.isEmpty else { continue }
            guard let nanos = EventQuery.timestamp(text) else {
                return .failure(.badRequest("invalid value for \(name): \(text): use seconds since the epoch (SECONDS[.NANOSECONDS]) or an RFC 3339 time"))
            }
            // Zero means "not set" for both, as the docker CLI sends them.
            if name == "since" { options.since = nanos == 0 ? nil : nanos } else { options.until = nanos == 0 ? nil : nanos }
        }
        return .success(options)
    }

    /// The tasks whose logs to read, from the state; nil when the subject is gone.
    private func tasks(_ state: ClusterState) -> (tasks: [SwarmTask], serviceID: String)? {
        switch subject {
        case let .service(reference):
            guard case let .success(service) = state.findService(reference) else { return nil }
            return (state.tasks(ofService: service.id).filter { $0.nodeID != nil && $0.status.state >= .starting }, service.id)
        case let .task(reference):
            guard case let .success(task) = state.findTask(reference) else { return nil }
            return (task.nodeID != nil ? [task] : [], task.serviceID)
        case let .local(task):
            return ([task], task.serviceID)
        }
    }

    /// One round: read the tasks, fetch what is new, write it in time order; again after
    /// `pollMillis` when following, until `until` has passed.
    func round() {
        guard stream.isOpen else { return }
        if case let .local(task) = subject { return fetch([task], serviceID: task.serviceID) }
        controlPlane.readState { [self] result in
            guard case let .success(view) = result, let (tasks, serviceID) = tasks(view.state) else { return stream.finish() }
            fetch(tasks, serviceID: serviceID)
        }
    }

    private func fetch(_ tasks: [SwarmTask], serviceID: String) {
        let requests = tasks.map { task in
            TaskLogRequest(taskID: task.id, nodeID: task.nodeID!, afterSequence: cursors[task.id] ?? 0, tail: firstRound ? options.tail : nil,
                           since: options.since, until: options.until, stdout: options.stdout, stderr: options.stderr)
        }
        let byID = Dictionary(uniqueKeysWithValues: tasks.map { ($0.id, $0) })
        controlPlane.fetchLogs(requests) { [self] chunks in
            write(chunks, tasks: byID, serviceID: serviceID)
            firstRound = false
            let ended = options.until.map { Int64(now().millisecondsSinceEpoch) * 1_000_000 > $0 } ?? false
            if options.follow && !ended && stream.isOpen {
                controlPlane.after(millis: Self.pollMillis) { [self] in round() }
            } else {
                stream.finish()
            }
        }
    }

    private func write(_ chunks: [TaskLogChunk], tasks: [String: SwarmTask], serviceID: String) {
        var lines: [(line: TaskLogLine, task: SwarmTask)] = []
        for chunk in chunks {
            cursors[chunk.taskID] = max(cursors[chunk.taskID] ?? 0, chunk.lastSequence)
            guard let task = tasks[chunk.taskID] else { continue }
            lines += chunk.lines.map { ($0, task) }
        }
        lines.sort { ($0.line.timeNanos, $0.task.id, $0.line.sequence) < ($1.line.timeNanos, $1.task.id, $1.line.sequence) }
        if firstRound, let tail = options.tail { lines = Array(lines.suffix(tail)) }
        var body: [UInt8] = []
        for (line, task) in lines { body += frame(line, task: task, serviceID: serviceID) }
        stream.write(body)
    }

    /// One stdcopy frame: stream byte, three zeros, big-endian length, then the line with the
    /// optional write time and swarm details dockerd puts before the message.
    private func frame(_ line: TaskLogLine, task: SwarmTask, serviceID: String) -> [UInt8] {
        var prefix = ""
        if options.timestamps { prefix += Self.timestamp(line.timeNanos) + " " }
        if options.details {
            prefix += "com.docker.swarm.node.id=\(task.nodeID ?? ""),com.docker.swarm.service.id=\(serviceID),com.docker.swarm.task.id=\(task.id) "
        }
        var payload = Array(prefix.utf8) + line.data
        if line.data.last != 10 { payload.append(10) }
        let length = UInt32(payload.count)
        return [line.stream, 0, 0, 0, UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + payload
    }

    /// dockerd's log time: RFC 3339 with nine fraction digits, UTC.
    static func timestamp(_ nanos: Int64) -> String {
        let clamped = max(nanos, 0)
        let seconds = RFC3339.format(UInt64(clamped / 1_000_000_000) * 1000)
        return String(seconds.dropLast(5)) + "." + String(String(clamped % 1_000_000_000 + 1_000_000_000).dropFirst()) + "Z"
    }
}

extension DockerAPI {
    /// `GET /services/{ref}/logs` and `GET /tasks/{ref}/logs`, which answer with a stream rather
    /// than one response. Returns false if `segments` is neither route.
    func serviceLogs(_ request: HTTPRequest, _ segments: [String], _ responder: HTTPResponder) -> Bool {
        guard request.method == "GET", segments.count == 3, ["services", "tasks", "containers"].contains(segments[0]), segments[2] == "logs" else {
            return false
        }
        if segments[0] == "containers" { return containerLogs(request, segments[1], responder) }
        let subject: ServiceLogStream.Subject = segments[0] == "services" ? .service(segments[1]) : .task(segments[1])
        let reply: Reply = { [identity] response in responder.respond(Self.withStandardHeaders(response, identity)) }
        guard let controlPlane = manager(reply) else { return true }
        let options: ServiceLogStream.Options
        switch ServiceLogStream.options(request.query) {
        case let .failure(error): reply(error.response); return true
        case let .success(parsed): options = parsed
        }
        controlPlane.readState { [identity, now] result in
            switch result {
            case let .failure(error): reply(error.response)
            case let .success(view):
                switch subject {
                case let .service(reference):
                    if case let .failure(error) = view.state.findService(reference) { return reply(APIError(error).response) }
                case let .task(reference):
                    if case let .failure(error) = view.state.findTask(reference) { return reply(APIError(error).response) }
                case .local:
                    break
                }
                let headers = Self.withStandardHeaders(HTTPResponse(status: 200), identity).headers
                guard let stream = responder.startStream(status: 200, headers: headers) else { return }
                ServiceLogStream(controlPlane: controlPlane, subject: subject, options: options, stream: stream, now: now).round()
            }
        }
        return true
    }
}

extension DockerAPI {
    /// `GET /containers/{id}/logs` on the node that runs the task: its lines without the cluster
    /// state (workers have none), in the same framing as service logs.
    func containerLogs(_ request: HTTPRequest, _ reference: String, _ responder: HTTPResponder) -> Bool {
        let reply: Reply = { [identity] response in responder.respond(Self.withStandardHeaders(response, identity)) }
        guard let controlPlane = anyNode(reply) else { return true }
        let options: ServiceLogStream.Options
        switch ServiceLogStream.options(request.query) {
        case let .failure(error): reply(error.response); return true
        case let .success(parsed): options = parsed
        }
        let containers = controlPlane.localContainers()
        guard let container = containers.first(where: { $0.id == reference || $0.name == reference || $0.task.id == reference })
            ?? containers.first(where: { $0.matches(reference) }) else {
            reply(APIError(status: 404, "No such container: \(reference)").response)
            return true
        }
        let headers = Self.withStandardHeaders(HTTPResponse(status: 200), identity).headers
        guard let stream = responder.startStream(status: 200, headers: headers) else { return true }
        var task = container.task
        if task.nodeID == nil { task.nodeID = controlPlane.localNode.nodeID }
        ServiceLogStream(controlPlane: controlPlane, subject: .local(task), options: options, stream: stream, now: now).round()
        return true
    }
}
