import ClusterState

/// `GET /events`: the kept events in the `since`/`until` window, then (unless `until` has
/// passed) every new one as it is recorded, one JSON object per line on a chunked stream, until
/// `until` or the client leaves.
final class EventStream {
    private let history: EventHistory
    private let query: EventQuery
    private let stream: HTTPResponseStream
    private var token: UInt64?

    init(history: EventHistory, query: EventQuery, stream: HTTPResponseStream) {
        self.history = history
        self.query = query
        self.stream = stream
    }

    /// Sends the window's kept events and subscribes for new ones; `nowNanos` decides whether
    /// `until` has already passed, and `after` schedules the end of the stream at `until`.
    func start(nowNanos: Int64, after: (Int, @escaping () -> Void) -> Void) {
        if query.wantsHistory {
            send(history.events.filter { query.inWindow($0) && query.includes($0) })
        }
        if let until = query.until, until <= nowNanos { return stream.finish() }
        // The subscription keeps this stream alive until `stop` (the client left, or `until`).
        token = history.subscribe { event in self.deliver(event) }
        stream.onClose = { self.stop() }
        if let until = query.until {
            after(Int((until - nowNanos) / 1_000_000) + 1) { self.stop() }
        }
    }

    private func deliver(_ event: DockerEventMessage) {
        guard stream.isOpen else { return stop() }
        if let until = query.until, event.timeNano > until { return }
        guard query.includes(event) else { return }
        send([event])
    }

    private func send(_ events: [DockerEventMessage]) {
        var body: [UInt8] = []
        for event in events {
            if let line = try? DockerAPI.encode(event) { body += line }
        }
        stream.write(body)
    }

    private func stop() {
        if let token { history.unsubscribe(token) }
        token = nil
        stream.onClose = {}
        if !stream.isFinished { stream.finish() }
    }
}

extension DockerAPI {
    /// `GET /events`, answered with a stream. Returns false if `segments` is not that route.
    func events(_ request: HTTPRequest, _ segments: [String], _ responder: HTTPResponder) -> Bool {
        guard request.method == "GET", segments == ["events"] else { return false }
        let reply: Reply = { [identity] response in responder.respond(Self.withStandardHeaders(response, identity)) }
        guard let controlPlane = anyNode(reply) else { return true }
        guard let history = controlPlane.eventHistory else {
            reply(APIError(status: 503, "this node keeps no events: ask a manager (docker -H MANAGER events)").response)
            return true
        }
        let query: EventQuery
        switch EventQuery.parse(request.query) {
        case let .failure(error): reply(error.response); return true
        case let .success(parsed): query = parsed
        }
        let headers = Self.withStandardHeaders(HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", "application/json")])),
                                               identity).headers
        guard let stream = responder.startStream(status: 200, headers: headers) else { return true }
        let nowNanos = Int64(now().millisecondsSinceEpoch) * 1_000_000
        EventStream(history: history, query: query, stream: stream)
            .start(nowNanos: nowNanos) { millis, body in controlPlane.after(millis: millis, body) }
        return true
    }
}
