@testable import API
import ClusterState
import Platform
import Synchronization
import XCTest

/// The Docker routes behind the real HTTP server, as the docker CLI reaches them.
final class DockerAPIServerTests: XCTestCase {
    func testDockerCLISequenceOverUnixSocket() throws {
        let plane = FakeControlPlane()
        let api = DockerAPI(controlPlane: plane, identity: ServerIdentity(version: "0.1.0", arch: "amd64", kernelVersion: "6.1"),
                            now: { Timestamp(millisecondsSinceEpoch: 1_800_000_000_000) })
        nonisolated(unsafe) let router = api
        let harness = try startServer { request, responder in router.handle(request, responder) }
        let client = HTTPClient(address: harness.address)
        let cliHeaders = HTTPHeaders([("Host", "api.moby.localhost"), ("User-Agent", "Docker-Client/28.2.2 (linux)")])

        let ping = try client.send("HEAD", "/_ping", headers: cliHeaders)
        XCTAssertEqual(ping.status, 200)
        XCTAssertEqual(ping.headers["Api-Version"], "1.41")
        XCTAssertEqual(ping.headers["Content-Length"], "0")

        let nodes = try client.send("GET", "/v1.41/nodes", headers: cliHeaders)
        XCTAssertEqual(nodes.status, 200)
        XCTAssertEqual(nodes.headers["Content-Type"], "application/json")

        let version = try harness.onLoop { plane.state.nodes["node2bbbbbbbbbbbbbbbbbbbbb"]!.version.index }
        let update = try client.send("POST", "/v1.41/nodes/node2bbbbbbbbbbbbbbbbbbbbb/update", query: QueryParameters([("version", "\(version)")]),
                                     body: Array(#"{"Labels":{},"Role":"worker","Availability":"drain"}"#.utf8), headers: cliHeaders)
        XCTAssertEqual(update.status, 200)
        XCTAssertEqual(update.headers["Content-Length"], "0")
        XCTAssertEqual(try harness.onLoop { plane.state.nodes["node2bbbbbbbbbbbbbbbbbbbbb"]!.spec.availability }, .drain)

        let stale = try client.send("POST", "/v1.41/nodes/node2bbbbbbbbbbbbbbbbbbbbb/update", query: QueryParameters([("version", "\(version)")]),
                                    body: Array(#"{"Role":"worker","Availability":"active"}"#.utf8))
        XCTAssertEqual(stale.status, 500)
        XCTAssertEqual(jsonBody(stale)["message"]?.stringValue, "rpc error: code = Unknown desc = update out of sequence")

        let malformed = try client.send("POST", "/v1.41/nodes/beta/update", query: QueryParameters([("version", "1")]), body: Array("{".utf8))
        XCTAssertEqual(malformed.status, 400)
        XCTAssertEqual(harness.connectionCount, 1, "error answers keep the connection")
    }
}

/// Real clients on real threads racing through the HTTP server.
final class DockerAPIConcurrencyTests: XCTestCase {
    /// Eight docker-CLI-like clients each scale the same service up by one, twenty times, with
    /// read-modify-write and `?version=`. Every refused update is a 500 "update out of sequence"
    /// and changes nothing, so the final replica count equals the number of successful updates.
    func testEightClientsRacingVersionedUpdatesLoseNothing() throws {
        let plane = FakeControlPlane()
        let api = DockerAPI(controlPlane: plane, identity: ServerIdentity(version: "0.1.0", arch: "amd64", kernelVersion: "6.1"),
                            now: { Timestamp(millisecondsSinceEpoch: 1_800_000_000_000) })
        nonisolated(unsafe) let router = api
        let harness = try startServer { request, responder in router.handle(request, responder) }
        let create = try HTTPClient(address: harness.address).send("POST", "/v1.41/services/create", body: Array(
            #"{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Args":["sleep","3600"]}},"Mode":{"Replicated":{"Replicas":0}}}"#.utf8))
        XCTAssertEqual(create.status, 201, create.bodyText)

        struct Tally { var successes = 0, refusals = 0, failures: [String] = [] }
        let tally = Mutex(Tally())
        let address = harness.address
        let threads = (0..<8).map { index in
            PlatformThread(name: "client\(index)") {
                let client = HTTPClient(address: address)
                defer { client.close() }
                for _ in 0..<20 {
                    do {
                        let read = try client.send("GET", "/v1.41/services/web", query: QueryParameters([("insertDefaults", "false")]))
                        let body = try JSONValue.parse(read.body)
                        guard case let .number(version)? = body["Version"]?["Index"],
                              case let .number(replicas)? = body["Spec"]?["Mode"]?["Replicated"]?["Replicas"], let count = Int(replicas),
                              let spec = body["Spec"]?.serialized() else { throw HTTPClientError(.malformedResponse, "bad service JSON") }
                        let edited = String(decoding: spec, as: UTF8.self)
                            .replacingOccurrences(of: #""Replicas":\#(count)"#, with: #""Replicas":\#(count + 1)"#)
                        let write = try client.send("POST", "/v1.41/services/web/update", query: QueryParameters([("version", version)]),
                                                    body: Array(edited.utf8))
                        let message = (try? JSONValue.parse(write.body))?["message"]?.stringValue
                        tally.withLock { tally in
                            switch (write.status, message) {
                            case (200, _): tally.successes += 1
                            case (500, "rpc error: code = Unknown desc = update out of sequence"): tally.refusals += 1
                            default: tally.failures.append("\(write.status) \(write.bodyText)")
                            }
                        }
                    } catch {
                        tally.withLock { $0.failures.append("\(error)") }
                    }
                }
            }
        }
        for thread in threads { thread.join() }
        let result = tally.withLock { $0 }
        XCTAssertEqual(result.failures, [])
        XCTAssertEqual(result.successes + result.refusals, 160)
        XCTAssertGreaterThan(result.successes, 0)
        let replicas = try harness.onLoop { plane.state.service(named: "web")?.spec.mode }
        XCTAssertEqual(replicas, .replicated(replicas: UInt64(result.successes)))
    }
}
