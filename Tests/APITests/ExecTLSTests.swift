@testable import API
import ClusterState
import Crypto
import Foundation
import Glibc
import Platform
import XCTest

/// `docker exec` on a TCP listener with TLS and required client certificates: a certificate the
/// API does not admit (a worker's) cannot create or start an exec and nothing runs; an admitted
/// client's exec streams through TLS, its close_notify ends the process's stdin, and the exit
/// code is recorded before the stream closes.
final class ExecTLSTests: XCTestCase {
    private let now = Int64(time(nil))
    private var ca: CertificateAuthority!
    private var plane: FakeControlPlane!
    private var harness: ServerHarness!
    private let started = StartedProcesses()

    override func setUpWithError() throws {
        Signals.ignoreBrokenPipe()
        ca = try CertificateAuthority.createRoot(commonName: "test-ca", organization: "cluster", validitySeconds: 3600, now: now)
        plane = FakeControlPlane()
        let task = SwarmTask(id: "taskone", createdAt: Timestamp(millisecondsSinceEpoch: 1_800_000_000_000), serviceID: "svcweb", slot: 1,
                             nodeID: "node2bbbbbbbbbbbbbbbbbbbbb",
                             spec: TaskTemplate(containerSpec: ContainerSpec(image: "busybox:1", command: ["sleep"], args: ["60"])),
                             status: TaskStatus(timestamp: Timestamp(millisecondsSinceEpoch: 1), state: .running, message: "started"))
        plane.containers = [LocalContainer(id: "aaaa1111", task: task, serviceName: "web", state: .running, pid: 42, startedAt: 1)]
        plane.execStarter = { [started] _, configuration in
            do {
                let process = try FakeExecProcess(terminal: configuration.tty, stdin: configuration.attachStdin)
                started.append(process)
                return .success(process)
            } catch {
                return .failure(APIError(status: 500, "\(error)"))
            }
        }
        nonisolated(unsafe) let router = DockerAPI(controlPlane: plane, identity: ServerIdentity(version: "0.1.0", arch: "amd64", kernelVersion: "6.1"),
                                                   now: { Timestamp(millisecondsSinceEpoch: 1_800_000_000_000) })
        var configuration = HTTPServerConfiguration()
        configuration.tls = try TLSContext(role: .server, identity: identity(CertificateSubject(commonName: "node"), ip: "127.0.0.1"),
                                           trustedRoots: [ca.certificate], peerVerification: .required)
        configuration.allowedClientUnits = ["client", "swarm-manager"]
        harness = try startServer(tcp: true, configuration: configuration) { request, responder in router.handle(request, responder) }
    }

    override func tearDown() {
        for process in started.all { process.exit(0) }
    }

    private func identity(_ subject: CertificateSubject, ip: String? = nil) throws -> TLSIdentity {
        let key = try PrivateKey.generateP256()
        let certificate = try ca.issue(csr: CertificateSigningRequest(key: key, subject: subject), subject: subject, validitySeconds: 600,
                                       now: now, ipAddresses: ip.map { [$0] } ?? [])
        return TLSIdentity(chain: [certificate], key: key)
    }

    private func context(unit: String) throws -> TLSContext {
        try TLSContext(role: .client, identity: identity(CertificateSubject(commonName: "c", organizationalUnit: unit)),
                       trustedRoots: [ca.certificate], peerVerification: .required)
    }

    func testACertificateTheAPIDoesNotAdmitCannotExec() throws {
        let worker = HTTPClient(address: harness.address, tls: HTTPClientTLS(context: try context(unit: "swarm-worker"), serverName: "127.0.0.1"))
        let create = try worker.send("POST", "/v1.41/containers/aaaa/exec", body: Array(#"{"Cmd":["sh"],"AttachStdout":true}"#.utf8))
        XCTAssertEqual(create.status, 403, create.bodyText)
        let client = HTTPClient(address: harness.address, tls: HTTPClientTLS(context: try context(unit: "client"), serverName: "127.0.0.1"))
        let id = try jsonBody(client.send("POST", "/v1.41/containers/aaaa/exec", body: Array(#"{"Cmd":["sh"]}"#.utf8)))["Id"]?.stringValue ?? ""
        XCTAssertEqual(id.count, 64)
        let start = try worker.send("POST", "/v1.41/exec/\(id)/start", body: Array(#"{"Detach":true}"#.utf8))
        XCTAssertEqual(start.status, 403, "an exec id is not a capability: the connection's certificate decides")
        XCTAssertEqual(try harness.onLoop { [plane] in plane!.execConfigurations.count }, 0, "nothing ran")
    }

    func testAnAdmittedClientsExecStreamsThroughTLSAndCloseNotifyEndsStdin() throws {
        let http = HTTPClient(address: harness.address, tls: HTTPClientTLS(context: try context(unit: "client"), serverName: "127.0.0.1"))
        let id = try jsonBody(http.send("POST", "/v1.41/containers/aaaa/exec",
                                        body: Array(#"{"Cmd":["cat"],"AttachStdin":true,"AttachStdout":true,"AttachStderr":true}"#.utf8)))["Id"]?
            .stringValue ?? ""
        let client = try TLSStreamClient(harness.address, context: try context(unit: "client"))
        let body = #"{"Detach":false,"Tty":false}"#
        try client.send(Array(("POST /v1.41/exec/\(id)/start HTTP/1.1\r\nHost: api\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                               + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body).utf8))
        XCTAssertTrue(try client.readHead().hasPrefix("HTTP/1.1 101 UPGRADED"))
        _ = waitUntil("the fake node started the exec") { !started.all.isEmpty }
        let process = try XCTUnwrap(started.all.first)
        try client.send(Array("secret input".utf8))
        client.closeNotify()
        XCTAssertEqual(String(decoding: try process.readStdinToEnd(), as: UTF8.self), "secret input")
        try process.writeStdout("done")
        process.exit(0)
        XCTAssertEqual(try client.readToEnd(), StdcopyFrame.encode(stream: 1, Array("done".utf8)))
        let inspect = try jsonBody(http.send("GET", "/v1.41/exec/\(id)/json"))
        XCTAssertEqual(inspect["ExitCode"], .number("0"))
    }
}

/// A blocking TLS client that reads a response head and then the raw stream of a hijacked
/// connection.
final class TLSStreamClient {
    private let socket: Socket
    private let session: TLSSession
    private var plaintext: [UInt8] = []

    init(_ address: SocketAddress, context: TLSContext) throws {
        let started = try Socket.connect(to: address)
        socket = started.socket
        if !started.connected {
            var descriptor = pollfd(fd: socket.descriptor, events: Int16(POLLOUT), revents: 0)
            _ = poll(&descriptor, 1, 5_000)
        }
        session = try TLSSession(context: context, serverName: "127.0.0.1")
        try session.start()
        try flush()
        while !session.isHandshakeComplete {
            guard try readRecords() else { throw SystemError("read", "the server closed during the TLS handshake") }
        }
    }

    deinit { socket.close() }

    func send(_ bytes: [UInt8]) throws {
        try session.send(bytes)
        try flush()
    }

    /// Sends close_notify: the end of our input, as `docker` over TLS ends stdin.
    func closeNotify() {
        session.shutdown()
        try? flush()
    }

    func readHead() throws -> String {
        while true {
            if let end = (0..<max(plaintext.count - 3, 0)).first(where: { Array(plaintext[$0..<($0 + 4)]) == [13, 10, 13, 10] }) {
                let head = String(decoding: plaintext[..<(end + 4)], as: UTF8.self)
                plaintext.removeFirst(end + 4)
                return head
            }
            guard try readRecords() else { return String(decoding: plaintext, as: UTF8.self) }
        }
    }

    func readToEnd() throws -> [UInt8] {
        while try readRecords() && !session.isClosedByPeer {}
        defer { plaintext = [] }
        return plaintext
    }

    private func flush() throws {
        let outgoing = session.takeOutgoing()
        var offset = 0
        while offset < outgoing.count {
            switch try outgoing.withUnsafeBytes({ try socket.write(from: UnsafeRawBufferPointer(rebasing: $0[offset...])) }) {
            case let .transferred(count): offset += count
            default:
                var descriptor = pollfd(fd: socket.descriptor, events: Int16(POLLOUT), revents: 0)
                _ = poll(&descriptor, 1, 5_000)
            }
        }
    }

    /// Reads and decrypts what arrives; false at end of file.
    private func readRecords() throws -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            var descriptor = pollfd(fd: socket.descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 10_000) > 0 else { throw SystemError("poll", "nothing from the server within 10 s") }
            switch try buffer.withUnsafeMutableBytes({ try socket.read(into: $0) }) {
            case .endOfFile: return false
            case .wouldBlock: continue
            case let .transferred(count):
                plaintext += try session.receive(Array(buffer[0..<count]))
                try flush()
                return true
            }
        }
    }
}
