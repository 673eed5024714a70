import API
import ClusterState
import Crypto
import Dispatcher
import Foundation
import Glibc
import Platform
import Raft
import Synchronization
@testable import SwarmNode
import Transport
import XCTest

/// The attacks of issue 14 replayed against real node processes: what a worker machine holds
/// (its key and certificate) is used from this test process to forward a command, push
/// assignments, read another task's logs, report another node's task and heartbeat as another
/// node. Every frame is refused by the authorization table and the cluster state is unchanged.
final class TrustBoundaryEndToEndTests: XCTestCase {
    private var cluster: TestCluster!

    override func setUpWithError() throws {
        cluster = try TestCluster()
    }

    override func tearDown() {
        cluster?.tearDown()
    }

    private func nodeID(_ name: String) throws -> String {
        let info = try cluster.cli(name, ["info", "--format", "json"])
        let object = try JSONSerialization.jsonObject(with: Data(info.output.utf8)) as? [String: Any]
        return try XCTUnwrap(object?[path: "Swarm", "NodeID"] as? String)
    }

    private func runningTasks(_ service: String) throws -> [[String: Any]] {
        let result = try cluster.cli("m1", ["service", "ps", service, "--format", "json"])
        guard result.status == 0, let tasks = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [[String: Any]] else {
            return []
        }
        return tasks.filter { $0[path: "Status", "State"] as? String == "running" && $0["DesiredState"] as? String == "running" }
    }

    private func formOneManagerOneWorker() throws {
        try cluster.initialize("m1")
        try cluster.join("w1", as: "worker", via: "m1")
        try cluster.waitUntil("2 nodes ready", timeoutSeconds: 30) {
            let nodes = try self.cluster.nodes(via: "m1")
            return nodes.count == 2 && nodes.allSatisfy { $0[path: "Status", "State"] as? String == "ready" }
        }
    }

    func testAWorkersCertificateCannotActAsAManagerTheLeaderOrAnotherNode() throws {
        try formOneManagerOneWorker()
        XCTAssertEqual(try cluster.cli("m1", ["service", "create", "--detach", "--name", "victim", "--constraint", "node.role==manager",
                                              "busybox", "sleep", "3600"]).status, 0)
        try cluster.waitUntil("the victim task runs on m1", timeoutSeconds: 30) { try self.runningTasks("victim").count == 1 }
        let victim = try XCTUnwrap(try runningTasks("victim").first?["ID"] as? String)
        let managerToken = try cluster.cli("m1", ["join-token", "manager", "-q"]).output
        let (m1, w1) = (try nodeID("m1"), try nodeID("w1"))

        // The attacker: the worker's own key and certificate, from its data dir.
        let stolen = try NodeCertificates.load(from: cluster.members["w1"]!.dataDirectory, finishingInterruptedSave: false)
        XCTAssertEqual(stolen.leaf.subject.commonName, w1)
        let attacker = try Attacker(certificates: stolen, clusterID: try XCTUnwrap(stolen.leaf.subject.organization))
        defer { attacker.shutdown() }
        let manager = PeerIdentity.transportID(forNodeID: m1)
        try attacker.link(to: manager, at: try SocketAddress(parsing: cluster.members["m1"]!.clusterAddress))

        let now = Timestamp(millisecondsSinceEpoch: UInt64(Date().timeIntervalSince1970 * 1000))
        let chosen = JoinToken(caDigest: String(repeating: "a", count: 50), secret: String(repeating: "b", count: 25))
        let attacks: [(NodeFrameKind, any Encodable, String)] = [
            (.forwardCommand, ForwardCommand(requestID: 1, command: .rotateJoinToken(role: .manager, secret: chosen.secret,
                                                                                   token: chosen.description, at: now)),
             "refused forward-command from node \(w1)"),
            (.assignments, AssignmentMessage(kind: .full, session: 1 << 62, version: 1, base: 0, tasks: []), "refused assignments from node \(w1)"),
            (.logsRequest, LogsRequest(requestID: 7, tasks: [TaskLogRequest(taskID: victim, nodeID: m1)]), "refused logs-request from node \(w1)"),
            (.taskReports, TaskReports(updates: [TaskStatusUpdate(taskID: victim, status: TaskStatus(timestamp: now, state: .failed,
                                                                                                   message: "forged"))]),
             "refused task-reports from node \(w1)"),
            (.heartbeat, Heartbeat(nodeID: m1, assignments: AssignmentAck.none), "refused heartbeat from node \(w1)"),
            (.networkTables, NetworkTableMessage(kind: .full, session: 1 << 62, version: 1, base: 0, tables: [], hostPorts: []),
             "refused network-tables from node \(w1)"),
        ]
        for (kind, payload, logged) in attacks {
            try attacker.send(ApplicationFrame(kind, payload), to: manager)
            try cluster.waitUntil("m1 logs: \(logged)", timeoutSeconds: 10) { self.cluster.log("m1").contains(logged) }
        }
        // Raft from a worker certificate, claiming its own transport id.
        var vote = Message(kind: .vote, from: PeerIdentity.transportID(forNodeID: w1), to: manager, term: 1_000)
        vote.index = 1 << 40
        try attacker.send(vote, to: manager)
        try cluster.waitUntil("m1 refuses Raft from a worker", timeoutSeconds: 10) {
            self.cluster.log("m1").contains("refused raft-message from node \(w1)")
        }

        XCTAssertEqual(try cluster.cli("m1", ["join-token", "manager", "-q"]).output, managerToken, "the manager token is unchanged")
        XCTAssertEqual(try runningTasks("victim").map { $0["ID"] as? String }, [victim], "the victim task still runs, unreported")
        XCTAssertEqual(attacker.received(kinds: [.heartbeatResponse, .assignments, .logsResponse, .forwardResult]), [],
                       "nothing came back to the attacker")
        let nodes = try cluster.nodes(via: "m1")
        XCTAssertEqual(nodes.count, 2)
        XCTAssertEqual(nodes.first { $0["ID"] as? String == m1 }?[path: "ManagerStatus", "Leader"] as? Bool, true, "m1 still leads")
        attacker.shutdown()

        // Once the worker is removed, its certificate is refused outright.
        cluster.kill("w1")
        XCTAssertEqual(try cluster.cli("m1", ["node", "rm", "--force", w1]).status, 0)
        let again = try Attacker(certificates: stolen, clusterID: try XCTUnwrap(stolen.leaf.subject.organization))
        defer { again.shutdown() }
        try again.link(to: manager, at: try SocketAddress(parsing: cluster.members["m1"]!.clusterAddress), expectConnected: false)
        try cluster.waitUntil("m1 refuses the removed node's certificate", timeoutSeconds: 10) {
            self.cluster.log("m1").contains("refused: node \(w1) was removed from the cluster")
        }
    }

    func testAJoinNeverGetsAnExistingIdAndAWrongCADigestNeverSeesTheSecret() throws {
        try formOneManagerOneWorker()
        let (m1, w1) = (try nodeID("m1"), try nodeID("w1"))
        let workerToken = try XCTUnwrap(JoinToken(parsing: try cluster.cli("m1", ["join-token", "worker", "-q"]).output
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        let managerAddress = try SocketAddress(parsing: cluster.members["m1"]!.clusterAddress)

        // A join request that claims m1's node id and transport id (fields the protocol no longer
        // has; the manager decodes past them and assigns its own).
        let key = try PrivateKey.generateP256()
        let csr = try CertificateSigningRequest(key: key, subject: CertificateSubject(commonName: m1))
        let claim: [String: Any] = ["secret": workerToken.secret, "csrPEM": csr.pem, "advertiseAddress": "127.0.0.1:9",
                                    "nodeID": m1, "transportID": PeerIdentity.transportID(forNodeID: m1),
                                    "description": ["Hostname": "attacker", "Platform": ["Architecture": "x86_64", "OS": "linux"],
                                                    "Resources": ["NanoCPUs": 1, "MemoryBytes": 1], "Engine": ["EngineVersion": "x"]]]
        let request = try JSONDecoder().decode(JoinRequest.self, from: JSONSerialization.data(withJSONObject: claim))
        let (response, _) = try JoinClient.join(manager: managerAddress, token: workerToken, request: request, timeoutMillis: 10_000) { _ in }
        XCTAssertTrue(response.accepted, response.reason ?? "")
        XCTAssertFalse([m1, w1].contains(response.nodeID), "the manager assigned a fresh id")
        let leaf = try XCTUnwrap(Certificate.parseChain(pem: response.certificateChainPEM).first)
        XCTAssertEqual(leaf.subject.commonName, response.nodeID)
        XCTAssertEqual(leaf.subject.organizationalUnit, "swarm-worker")
        XCTAssertEqual(Set(try cluster.nodes(via: "m1").compactMap { $0["ID"] as? String }), [m1, w1, response.nodeID])

        // A token whose CA digest is not this cluster's: refused before the secret is sent.
        let joinsBefore = cluster.log("m1").components(separatedBy: "(join-only) established").count
        let wrongDigest = JoinToken(caDigest: String(repeating: "7", count: 50), secret: workerToken.secret)
        let refused = try cluster.runOnce(["join", "--data-dir", cluster.directory + "/wrongca", "--listen-addr",
                                           "127.0.0.1:\(try TestCluster.freePort())", "--token", wrongDigest.description,
                                           cluster.members["m1"]!.clusterAddress])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.output.contains("does not match the token's CA digest"), refused.output)
        try cluster.waitUntil("m1 saw the connection close", timeoutSeconds: 10) {
            self.cluster.log("m1").components(separatedBy: "(join-only) established").count == joinsBefore + 1
                && self.cluster.log("m1").contains("(join-only) closed")
        }
        XCTAssertFalse(cluster.log("m1").contains("join refused"), "m1 never received a join request from it")
        XCTAssertEqual(try cluster.nodes(via: "m1").count, 3)

        // openssl s_client without a client certificate gets a join-only connection, which closes
        // on anything but one small join request.
        let address = cluster.members["m1"]!.clusterAddress
        let probe = try cluster.shell("printf 'hello' | timeout 10 openssl s_client -connect \(address) -quiet 2>&1")
        XCTAssertTrue(probe.output.contains("CN = \(m1)") || probe.output.contains("CN=\(m1)"), probe.output)
        try cluster.waitUntil("m1 closed the probe", timeoutSeconds: 10) {
            self.cluster.log("m1").contains("(join-only) closed: frame of 1819043176 bytes exceeds the limit")
        }
    }

    func testCARotationMovesEveryNodeToTheNewRootWithoutRestartingTasks() throws {
        try formOneManagerOneWorker()
        XCTAssertEqual(try cluster.cli("m1", ["service", "create", "--detach", "--name", "steady", "--replicas", "2",
                                              "busybox", "sleep", "3600"]).status, 0)
        try cluster.waitUntil("2 tasks run", timeoutSeconds: 30) { try self.runningTasks("steady").count == 2 }
        let tasksBefore = Set(try runningTasks("steady").compactMap { $0["ID"] as? String })
        let oldRoot = try cluster.cli("m1", ["ca", "-q"]).output
        let oldToken = try XCTUnwrap(JoinToken(parsing: try cluster.cli("m1", ["join-token", "worker", "-q"]).output
            .trimmingCharacters(in: .whitespacesAndNewlines)))

        let rotated = try cluster.cli("m1", ["ca", "--rotate", "-q"])
        XCTAssertEqual(rotated.status, 0, rotated.output)
        let newRoot = try Certificate(pem: rotated.output)
        XCTAssertNotEqual(rotated.output, oldRoot)
        XCTAssertTrue(try cluster.log("m1").contains("audit: CA rotation started by node \(nodeID("m1"))"))
        for name in ["m1", "w1"] {
            let certificates = try NodeCertificates.load(from: cluster.members[name]!.dataDirectory, finishingInterruptedSave: false)
            XCTAssertNoThrow(try Certificate.verify(certificates.leaf, intermediates: [], roots: [newRoot], at: Clock.unixSeconds()),
                             "\(name) holds a certificate from the new root")
            try cluster.waitUntil("\(name) trusts only the new root", timeoutSeconds: 10) {
                try NodeCertificates.load(from: self.cluster.members[name]!.dataDirectory, finishingInterruptedSave: false).roots == [newRoot]
            }
        }
        let newToken = try XCTUnwrap(JoinToken(parsing: try cluster.cli("m1", ["join-token", "worker", "-q"]).output
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        XCTAssertEqual(newToken.secret, oldToken.secret)
        XCTAssertTrue(newToken.pins(newRoot), "the token pins the new root")
        XCTAssertEqual(Set(try runningTasks("steady").compactMap { $0["ID"] as? String }), tasksBefore, "no task restarted")

        try cluster.join("w2", as: "worker", via: "m1")
        try cluster.waitUntil("a node joins with the new token", timeoutSeconds: 30) {
            let nodes = try self.cluster.nodes(via: "m1")
            return nodes.count == 3 && nodes.allSatisfy { $0[path: "Status", "State"] as? String == "ready" }
        }
    }

    func testAPassiveRelayBetweenTwoManagersSeesNoSecrets() throws {
        let relayToM1 = try Relay(to: try TestCluster.freePort())
        defer { relayToM1.stop() }
        // m1 advertises the relay, so every connection to m1 (the join and m2's links) crosses it.
        try cluster.initialize("m1", extraFlags: ["--advertise-addr", relayToM1.address])
        relayToM1.target = UInt16(try SocketAddress(parsing: cluster.members["m1"]!.clusterAddress).port!)
        let relayToM2 = try Relay(to: 0)
        defer { relayToM2.stop() }
        let secretToken = try cluster.cli("m1", ["join-token", "manager", "-q"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        try cluster.join("m2", as: "manager", via: "m1", managerAddress: relayToM1.address,
                         extraFlags: ["--advertise-addr", relayToM2.address])
        relayToM2.target = UInt16(try SocketAddress(parsing: cluster.members["m2"]!.clusterAddress).port!)
        try cluster.waitUntil("m2 is a manager", timeoutSeconds: 30) {
            (try self.cluster.nodes(via: "m1")).filter { $0["ManagerStatus"] != nil }.count == 2
        }
        let password = "PASSWORD=relay-must-not-see-\(try RandomID.base36(count: 12))"
        XCTAssertEqual(try cluster.cli("m1", ["service", "create", "--detach", "--name", "secretive", "--env", password,
                                              "busybox", "sleep", "3600"]).status, 0)
        try cluster.waitUntil("m2 has replicated the service", timeoutSeconds: 30) {
            (try? self.cluster.cli("m2", ["service", "inspect", "secretive"]))?.output.contains(password) == true
        }
        let captured = relayToM1.captured + relayToM2.captured
        XCTAssertGreaterThan(captured.count, 10_000, "the relay carried the managers' traffic")
        let secret = try XCTUnwrap(JoinToken(parsing: secretToken)).secret
        for needle in [password, secret, "secretive"] {
            XCTAssertFalse(contains(captured, Array(needle.utf8)), "the relay saw '\(needle)'")
        }
    }

    private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        return (0...(haystack.count - needle.count)).contains { start in haystack[start..<start + needle.count].elementsEqual(needle) }
    }
}

/// A transport in the test process presenting a stolen certificate.
private final class Attacker: TransportDelegate, @unchecked Sendable {
    let thread: EventLoopThread
    let transport: Transport
    private let frames = Mutex<[ApplicationFrame]>([])
    private let connected = Mutex<Set<NodeID>>([])

    init(certificates: NodeCertificates, clusterID: String) throws {
        thread = try EventLoopThread(name: "attacker")
        let configuration = TransportConfiguration(clusterID: clusterID,
                                                   localNodeID: PeerIdentity.transportID(forNodeID: certificates.leaf.subject.commonName))
        transport = Transport(loop: thread.loop, configuration: configuration) { _ in }
        let tls = try certificates.transportTLS()
        try thread.loop.executeAndWait { [self] in
            transport.delegate = self
            transport.tls = tls
        }
    }

    func link(to peer: NodeID, at address: SocketAddress, expectConnected: Bool = true) throws {
        try thread.loop.executeAndWait { [self] in transport.connect(to: peer, at: address) }
        guard expectConnected else { return }
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, !connected.withLock({ $0.contains(peer) }) { usleep(10_000) }
        XCTAssertTrue(connected.withLock { $0.contains(peer) }, "the stolen certificate connects (it is a valid member's)")
    }

    func send(_ frame: ApplicationFrame, to peer: NodeID) throws {
        try thread.loop.executeAndWait { [self] in transport.send(application: frame, to: peer) }
    }

    func send(_ message: Message, to peer: NodeID) throws {
        try thread.loop.executeAndWait { [self] in transport.send(message, to: peer) }
    }

    func received(kinds: [NodeFrameKind]) -> [UInt8] {
        frames.withLock { $0.map(\.kind).filter { kind in kinds.contains { $0.rawValue == kind } } }
    }

    func shutdown() {
        _ = try? thread.loop.executeAndWait { [self] in transport.shutdown() }
        thread.shutdown()
    }

    func transport(_ transport: Transport, didReceive message: Message, from peer: PeerIdentity) {}
    func transport(_ transport: Transport, didReceive application: ApplicationFrame, on connection: ConnectionInfo) {
        frames.withLock { $0.append(application) }
    }
    func transport(_ transport: Transport, peerConnected peer: NodeID) { connected.withLock { _ = $0.insert(peer) } }
}

/// A TCP forwarder on 127.0.0.1 that records every byte it carries, both ways: the passive
/// attacker between two managers. Threads and blocking sockets; stopped (and its sockets
/// closed) by `stop()`.
private final class Relay: @unchecked Sendable {
    private let listener: Int32
    let address: String
    private let state = Mutex<(captured: [UInt8], target: UInt16, sockets: [Int32], stopped: Bool)>(([], 0, [], false))

    var captured: [UInt8] { state.withLock { $0.captured } }
    var target: UInt16 {
        get { state.withLock { $0.target } }
        set { state.withLock { $0.target = newValue } }
    }

    init(to target: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        listener = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        var reuse: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 64) == 0 else { throw SystemError("bind/listen", "relay") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.address = "127.0.0.1:\(UInt16(bigEndian: address.sin_port))"
        state.withLock { $0.target = UInt16(target) }
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    func stop() {
        let sockets = state.withLock { state -> [Int32] in
            state.stopped = true
            return state.sockets
        }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for socket in sockets { shutdown(socket, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0, !state.withLock({ $0.stopped }) else { return }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = target.bigEndian
            inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else {
                close(client)
                close(server)
                continue
            }
            state.withLock { $0.sockets += [client, server] }
            Thread { [self] in pump(from: client, to: server) }.start()
            Thread { [self] in pump(from: server, to: client) }.start()
        }
    }

    private func pump(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(source, &buffer, buffer.count)
            guard count > 0 else { break }
            state.withLock { $0.captured += buffer[..<count] }
            var offset = 0
            while offset < count {
                let written = buffer.withUnsafeBytes { write(destination, $0.baseAddress! + offset, count - offset) }
                guard written > 0 else { break }
                offset += written
            }
        }
        shutdown(destination, Int32(SHUT_WR))
        shutdown(source, Int32(SHUT_RD))
    }
}
