import ClusterState
import Foundation

/// The Docker Engine API (swarm subset, v1.41) on top of a `ControlPlane`.
///
/// It exists so the real docker CLI and docker-py can drive a swarmctl cluster: it negotiates the
/// version prefix, decodes requests leniently like dockerd, encodes Docker's JSON shapes, and maps
/// failures to dockerd's statuses and messages. It holds no cluster state of its own.
/// Loop-confined: call `handle` on the node's loop thread; completions arrive there.
public final class DockerAPI {
    /// Answers a request; called exactly once.
    public typealias Reply = (HTTPResponse) -> Void

    private(set) weak var controlPlane: (any ControlPlane)?
    let identity: ServerIdentity
    let now: () -> Timestamp
    let newID: () -> String
    /// Latency of answered requests per HTTP method (see `DockerAPI+Metrics`).
    var requestLatency: [String: Histogram] = [:]
    /// This node's `docker exec` instances.
    let execs = ExecRegistry()

    /// `now` stamps the commands the routes propose (the pure state never reads a clock);
    /// `newID` names new services (random by default, fixed in tests).
    public init(controlPlane: any ControlPlane, identity: ServerIdentity, now: @escaping () -> Timestamp,
                newID: @escaping () -> String = DockerNames.randomID) {
        self.controlPlane = controlPlane
        self.identity = identity
        self.now = now
        self.newID = newID
    }

    /// The `HTTPServer` handler.
    public func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let negotiated = negotiate(request.path)
        var segments: [String]?
        if case let .path(path) = negotiated {
            let split = path.split(separator: "/").map(String.init)
            if serviceLogs(request, split, responder) || events(request, split, responder)
                || startExec(request, split, responder) || streamStats(request, split, responder) { return }
            segments = split
        }
        handle(request, negotiated: negotiated, segments: segments) { responder.respond($0) }
    }

    /// Answers `request` through `reply`, now or after the control plane completes.
    public func handle(_ request: HTTPRequest, reply: @escaping Reply) {
        handle(request, negotiated: negotiate(request.path), segments: nil, reply: reply)
    }

    /// `handle(_:reply:)` with the version prefix already negotiated and, when known, the path's
    /// segments (the streaming routes' check has split them already).
    private func handle(_ request: HTTPRequest, negotiated: Negotiated, segments: [String]?, reply: @escaping Reply) {
        let started = Self.monotonicNanos()
        let decorated: Reply = { [identity, weak self] response in
            self?.recordLatency(method: request.method, startedNanos: started)
            if (200..<300).contains(response.status), let line = Self.auditLine(request) { self?.controlPlane?.audit(line) }
            reply(Self.withStandardHeaders(response, identity))
        }
        switch negotiated {
        case let .refused(response): decorated(response)
        case let .path(path): route(request, segments: segments ?? path.split(separator: "/").map(String.init), reply: decorated)
        }
    }

    /// The audit line of a privileged request that succeeded, nil for the others.
    static func auditLine(_ request: HTTPRequest) -> String? {
        guard request.method == "POST" || request.method == "DELETE" else { return nil }
        // Only paths naming one of these are privileged: the others (every service create) need no split.
        guard Self.auditedWords.contains(where: { request.path.utf8.containsSequence($0.utf8) }) else { return nil }
        let segments = request.path.split(separator: "/").drop { $0.hasPrefix("v1.") || $0.hasPrefix("v2.") }
        let privileged: Bool = switch (segments.first, segments.count) {
        case ("swarm"?, 2): segments.last == "update" || segments.last == "leave"
        case ("nodes"?, 2): request.method == "DELETE"
        case ("nodes"?, 3): segments.last == "update"
        case ("swarmctl"?, 2): segments.last == "client-certificate"
        // Who created, changed or removed which secret or config (never its data: not in the path or query).
        case ("secrets"?, _), ("configs"?, _): true
        default: false
        }
        guard privileged else { return nil }
        let query = request.query.items.isEmpty ? "" : "?" + request.query.encoded
        return "API \(request.method) /\(segments.joined(separator: "/"))\(query) by \(request.client ?? "a client of the unix socket or plain TCP")"
    }

    private static let auditedWords = ["swarm", "nodes", "secrets", "configs"]

    /// Headers dockerd sends on every response.
    static func withStandardHeaders(_ response: HTTPResponse, _ identity: ServerIdentity) -> HTTPResponse {
        var decorated = response
        var headers = HTTPHeaders([("Api-Version", APIVersion.current), ("Docker-Experimental", "false"),
                                   ("Ostype", identity.os), ("Server", identity.serverHeader)])
        for (name, value) in response.headers where !headers.contains(name) { headers.add(name, value) }
        decorated.headers = headers
        return decorated
    }

    // MARK: Version prefix

    /// A request path after version negotiation.
    enum Negotiated {
        case path(String)
        case refused(HTTPResponse)
    }

    static let currentVersion = APIVersion.parse(Substring(APIVersion.current))!
    static let minimumVersion = APIVersion.parse(Substring(APIVersion.minimum))!

    /// Strips `/vX.Y`; refuses versions outside [1.12, 1.41] as dockerd 20.10 does.
    func negotiate(_ path: String) -> Negotiated {
        guard path.hasPrefix("/v") else { return .path(path) }
        let afterV = path.dropFirst(2)
        let text = afterV.prefix { $0 != "/" }
        guard let version = text == APIVersion.current ? Self.currentVersion : APIVersion.parse(text) else { return .path(path) }
        if APIVersion.less(Self.currentVersion, version) {
            return .refused(HTTPResponse.error(400, "client version \(text) is too new. Maximum supported API version is \(APIVersion.current)"))
        }
        if APIVersion.less(version, Self.minimumVersion) {
            return .refused(HTTPResponse.text(400, "client version \(text) is too old. Minimum supported API version is \(APIVersion.minimum), please upgrade your client to a newer version\n"))
        }
        let rest = afterV.dropFirst(text.count)
        return .path(rest.isEmpty ? "/" : String(rest))
    }

    // MARK: Routing

    private func route(_ request: HTTPRequest, segments: [String], reply: @escaping Reply) {
        let method = request.method
        switch segments.first {
        case "_ping" where segments.count == 1 && (method == "GET" || method == "HEAD"):
            return reply(ping(method))
        case "version" where segments.count == 1 && method == "GET":
            return reply(json(200, VersionResponse(identity)))
        case "info" where segments.count == 1 && method == "GET":
            return info(reply)
        case "metrics" where segments.count == 1 && method == "GET":
            return reply(metrics())
        case "swarm":
            if let handled = swarmRoute(request, segments, reply) { return handled }
        case "nodes":
            if let handled = nodesRoute(request, segments, reply) { return handled }
        case "swarmctl":
            if let handled = clientCertificateRoute(request, segments, reply) ?? chaosRoute(request, segments, reply) { return handled }
        case "services":
            if let handled = servicesRoute(request, segments, reply) { return handled }
        case "tasks":
            if let handled = tasksRoute(request, segments, reply) { return handled }
        case "volumes":
            if let handled = volumesRoute(request, segments, reply) { return handled }
        case "secrets":
            if let handled = payloadsRoute(.secret, request, segments, reply) { return handled }
        case "configs":
            if let handled = payloadsRoute(.config, request, segments, reply) { return handled }
        case "networks":
            if let handled = networksRoute(request, segments, reply) { return handled }
        case "containers":
            if let handled = containersRoute(request, segments, reply) { return handled }
        case "images":
            if let handled = imagesRoute(request, segments, reply) { return handled }
        case "exec":
            if let handled = execRoute(request, segments, reply) { return handled }
        default:
            break
        }
        reply(Self.knownPaths.contains(segments.first.map { "\($0)/\(segments.count)" } ?? "")
              ? HTTPResponse.error(405, "method \(method) is not allowed on \(request.path)")
              : APIError.pageNotFound.response)
    }

    /// First segment and depth of every route, to tell 405 from 404.
    private static let knownPaths: Set<String> = ["_ping/1", "version/1", "info/1", "metrics/1", "swarm/1", "swarm/2", "nodes/1", "nodes/2", "nodes/3",
                                                  "services/1", "services/2", "services/3", "tasks/1", "tasks/2", "swarmctl/2", "swarmctl/3",
                                                  "volumes/1", "volumes/2", "secrets/1", "secrets/2", "secrets/3", "configs/1", "configs/2",
                                                  "configs/3", "networks/1", "networks/2", "events/1", "containers/2", "containers/3", "images/2",
                                                  "exec/3"]

    private func swarmRoute(_ request: HTTPRequest, _ segments: [String], _ reply: @escaping Reply) -> Void? {
        switch (request.method, segments.count > 1 ? segments[1] : nil) {
        case ("GET", nil): return inspectSwarm(reply)
        case ("POST", "update"?) where segments.count == 2: return updateSwarm(request, reply)
        case ("POST", "leave"?) where segments.count == 2: return leaveSwarm(request, reply)
        case ("GET", "unlockkey"?) where segments.count == 2: return unlockKey(reply)
        case ("POST", "unlock"?) where segments.count == 2: return unlockSwarm(reply)
        case ("POST", "init"?) where segments.count == 2, ("POST", "join"?) where segments.count == 2:
            return reply(APIError.alreadyInSwarm.response)
        default: return nil
        }
    }

    private func nodesRoute(_ request: HTTPRequest, _ segments: [String], _ reply: @escaping Reply) -> Void? {
        switch (request.method, segments.count) {
        case ("GET", 1): return listNodes(request, reply)
        case ("GET", 2): return inspectNode(segments[1], reply)
        case ("DELETE", 2): return removeNode(segments[1], request, reply)
        case ("POST", 3) where segments[2] == "update": return updateNode(segments[1], request, reply)
        default: return nil
        }
    }

    private func servicesRoute(_ request: HTTPRequest, _ segments: [String], _ reply: @escaping Reply) -> Void? {
        switch (request.method, segments.count) {
        case ("GET", 1): return listServices(request, reply)
        case ("POST", 2) where segments[1] == "create": return createService(request, reply)
        case ("GET", 2): return inspectService(segments[1], request, reply)
        case ("DELETE", 2): return removeService(segments[1], reply)
        case ("POST", 3) where segments[2] == "update": return updateService(segments[1], request, reply)
        default: return nil
        }
    }

    private func tasksRoute(_ request: HTTPRequest, _ segments: [String], _ reply: @escaping Reply) -> Void? {
        switch (request.method, segments.count) {
        case ("GET", 1): return listTasks(request, reply)
        case ("GET", 2): return inspectTask(segments[1], reply)
        default: return nil
        }
    }

    // MARK: Helpers for routes

    /// The control plane, or nil after answering 503 if the node is gone.
    func anyNode(_ reply: Reply) -> (any ControlPlane)? {
        guard let controlPlane else {
            reply(APIError(status: 503, "the node is shutting down").response)
            return nil
        }
        return controlPlane
    }

    /// The control plane if this node is a manager; otherwise answers 503 and returns nil.
    func manager(_ reply: Reply) -> (any ControlPlane)? {
        guard let controlPlane = anyNode(reply) else { return nil }
        guard controlPlane.isManagerNode else {
            reply(APIError.notManager.response)
            return nil
        }
        return controlPlane
    }

    /// Reads the state and continues with it, or answers the failure.
    func withState(_ controlPlane: any ControlPlane, _ reply: @escaping Reply, _ body: @escaping (ClusterStateView) -> Void) {
        controlPlane.readState(Self.viewOrError(reply, body))
    }

    /// `withState` on the manager's local state, for a write whose checks the apply repeats.
    func withLocalState(_ controlPlane: any ControlPlane, _ reply: @escaping Reply, _ body: @escaping (ClusterStateView) -> Void) {
        controlPlane.readLocalState(Self.viewOrError(reply, body))
    }

    private static func viewOrError(_ reply: @escaping Reply, _ body: @escaping (ClusterStateView) -> Void)
        -> (Result<ClusterStateView, APIError>) -> Void {
        { result in
            switch result {
            case let .success(view): body(view)
            case let .failure(error): reply(error.response)
            }
        }
    }

    /// 200 with an empty body on success (as dockerd answers updates), else the error.
    static func emptyReply(_ reply: @escaping Reply) -> (Result<Void, APIError>) -> Void {
        { result in
            switch result {
            case .success: reply(HTTPResponse(status: 200))
            case let .failure(error): reply(error.response)
            }
        }
    }

    func json(_ status: Int, _ value: some Encodable) -> HTTPResponse {
        do {
            return .json(status, try Self.encode(value))
        } catch {
            return APIError.internalError("cannot encode the response: \(error)").response
        }
    }

    static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return Array(try encoder.encode(value)) + [UInt8(ascii: "\n")]
    }

    /// Decodes a JSON body like dockerd (case-insensitive keys, zero values for missing fields).
    static func decodeBody<T: Decodable>(_ type: T.Type, _ request: HTTPRequest) -> Result<T, APIError> {
        guard !request.body.isEmpty else { return .failure(.badRequest("the request body is empty; a JSON \(type) is required")) }
        do {
            return .success(try LenientJSONDecoder.decode(type, from: request.body))
        } catch {
            return .failure(.badRequest("invalid JSON in the request body: \(error.message)"))
        }
    }

    /// The required `version` query parameter, with dockerd's message when it is not a number.
    static func objectVersion(_ request: HTTPRequest, kind: String) -> Result<ObjectVersion, APIError> {
        let text = request.query["version"] ?? ""
        guard let index = UInt64(text) else {
            return .failure(.badRequest("invalid \(kind) version '\(text)': strconv.ParseUint: parsing \"\(text)\": invalid syntax"))
        }
        return .success(ObjectVersion(index: index))
    }

    // MARK: Ping, info

    private func ping(_ method: String) -> HTTPResponse {
        HTTPResponse(status: 200, headers: HTTPHeaders([
            ("Cache-Control", "no-cache, no-store, must-revalidate"), ("Pragma", "no-cache"),
            ("Content-Type", "text/plain; charset=utf-8"),
        ]), body: method == "HEAD" ? [] : Array("OK".utf8))
    }

    private func info(_ reply: @escaping Reply) {
        guard let controlPlane = anyNode(reply) else { return }
        let local = controlPlane.localNode
        guard local.isManager else { return reply(json(200, infoResponse(local, view: nil, error: ""))) }
        controlPlane.readState { [weak self] result in
            guard let self else { return }
            switch result {
            case let .success(view): reply(json(200, infoResponse(local, view: view, error: "")))
            case let .failure(error): reply(json(200, infoResponse(local, view: nil, error: error.message)))
            }
        }
    }

    func infoResponse(_ local: LocalNodeInfo, view: ClusterStateView?, error: String) -> InfoResponse {
        let description = local.description
        var swarm = SwarmInfo(nodeID: local.nodeID, nodeAddr: local.addr, controlAvailable: local.isManager && view != nil,
                              error: error, remoteManagers: local.knownManagers, raft: local.raft, dispatcher: local.dispatcher,
                              networkTables: local.networkTables)
        if let view {
            swarm.remoteManagers = view.state.managers.map { RemoteManager(nodeID: $0.id, addr: $0.managerStatus?.addr ?? $0.status.addr) }
            swarm.nodes = view.state.nodes.count
            swarm.managers = view.state.managers.count
            swarm.cluster = view.state.cluster.map { ClusterInfo(cluster: $0, includeJoinTokens: false) }
        }
        return InfoResponse(id: local.nodeID, name: description.hostname, ncpu: description.resources.nanoCPUs / 1_000_000_000,
                            memTotal: description.resources.memoryBytes, osType: description.platform.os,
                            architecture: description.platform.architecture, kernelVersion: identity.kernelVersion,
                            serverVersion: identity.version, swarm: swarm)
    }
}

extension String.UTF8View {
    /// Whether `needle` occurs as a run of bytes.
    func containsSequence(_ needle: String.UTF8View) -> Bool {
        let found = withContiguousStorageIfAvailable { haystack in
            needle.withContiguousStorageIfAvailable { pattern in Self.occurs(pattern, in: haystack) }
        }
        return (found ?? nil) ?? Array(self).withUnsafeBufferPointer { haystack in
            Array(needle).withUnsafeBufferPointer { pattern in Self.occurs(pattern, in: haystack) }
        }
    }

    private static func occurs(_ pattern: UnsafeBufferPointer<UInt8>, in haystack: UnsafeBufferPointer<UInt8>) -> Bool {
        guard haystack.count >= pattern.count else { return false }
        guard !pattern.isEmpty else { return true }
        for start in 0...(haystack.count - pattern.count) where haystack[start] == pattern[0] {
            if UnsafeBufferPointer(rebasing: haystack[start..<(start + pattern.count)]).elementsEqual(pattern) { return true }
        }
        return false
    }
}
