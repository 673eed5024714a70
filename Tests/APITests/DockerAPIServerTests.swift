@testable import API
import ClusterState
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
