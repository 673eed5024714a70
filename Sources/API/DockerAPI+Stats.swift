/// `GET /containers/{id}/stats` streamed (docker's default, `docker stats` without
/// `--no-stream`): one stats object per second, each with the previous reading as `precpu_stats`
/// so the CLI can compute the CPU share, until the client goes away or the container is no longer
/// on this node. A client that does not read is not queued for: a reading is skipped while the
/// last one still waits to be sent.
final class StatsStream {
    static let intervalMillis = 1_000
    /// Output waiting for the client beyond which a reading is skipped.
    static let maxPendingBytes = 64 << 10

    private let controlPlane: any ControlPlane
    private let containerID: String
    private let stream: HTTPResponseStream
    private var previous = ContainerUsage(readNanos: 0, cpuNanos: 0, systemCPUNanos: 0, onlineCPUs: 0, memoryBytes: 0,
                                          memoryLimitBytes: 0, pids: 0)

    init(controlPlane: any ControlPlane, containerID: String, stream: HTTPResponseStream) {
        self.controlPlane = controlPlane
        self.containerID = containerID
        self.stream = stream
    }

    /// Sends a reading now and every interval after; the scheduled rounds keep the stream alive.
    func start() {
        round()
    }

    private func round() {
        guard stream.isOpen else { return }
        guard let container = controlPlane.localContainers().first(where: { $0.id == containerID }) else { return stream.finish() }
        guard container.state == .running, stream.pendingWriteBytes < Self.maxPendingBytes else {
            if container.state == .running { return next() }
            // dockerd streams zeros for a stopped container; the CLI shows 0%.
            send(container, previous: previous, current: previous)
            return next()
        }
        controlPlane.containerUsage(container, intervalMillis: 0) { [self] result in
            guard stream.isOpen else { return }
            guard case let .success((_, current)) = result else { return stream.finish() }
            send(container, previous: previous, current: current)
            previous = current
            next()
        }
    }

    private func send(_ container: LocalContainer, previous: ContainerUsage, current: ContainerUsage) {
        guard let line = try? DockerAPI.encode(StatsBody(container, previous: previous, current: current)) else { return }
        stream.write(line)
    }

    private func next() {
        controlPlane.after(millis: Self.intervalMillis) { [self] in round() }
    }
}

extension DockerAPI {
    /// `GET /containers/{id}/stats` with `stream` true (the default) and not `one-shot`: answered
    /// with a stream. Returns false if `segments` is not that route.
    func streamStats(_ request: HTTPRequest, _ segments: [String], _ responder: HTTPResponder) -> Bool {
        guard request.method == "GET", segments.count == 3, segments[0] == "containers", segments[2] == "stats",
              request.query.bool("stream", default: true), !request.query.bool("one-shot") else { return false }
        let reply: Reply = { [identity] response in responder.respond(Self.withStandardHeaders(response, identity)) }
        guard let controlPlane = anyNode(reply) else { return true }
        let matches = controlPlane.localContainers().filter { $0.matches(segments[1]) }
        guard matches.count == 1 || matches.contains(where: { $0.id == segments[1] }) else {
            reply(APIError(status: matches.isEmpty ? 404 : 400, matches.isEmpty ? "No such container: \(segments[1])"
                           : "multiple containers match \(segments[1]): give more of the id").response)
            return true
        }
        let container = matches.first { $0.id == segments[1] } ?? matches[0]
        let headers = Self.withStandardHeaders(HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", "application/json")])),
                                               identity).headers
        guard let stream = responder.startStream(status: 200, headers: headers) else { return true }
        StatsStream(controlPlane: controlPlane, containerID: container.id, stream: stream).start()
        return true
    }
}
