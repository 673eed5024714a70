import ClusterState
import Platform

/// `docker exec` against the node that runs the task: `POST /containers/{id}/exec` creates an
/// exec instance, `POST /exec/{id}/start` runs it on the hijacked connection (or detached),
/// `POST /exec/{id}/resize` sizes its terminal, `GET /exec/{id}/json` reports it (the docker CLI
/// reads the exit code there once the stream ends). A container of another node is not found
/// here: exec runs only where the task runs, behind the same API authorization as every route.
extension DockerAPI {
    /// `POST /containers/{id}/exec`: 201 with the new exec's id.
    func createExec(_ container: LocalContainer, _ request: HTTPRequest, _ reply: @escaping Reply) {
        guard container.state == .running else {
            return reply(APIError(status: 409, "Container \(container.id) is not running").response)
        }
        let configuration: ExecConfiguration
        switch Self.decodeBody(ExecConfiguration.Body.self, request).flatMap(ExecConfiguration.validate) {
        case let .failure(error): return reply(error.response)
        case let .success(validated): configuration = validated
        }
        let id = Self.randomExecID()
        switch execs.create(id: id, container: container, configuration: configuration) {
        case let .failure(error): reply(error.response)
        case .success: reply(json(201, ExecCreated(Id: id)))
        }
    }

    /// `/exec/...` routes other than start.
    func execRoute(_ request: HTTPRequest, _ segments: [String], _ reply: @escaping Reply) -> Void? {
        guard segments.count == 3 else { return nil }
        switch (request.method, segments[2]) {
        case ("GET", "json"): return inspectExec(segments[1], reply)
        case ("POST", "resize"): return resizeExec(segments[1], request, reply)
        case ("POST", "start"):
            return reply(APIError.badRequest("exec start needs the client's connection (POST it on a connection the server can take over)").response)
        default: return nil
        }
    }

    /// `POST /exec/{id}/start`: answered on the hijacked connection. Returns false if `segments`
    /// is not that route.
    func startExec(_ request: HTTPRequest, _ segments: [String], _ responder: HTTPResponder) -> Bool {
        guard request.method == "POST", segments.count == 3, segments[0] == "exec", segments[2] == "start" else { return false }
        let reply: Reply = { [identity] response in responder.respond(Self.withStandardHeaders(response, identity)) }
        guard let controlPlane = anyNode(reply) else { return true }
        var options = ExecStartBody()
        if !request.body.isEmpty {
            switch Self.decodeBody(ExecStartBody.self, request) {
            case let .failure(error): reply(error.response); return true
            case let .success(decoded): options = decoded
            }
        }
        if let keys = options.DetachKeys, !keys.isEmpty {
            reply(APIError.badRequest("DetachKeys is not supported by this node: leave the exec by ending its process (exit)").response)
            return true
        }
        let id = segments[1]
        guard case let .success(found) = execs.find(id) else {
            reply(APIError(status: 404, "No such exec instance: \(id)").response)
            return true
        }
        if let problem = Self.startBodyProblem(options, created: found.configuration) {
            reply(APIError.badRequest(problem).response)
            return true
        }
        guard let container = controlPlane.localContainers().first(where: { $0.id == found.container.id }), container.state == .running else {
            reply(APIError(status: 409, "Container \(found.container.id) is not running").response)
            return true
        }
        let record: ExecRegistry.Record
        switch execs.begin(id) {
        case let .failure(error): reply(error.response); return true
        case let .success(begun): record = begun
        }
        var configuration = record.configuration
        if configuration.consoleRows == nil, let size = options.ConsoleSize, size.count == 2, size[0] > 0, size[1] > 0,
           size.allSatisfy({ $0 <= Int(UInt16.max) }) {
            (configuration.consoleRows, configuration.consoleColumns) = (size[0], size[1])
        }
        controlPlane.audit("API exec \(id) in container \(container.id) (task \(container.task.id)): "
                           + "\(configuration.command.joined(separator: " ")) by \(request.client ?? "a client of the unix socket or plain TCP")")
        let detached = options.Detach ?? false
        // dockerd frames the stream by the start's Tty (the create's when the start has none).
        let rawStream = options.Tty ?? configuration.tty
        var connection: HTTPHijackedConnection?
        if detached {
            connection = nil
        } else {
            connection = hijack(responder, request, tty: rawStream)
            guard connection != nil else {
                execs.finished(id, exitCode: 137)
                return true
            }
        }
        controlPlane.startExec(container, configuration) { [weak self] result in
            guard let self else {
                // The API is gone: nobody will watch this exec, so end and reap it.
                if case let .success(process) = result { process.terminate(); ExecSession.abandon(process) }
                return
            }
            switch result {
            case let .failure(error):
                let code = error.execExitCode ?? 126
                execs.finished(id, exitCode: code)
                guard let connection else { return reply(error.response) }
                let text = Array((error.message + "\r\n").utf8)
                connection.write(rawStream ? text : StdcopyFrame.encode(stream: 1, text))
                connection.finish()
            case let .success(process):
                execs.started(id, process: process)
                guard let loop = connection?.loop ?? responder.loop else {
                    // The client left before a detached exec could be watched: end and reap it.
                    process.terminate()
                    execs.finished(id, exitCode: 137)
                    return ExecSession.abandon(process)
                }
                let session = ExecSession(loop: loop, connection: connection, process: process, attachStdin: configuration.attachStdin,
                                          attachStdout: configuration.attachStdout, attachStderr: configuration.attachStderr,
                                          rawStream: rawStream) { [weak self] code in
                    self?.execs.finished(id, exitCode: code)
                }
                session.start()
                if detached { reply(HTTPResponse(status: 200)) }
            }
        }
        return true
    }

    /// dockerd's answer to `Upgrade: tcp` (101, then raw bytes), or a plain 200 and raw bytes to
    /// a client that did not ask to upgrade.
    private func hijack(_ responder: HTTPResponder, _ request: HTTPRequest, tty: Bool) -> HTTPHijackedConnection? {
        let upgrade = request.headers.contains("Upgrade")
        var headers = HTTPHeaders([("Content-Type", "application/vnd.docker.raw-stream")])
        if upgrade {
            headers.add("Connection", "Upgrade")
            headers.add("Upgrade", "tcp")
        }
        let decorated = Self.withStandardHeaders(HTTPResponse(status: 200, headers: headers), identity).headers
        return responder.hijack(status: upgrade ? 101 : 200, reason: upgrade ? "UPGRADED" : "OK", headers: decorated)
    }

    private func inspectExec(_ id: String, _ reply: @escaping Reply) {
        switch execs.find(id) {
        case let .failure(error): reply(error.response)
        case let .success(record): reply(json(200, ExecInspectBody(record)))
        }
    }

    /// `POST /exec/{id}/resize?h=ROWS&w=COLUMNS`.
    private func resizeExec(_ id: String, _ request: HTTPRequest, _ reply: @escaping Reply) {
        guard let rows = Int(request.query["h"] ?? ""), let columns = Int(request.query["w"] ?? ""),
              (0...Int(UInt16.max)).contains(rows), (0...Int(UInt16.max)).contains(columns) else {
            return reply(APIError.badRequest("resize needs h (rows) and w (columns) between 0 and 65535").response)
        }
        switch execs.find(id) {
        case let .failure(error): reply(error.response)
        case let .success(record):
            if execs.holdSize(id, rows: rows, columns: columns) { return reply(HTTPResponse(status: 200)) }
            guard record.phase == .running, let process = record.process else {
                return reply(APIError(status: 409, "Exec \(id) is not running").response)
            }
            guard process.resize(rows: rows, columns: columns) else {
                return reply(APIError.badRequest("exec \(id) has no terminal to resize (it was created without Tty)").response)
            }
            reply(HTTPResponse(status: 200))
        }
    }

    /// 64 hex digits, as dockerd's exec ids.
    static func randomExecID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in
            let text = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - text.count) + text
        }.joined()
    }
}

struct ExecCreated: Encodable {
    let Id: String
}

/// The `POST /exec/{id}/start` body.
extension DockerAPI {
    /// A start body whose `ConsoleSize` is no size (refused as the create route refuses it).
    static func startBodyProblem(_ options: ExecStartBody, created: ExecConfiguration) -> String? {
        if let size = options.ConsoleSize, size.count != 2 || !size.allSatisfy({ (0...Int(UInt16.max)).contains($0) }) {
            return "ConsoleSize must be [rows, columns], each 0-\(UInt16.max), got \(size)"
        }
        return nil
    }
}

struct ExecStartBody: Decodable {
    var Detach: Bool?
    var Tty: Bool?
    var ConsoleSize: [Int]?
    var DetachKeys: String?
}

/// dockerd's `ExecInspect`.
struct ExecInspectBody: Encodable {
    struct ProcessConfig: Encodable {
        let arguments: [String]
        let entrypoint: String
        let privileged: Bool
        let tty: Bool
        let user: String
    }

    let ID: String
    let Running: Bool
    let ExitCode: Int32?
    let ProcessConfig: ProcessConfig
    let OpenStdin: Bool
    let OpenStderr: Bool
    let OpenStdout: Bool
    let CanRemove: Bool
    let ContainerID: String
    let DetachKeys: String
    let Pid: Int32

    init(_ record: ExecRegistry.Record) {
        let configuration = record.configuration
        ID = record.id
        Running = record.phase == .running
        if case let .exited(code) = record.phase { ExitCode = code } else { ExitCode = nil }
        self.ProcessConfig = ExecInspectBody.ProcessConfig(arguments: Array(configuration.command.dropFirst()), entrypoint: configuration.command.first ?? "",
                              privileged: false, tty: configuration.tty, user: configuration.user ?? "")
        OpenStdin = configuration.attachStdin
        OpenStderr = configuration.attachStderr
        OpenStdout = configuration.attachStdout
        CanRemove = false
        ContainerID = record.container.id
        DetachKeys = ""
        Pid = record.phase == .running ? (record.process?.processID ?? record.processID) : record.processID
    }
}
