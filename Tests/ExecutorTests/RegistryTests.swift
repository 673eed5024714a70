import Crypto
import Foundation
import Glibc
import Platform
import XCTest

@testable import Executor

/// `image pull` against a tiny fake OCI distribution registry on 127.0.0.1 serving an image the
/// test builds from busybox-static: manifests, a manifest list, a bearer-token challenge, digest
/// verification, and ten simultaneous tasks of a missing image causing one pull.
final class RegistryTests: XCTestCase {
    private var root = ""
    private var store: ImageStore!
    private var executor: OCIExecutor!
    private var registry: FakeRegistry!
    private var image: BuiltImage!

    override func setUpWithError() throws {
        let runtime = try requireContainerSupport()
        root = try FileSystem.makeTemporaryDirectory(prefix: "registry-tests-")
        try BusyboxImage.makeRootfs(at: root + "/busybox")
        store = try ImageStore(root: root + "/node/images")
        executor = try OCIExecutor(root: root + "/node", runtimePath: runtime, images: store,
                                   cgroupParent: "/swarmctl-test-\(randomContainerHex().prefix(8))")
        image = try BuiltImage(rootfs: root + "/busybox", scratch: root)
        registry = try FakeRegistry()
        image.serve(on: registry, repository: "test/busybox")
    }

    override func tearDownWithError() throws {
        registry?.stop()
        executor?.removeAll()
        let leftMounts = mounts(containing: root)
        for leftover in leftMounts.reversed() { _ = umount2(leftover, Int32(MNT_DETACH)) }
        if let executor {
            for directory in Cgroups.existingDirectories(cgroupsPath: executor.cgroupParent) { _ = rmdir(directory) }
        }
        if !root.isEmpty { try Tree.remove(root) }
        XCTAssertEqual(leftMounts, [], "mounts were left behind")
    }

    private var host: String { "127.0.0.1:\(registry.port)" }

    func testTenSimultaneousTasksOfAMissingImagePullItOnce() throws {
        registry.manifestDelayMillis = 200
        let reference = "\(host)/test/busybox:latest"
        let results = ResultsBox()
        let threads = (0..<10).map { _ in
            PlatformThread(name: "prepare") { [executor] in
                results.append(Result { try executor!.prepare(TaskSpec(command: ["sh", "-c", "echo pulled"]).with { $0.image = reference }) })
            }
        }
        threads.forEach { $0.join() }
        let ids = try results.all.map { try $0.get() }
        XCTAssertEqual(ids.count, 10)
        XCTAssertEqual(registry.count("/v2/test/busybox/manifests/latest"), 1, "ten tasks must cause one pull")
        XCTAssertEqual(registry.count("/v2/test/busybox/blobs/\(image.layer)"), 1)
        try executor.start(ids[0], onExit: { _ in })
        XCTAssertEqual(try executor.wait(ids[0], timeoutMillis: 10_000), .exited(code: 0))
        XCTAssertEqual(text(try executor.logs(ids[0], stream: .stdout)), "pulled\n")
        XCTAssertEqual(try store.list().map { "\($0.repository):\($0.tag)" }, [reference])
    }

    func testLayerWithAWrongDigestIsRefused() throws {
        registry.route("/v2/test/busybox/blobs/\(image.layer)") { _ in (200, [:], Array("tampered".utf8)) }
        XCTAssertThrowsError(try store.pull("\(host)/test/busybox")) { error in
            guard case .digestMismatch(let expected, _, _) = error as? ImageError else { return XCTFail("\(error)") }
            XCTAssertEqual(expected, self.image.layer)
            XCTAssertTrue("\(error)".contains("refusing"), "\(error)")
        }
        XCTAssertEqual(try store.list().count, 0)
        XCTAssertEqual(try FileSystem.list(store.root + "/tmp"), [], "the partial download must be removed")
        XCTAssertEqual(try FileSystem.list(store.root + "/layers"), [])
    }

    func testManifestListAndBearerTokenChallenge() throws {
        let index = try JSONSerialization.data(withJSONObject: [
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                ["mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + String(repeating: "0", count: 64),
                 "size": 1, "platform": ["architecture": "arm64", "os": "linux"]],
                ["mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": image.manifest.description,
                 "size": image.manifestBytes.count, "platform": ["architecture": "amd64", "os": "linux"]],
            ],
        ])
        let port = registry.port
        registry.requireToken = "good-token"
        registry.route("/token?service=fake&scope=repository:test/busybox:pull") { request in
            let expected = "Basic " + Data("user:secret".utf8).base64EncodedString()
            guard request.headers["authorization"] == expected else { return (401, [:], []) }
            return (200, ["Content-Type": "application/json"], Array("{\"token\":\"good-token\"}".utf8))
        }
        registry.challenge = "Bearer realm=\"http://127.0.0.1:\(port)/token\",service=\"fake\",scope=\"repository:test/busybox:pull\""
        registry.route("/v2/test/busybox/manifests/multi") { _ in
            (200, ["Content-Type": "application/vnd.oci.image.index.v1+json"], Array(index))
        }
        XCTAssertThrowsError(try store.pull("\(host)/test/busybox:multi")) { XCTAssertTrue("\($0)".contains("401"), "\($0)") }
        let pulled = try store.pull("\(host)/test/busybox:multi",
                                    credentials: RegistryCredentials(username: "user", password: "secret"))
        XCTAssertEqual(pulled.id, image.config)
        XCTAssertEqual(try store.resolve("\(host)/test/busybox:multi").layers, [image.layer])
    }

    func testReferenceParsing() throws {
        let local = try ImageReference(parsing: "127.0.0.1:5000/team/app:v2")
        XCTAssertEqual(local.registry, "127.0.0.1:5000")
        XCTAssertEqual(local.repository, "team/app")
        XCTAssertEqual(local.tag, "v2")
        let hub = try ImageReference(parsing: "busybox")
        XCTAssertEqual(hub.registry, "registry-1.docker.io")
        XCTAssertEqual(hub.repository, "library/busybox")
        XCTAssertEqual(hub.tag, "latest")
        // Docker Hub is spoken to over HTTPS (no request is made here: tests stay on loopback).
        XCTAssertEqual(RegistryPolicy().scheme(for: hub.registry), "https")
        XCTAssertEqual(RegistryPolicy().scheme(for: local.registry), "http")
        XCTAssertEqual(try HTTPClient.Location(url: "https://registry.example/v2/").port, 443)
        XCTAssertThrowsError(try HTTPClient.Location(url: "ftp://registry.example/v2/"))
        XCTAssertThrowsError(try store.resolveOrPull("busybox")) { XCTAssertEqual($0 as? ImageError, .notFound("busybox")) }
    }
}

/// Thread-safe collection of results from the prepare threads.
private final class ResultsBox: @unchecked Sendable {
    private let lock = ConditionLock()
    private var results: [Result<ContainerID, any Error>] = []
    func append(_ result: Result<ContainerID, any Error>) { lock.withLock { results.append(result) } }
    var all: [Result<ContainerID, any Error>] { lock.withLock { results } }
}

/// An OCI image built from the busybox rootfs: one gzip layer, a config and a manifest.
struct BuiltImage {
    let layer: Digest
    let layerBytes: [UInt8]
    let config: Digest
    let configBytes: [UInt8]
    let manifest: Digest
    let manifestBytes: [UInt8]

    init(rootfs: String, scratch: String) throws {
        let archive = scratch + "/layer.tgz"
        try HostCommand.check(["tar", "--sort=name", "-C", rootfs, "-czf", archive, "."]) { OCIError.rootfs($0) }
        layerBytes = try File.openForReading(archive).readAll()
        layer = Digest.of(layerBytes)
        configBytes = Array(try JSONSerialization.data(withJSONObject: [
            "architecture": "amd64", "os": "linux", "config": ["Env": ["PATH=/bin"], "Cmd": ["sh"]],
            "rootfs": ["type": "layers", "diff_ids": [layer.description]],
        ], options: [.sortedKeys]))
        config = Digest.of(configBytes)
        manifestBytes = Array(try JSONSerialization.data(withJSONObject: [
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": ["mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.description,
                       "size": configBytes.count],
            "layers": [["mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer.description,
                        "size": layerBytes.count]],
        ], options: [.sortedKeys]))
        manifest = Digest.of(manifestBytes)
    }

    func serve(on registry: FakeRegistry, repository: String) {
        let manifestType = ["Content-Type": "application/vnd.oci.image.manifest.v1+json"]
        let manifestBytes = manifestBytes, configBytes = configBytes, layerBytes = layerBytes
        registry.route("/v2/\(repository)/manifests/latest") { _ in (200, manifestType, manifestBytes) }
        registry.route("/v2/\(repository)/manifests/\(manifest)") { _ in (200, manifestType, manifestBytes) }
        registry.route("/v2/\(repository)/blobs/\(config)") { _ in (200, [:], configBytes) }
        registry.route("/v2/\(repository)/blobs/\(layer)") { _ in (200, [:], layerBytes) }
    }
}

/// A registry good enough for a pull: one thread, one request per connection, routes by exact
/// target, optional bearer-token challenge, counts of requests per target.
final class FakeRegistry: @unchecked Sendable {
    struct Request {
        let target: String
        let headers: [String: String]
    }
    typealias Handler = @Sendable (Request) -> (Int, [String: String], [UInt8])

    private let lock = ConditionLock()
    private var routes: [String: Handler] = [:]
    private var counts: [String: Int] = [:]
    private let listener: Int32
    private var thread: PlatformThread?
    let port: UInt16
    /// When set, /v2/ paths need `Authorization: Bearer <token>`, else 401 with `challenge`.
    var requireToken: String? {
        get { lock.withLock { _requireToken } }
        set { lock.withLock { _requireToken = newValue } }
    }
    var challenge: String {
        get { lock.withLock { _challenge } }
        set { lock.withLock { _challenge = newValue } }
    }
    var manifestDelayMillis: Int {
        get { lock.withLock { _delay } }
        set { lock.withLock { _delay = newValue } }
    }
    private var _requireToken: String?
    private var _challenge = ""
    private var _delay = 0
    /// Serve HTTPS with this server context (nil: plain HTTP).
    private let tls: TLSContext?

    init(tls: TLSContext? = nil) throws {
        self.tls = tls
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        _ = fcntl(listener, F_SETFD, FD_CLOEXEC)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) }
        }
        guard bound == 0, listen(listener, 64) == 0 else { throw SystemError("bind/listen", "fake registry") }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        self.listener = listener
        port = UInt16(bigEndian: address.sin_port)
        thread = PlatformThread(name: "fake-registry") { [self] in serve() }
    }

    func route(_ target: String, _ handler: @escaping Handler) { lock.withLock { routes[target] = handler } }
    func count(_ target: String) -> Int { lock.withLock { counts[target] ?? 0 } }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        thread?.join()
        _ = close(listener)
    }

    private func serve() {
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR { continue }
                return
            }
            if let tls {
                if let stream = try? BlockingTLSStream(descriptor: connection, context: tls) {
                    handle(receive: { stream.receive() }, send: { stream.send($0) })
                }
            } else {
                handle(receive: {
                    var chunk = [UInt8](repeating: 0, count: 4_096)
                    let count = chunk.withUnsafeMutableBytes { recv(connection, $0.baseAddress!, $0.count, 0) }
                    return count > 0 ? Array(chunk[0..<count]) : []
                }, send: { bytes in
                    var offset = 0
                    while offset < bytes.count {
                        let sent = bytes.withUnsafeBytes { send(connection, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
                        guard sent > 0 else { return }
                        offset += sent
                    }
                })
            }
            _ = close(connection)
        }
    }

    private func handle(receive: () -> [UInt8], send: ([UInt8]) -> Void) {
        var received: [UInt8] = []
        while !String(decoding: received, as: UTF8.self).contains("\r\n\r\n") {
            let chunk = receive()
            guard !chunk.isEmpty else { return }
            received += chunk
            // A TLS ClientHello to this plain server: answer 400 at once, as Go's net/http does.
            if received.first == 0x16 { return send(Array("HTTP/1.0 400 Bad Request\r\n\r\n".utf8)) }
        }
        let lines = String(decoding: received, as: UTF8.self).components(separatedBy: "\r\n")
        let target = lines[0].split(separator: " ").dropFirst().first.map(String.init) ?? "/"
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let (handler, token, challenge, delay) = lock.withLock { () -> (Handler?, String?, String, Int) in
            counts[target, default: 0] += 1
            return (routes[target], _requireToken, _challenge, _delay)
        }
        if target.contains("/manifests/"), delay > 0 { usleep(UInt32(delay) * 1_000) }
        var (status, responseHeaders, body) = handler?(Request(target: target, headers: headers)) ?? (404, [:], Array("{}".utf8))
        if let token, target.hasPrefix("/v2/"), headers["authorization"] != "Bearer \(token)" {
            (status, responseHeaders, body) = (401, ["WWW-Authenticate": challenge], Array("{\"errors\":[]}".utf8))
        }
        var head = "HTTP/1.1 \(status) X\r\nContent-Length: \(body.count)\r\nConnection: close\r\n"
        for (name, value) in responseHeaders { head += "\(name): \(value)\r\n" }
        send(Array((head + "\r\n").utf8) + body)
    }
}

/// The server side of TLS on a blocking socket, for the fake registry.
final class BlockingTLSStream {
    private let descriptor: Int32
    private let session: TLSSession
    private var pending: [UInt8] = []

    init(descriptor: Int32, context: TLSContext) throws {
        self.descriptor = descriptor
        session = try TLSSession(context: context)
        while !session.isHandshakeComplete {
            let raw = receiveRaw()
            guard !raw.isEmpty else { throw TLSError.closedByPeer }
            pending += try session.receive(raw)
            sendRaw(session.takeOutgoing())
        }
    }

    func receive() -> [UInt8] {
        while pending.isEmpty {
            let raw = receiveRaw()
            guard !raw.isEmpty, let plaintext = try? session.receive(raw) else { return [] }
            sendRaw(session.takeOutgoing())
            pending += plaintext
        }
        defer { pending = [] }
        return pending
    }

    func send(_ bytes: [UInt8]) {
        guard (try? session.send(bytes)) != nil else { return }
        sendRaw(session.takeOutgoing())
    }

    private func receiveRaw() -> [UInt8] {
        var chunk = [UInt8](repeating: 0, count: 16_384)
        let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress!, $0.count, 0) }
        return count > 0 ? Array(chunk[0..<count]) : []
    }

    private func sendRaw(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { return }
            offset += sent
        }
    }
}
