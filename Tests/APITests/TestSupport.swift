@testable import API
import ClusterState
import Crypto
import Glibc
import Platform
import Synchronization
import XCTest

/// A fresh directory under /tmp (short, for unix socket paths), removed by `remove()`.
final class TempDirectory: Sendable {
    let path: String

    init() throws {
        var template = Array("/tmp/apitest-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError("mkdtemp", "/tmp") }
        path = String(cString: made)
    }

    func remove() {
        if let directory = opendir(path) {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name != "." && name != ".." { unlink(path + "/" + name) }
            }
            closedir(directory)
        }
        rmdir(path)
    }
}

/// An HTTP server on its own loop thread, stopped and cleaned up by the test's teardown.
final class ServerHarness: @unchecked Sendable {
    let thread: EventLoopThread
    let server: HTTPServer
    let directory: TempDirectory
    var loop: EventLoop { thread.loop }
    var address: SocketAddress { server.address }

    init(tcp: Bool = false, configuration: HTTPServerConfiguration = HTTPServerConfiguration(),
         handler: @escaping @Sendable (HTTPRequest, HTTPResponder) -> Void) throws {
        directory = try TempDirectory()
        thread = try EventLoopThread(name: "api-test")
        let address: SocketAddress = tcp ? .loopback(port: 0) : .unix(path: directory.path + "/api.sock")
        let loop = thread.loop
        do {
            server = try loop.executeAndWait { try HTTPServer(loop: loop, address: address, configuration: configuration, handler: handler) }
        } catch {
            thread.shutdown()
            directory.remove()
            throw error
        }
    }

    func onLoop<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        try loop.executeAndWait(body)
    }

    var connectionCount: Int { (try? onLoop { self.server.connectionCount }) ?? -1 }

    func shutdown() {
        try? onLoop { self.server.stop() }
        thread.shutdown()
        directory.remove()
    }
}

extension XCTestCase {
    /// Starts a harness whose teardown runs even when the test fails.
    func startServer(tcp: Bool = false, configuration: HTTPServerConfiguration = HTTPServerConfiguration(),
                     handler: @escaping @Sendable (HTTPRequest, HTTPResponder) -> Void) throws -> ServerHarness {
        let harness = try ServerHarness(tcp: tcp, configuration: configuration, handler: handler)
        addTeardownBlock { harness.shutdown() }
        return harness
    }
}

/// Answers every request at once with its method, path and body echoed as text.
let echoHandler: @Sendable (HTTPRequest, HTTPResponder) -> Void = { request, responder in
    let text = "\(request.method) \(request.path) \(request.query.items.map { "\($0.name)=\($0.value)" }.joined(separator: "&")) body=\(String(decoding: request.body, as: UTF8.self))"
    responder.respond(.text(200, text))
}

/// Polls `condition` every millisecond until it holds or the timeout passes (then fails). Tests
/// synchronise on observable state this way, never on fixed sleeps.
@discardableResult
func waitUntil(_ what: String, timeoutSeconds: Double = 10, file: StaticString = #filePath, line: UInt = #line,
               _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = monotonicNanoseconds() + UInt64(timeoutSeconds * 1e9)
    while monotonicNanoseconds() < deadline {
        if try condition() { return true }
        usleep(1_000)
    }
    if try condition() { return true }
    XCTFail("timed out after \(timeoutSeconds) s waiting for \(what)", file: file, line: line)
    return false
}

/// A blocking socket that sends arbitrary bytes and reads raw responses, for hostile-client tests.
final class RawClient {
    let socket: Socket
    private var queue = ByteQueue()

    init(_ address: SocketAddress) throws {
        let started = try Socket.connect(to: address)
        socket = started.socket
        if !started.connected {
            guard wait(Int16(POLLOUT), millis: 5_000), socket.pendingError() == 0 else { throw SystemError("connect", "\(address)") }
        }
    }

    func wait(_ events: Int16, millis: Int32) -> Bool {
        var descriptor = pollfd(fd: socket.descriptor, events: events, revents: 0)
        return poll(&descriptor, 1, millis) > 0
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let result = try bytes.withUnsafeBytes { try socket.write(from: UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            switch result {
            case let .transferred(count): offset += count
            default: _ = wait(Int16(POLLOUT), millis: 5_000)
            }
        }
    }

    /// Reads one response (nil at end of file or after 10 s without data).
    func readResponse(isHead: Bool = false) throws -> HTTPResponse? {
        var parser = HTTPResponseParser(isHeadRequest: isHead)
        var status = 0
        var headers = HTTPHeaders()
        var body: [UInt8] = []
        while true {
            while let event = try parser.next(&queue) {
                switch event {
                case let .head(code, fields): (status, headers) = (code, fields)
                case let .body(bytes): body += bytes
                case .end: return HTTPResponse(status: status, headers: headers, body: body)
                }
            }
            guard try readMore() else {
                return parser.finishAtEndOfFile() ? HTTPResponse(status: status, headers: headers, body: body) : nil
            }
        }
    }

    /// True when bytes arrived, false at end of file (or reset).
    func readMore() throws -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            guard wait(Int16(POLLIN), millis: 10_000) else { return false }
            let result: IOResult
            do {
                result = try buffer.withUnsafeMutableBytes { try socket.read(into: $0) }
            } catch {
                return false
            }
            switch result {
            case .endOfFile: return false
            case .wouldBlock: continue
            case let .transferred(count):
                buffer.withUnsafeBytes { queue.append(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
                return true
            }
        }
    }

    /// True once the server has closed the connection (end of file).
    func isClosedByPeer() throws -> Bool {
        while try readMore() {}
        return true
    }
}

/// A control plane over an in-memory ClusterState, answering synchronously.
final class FakeControlPlane: ControlPlane, @unchecked Sendable {
    var state = ClusterState()
    var index: UInt64 = 0
    var local: LocalNodeInfo
    var readFailure: APIError?
    var leaderRaftID: UInt64? = 1
    var reachable: Set<UInt64> = [1]
    var proposals: [ClusterCommand] = []
    var leaves: [Bool] = []
    /// When set, completions are held here instead of being called (asynchronous answers).
    var held: [() -> Void]?
    var tokenCounter = 0
    /// This node's volumes, and those a task mounts (refused removal).
    var volumes: [LocalVolume] = []
    var volumesInUse: Set<String> = []

    func localVolumes() -> [LocalVolume] { volumes }

    func removeVolume(_ name: String) -> Result<Void, APIError> {
        guard volumes.contains(where: { $0.name == name }) else { return .failure(APIError(status: 404, "get \(name): no such volume")) }
        guard !volumesInUse.contains(name) else { return .failure(APIError(status: 409, "remove \(name): volume is in use - [c1]")) }
        volumes.removeAll { $0.name == name }
        return .success(())
    }

    init() {
        local = LocalNodeInfo(nodeID: "node1aaaaaaaaaaaaaaaaaaaaa", role: .manager, addr: "127.0.0.1",
                              description: makeDescription("alpha"),
                              raft: RaftStatus(raftID: 1, leader: 1, leaderNodeID: "node1aaaaaaaaaaaaaaaaaaaaa", term: 3, commitIndex: 9, appliedIndex: 9))
        let cluster = Cluster(id: "cluster0123456789abcdefgh", version: ObjectVersion(index: 0), createdAt: Timestamp(millisecondsSinceEpoch: 1_700_000_000_000),
                              spec: ClusterSpec(), joinTokens: JoinTokens(worker: "SWMTKN-1-abc-worker", manager: "SWMTKN-1-abc-manager"))
        let first = makeNode("node1aaaaaaaaaaaaaaaaaaaaa", hostname: "alpha", role: .manager, raftID: 1)
        apply(.initialize(cluster: cluster, firstNode: first, secrets: ClusterSecrets(workerSecret: "w", managerSecret: "m", members: [:])))
        apply(.addNode(node: makeNode("node2bbbbbbbbbbbbbbbbbbbbb", hostname: "beta", role: .worker, raftID: nil, labels: ["zone": "east"]),
                       transportID: 2))
        apply(.addNode(node: makeNode("node3ccccccccccccccccccccc", hostname: "gamma", role: .worker, raftID: nil, labels: ["zone": "west", "ssd": ""]),
                       transportID: 3))
    }

    /// Events derived from every applied command, as a manager keeps them.
    let keptEvents = EventHistory()
    var eventDeriver = DockerEventDeriver()
    var eventHistory: EventHistory? { keptEvents }
    /// `after(millis:)` calls, run by the test when it wants (log following, event `until`).
    var scheduled: [(millis: Int, body: () -> Void)] = []

    func after(millis: Int, _ body: @escaping () -> Void) {
        scheduled.append((millis, body))
    }

    @discardableResult
    func apply(_ command: ClusterCommand) -> Result<Void, ClusterError> {
        index += 1
        let prelude = eventDeriver.prelude(command, in: state)
        let result = state.apply(command, index: index)
        if case .success = result {
            keptEvents.record(eventDeriver.events(prelude, after: state, fallback: Timestamp(millisecondsSinceEpoch: 1_700_000_000_000)))
        }
        return result
    }

    var localNode: LocalNodeInfo { local }

    private func complete(_ body: @escaping () -> Void) {
        if held != nil { held!.append(body) } else { body() }
    }

    func readState(_ done: @escaping (Result<ClusterStateView, APIError>) -> Void) {
        let result: Result<ClusterStateView, APIError> = readFailure.map { .failure($0) }
            ?? .success(ClusterStateView(state: state, leaderRaftID: leaderRaftID, reachableRaftIDs: reachable))
        complete { done(result) }
    }

    /// When set, `readLocalState` answers this (a lagging manager's view) instead of `state`.
    var staleLocalState: ClusterState?
    var localReads = 0

    func readLocalState(_ done: @escaping (Result<ClusterStateView, APIError>) -> Void) {
        localReads += 1
        guard let stale = staleLocalState else { return readState(done) }
        complete { done(.success(ClusterStateView(state: stale, leaderRaftID: self.leaderRaftID, reachableRaftIDs: self.reachable))) }
    }

    func propose(_ command: ClusterCommand, _ done: @escaping (Result<Void, APIError>) -> Void) {
        proposals.append(command)
        let result = apply(command).mapError(APIError.init)
        complete { done(result) }
    }

    func newJoinToken(role: NodeRole) -> (secret: String, token: String) {
        tokenCounter += 1
        return ("secret\(tokenCounter)", "SWMTKN-1-abc-\(role.rawValue)\(tokenCounter)")
    }

    /// Audit lines the API recorded.
    var audits: [String] = []

    func audit(_ line: String) { audits.append(line) }

    /// Signs client certificates when set; otherwise the protocol's default (503) answers.
    var clientCA: CertificateAuthority?

    func issueClientCertificate(_ csr: CertificateSigningRequest, _ done: @escaping (Result<ClientCertificateResponse, APIError>) -> Void) {
        guard let clientCA else {
            return done(.failure(APIError(status: 503, "this node cannot issue client certificates: the cluster has no certificate authority")))
        }
        do {
            let leaf = try clientCA.issue(csr: csr, subject: CertificateSubject(commonName: "client-1", organizationalUnit: "client",
                                                                                 organization: "cluster0123456789abcdefgh"),
                                          validitySeconds: 600, now: Int64(time(nil)))
            done(.success(ClientCertificateResponse(certificate: leaf.pem, ca: clientCA.certificate.pem)))
        } catch {
            done(.failure(APIError(status: 500, "\(error)")))
        }
    }

    func leave(force: Bool, _ done: @escaping (Result<Void, APIError>) -> Void) {
        leaves.append(force)
        done(local.isManager && !force ? .failure(.leaveManager) : .success(()))
    }

    /// Each task's captured output per stream (1 stdout, 2 stderr), served from the asked offsets.
    /// This node's task containers and images (node-level container routes).
    var containers: [LocalContainer] = []
    var images: [LocalImage] = []
    func localContainers() -> [LocalContainer] { containers }
    func localImages() -> [LocalImage] { images }

    /// Each task's recorded lines, as its node would keep them.
    var taskOutput: [String: [TaskLogLine]] = [:]
    var logRequests: [[TaskLogRequest]] = []

    func fetchLogs(_ requests: [TaskLogRequest], _ done: @escaping ([TaskLogChunk]) -> Void) {
        logRequests.append(requests)
        let chunks = requests.map { TaskLogChunk.select(taskOutput[$0.taskID] ?? [], for: $0) }
        complete { done(chunks) }
    }

    /// Starts `docker exec` processes when set (else the protocol's default answers 501).
    var execStarter: ((LocalContainer, ExecConfiguration) -> Result<any ExecProcessHandle, APIError>)?
    var execConfigurations: [ExecConfiguration] = []

    func startExec(_ container: LocalContainer, _ configuration: ExecConfiguration,
                   _ done: @escaping (Result<any ExecProcessHandle, APIError>) -> Void) {
        execConfigurations.append(configuration)
        guard let execStarter else { return done(.failure(APIError(status: 501, "this node cannot run commands in its containers"))) }
        let result = execStarter(container, configuration)
        complete { done(result) }
    }

    /// Successive readings `containerUsage` answers (streamed stats), the last one repeated.
    var usages: [ContainerUsage] = []

    func containerUsage(_ container: LocalContainer, intervalMillis: Int,
                        _ done: @escaping (Result<(ContainerUsage, ContainerUsage), APIError>) -> Void) {
        guard let next = usages.first else { return done(.failure(APIError(status: 404, "No such container: \(container.id)"))) }
        if usages.count > 1 { usages.removeFirst() }
        done(.success((next, next)))
    }
}

func makeDescription(_ hostname: String) -> NodeDescription {
    NodeDescription(hostname: hostname, platform: .init(architecture: "x86_64", os: "linux"),
                    resources: .init(nanoCPUs: 2_000_000_000, memoryBytes: 1 << 30), engine: .init(engineVersion: "0.1.0"))
}

func makeNode(_ id: String, hostname: String, role: NodeRole, raftID: UInt64?, labels: [String: String] = [:]) -> Node {
    Node(id: id, version: ObjectVersion(index: 0), createdAt: Timestamp(millisecondsSinceEpoch: 1_700_000_000_000),
         spec: NodeSpec(labels: labels, role: role), description: makeDescription(hostname),
         status: NodeStatus(state: .ready, addr: "127.0.0.1"),
         managerStatus: raftID.map { ManagerStatus(raftID: $0, addr: "127.0.0.1:4242") })
}

/// Parses a JSON response body for assertions.
func jsonBody(_ response: HTTPResponse, file: StaticString = #filePath, line: UInt = #line) -> JSONValue {
    do {
        return try JSONValue.parse(response.body)
    } catch {
        XCTFail("response body is not JSON (\(error)): \(response.bodyText)", file: file, line: line)
        return .null
    }
}

/// Loop-confined objects (responders, streams) handed from the loop to the test thread; the test
/// only uses them again on the loop (`harness.onLoop`), hence `@unchecked Sendable`.
final class Shelf<T>: @unchecked Sendable {
    private let lock = Mutex(())
    private var items: [T] = []

    func append(_ item: T) { lock.withLock { _ in items.append(item) } }
    var count: Int { lock.withLock { _ in items.count } }
    func removeFirst() -> T { lock.withLock { _ in items.removeFirst() } }
    subscript(index: Int) -> T { lock.withLock { _ in items[index] } }
}
