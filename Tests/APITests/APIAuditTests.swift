@testable import API
import ClusterState
import XCTest

/// Privileged API actions that succeed leave one audit line naming the client certificate.
final class APIAuditTests: XCTestCase {
    func testPrivilegedActionsAreAuditedWithTheClient() throws {
        let plane = FakeControlPlane()
        let api = DockerAPI(controlPlane: plane, identity: ServerIdentity(version: "0.1.0", gitCommit: "abc", arch: "amd64", kernelVersion: "6.1"),
                            now: { Timestamp(millisecondsSinceEpoch: 1_800_000_000_000) })
        func call(_ method: String, _ target: String, body: String? = nil, client: String? = "CN=client-1 OU=client") -> Int {
            var request = HTTPRequest(method: method, target: target, body: body.map { Array($0.utf8) } ?? [])
            request.client = client
            var status = 0
            api.handle(request) { status = $0.status }
            return status
        }
        let node = "node2bbbbbbbbbbbbbbbbbbbbb"
        let version = plane.state.nodes[node]!.version.index
        XCTAssertEqual(call("POST", "/v1.41/nodes/\(node)/update?version=\(version)",
                            body: #"{"Role":"worker","Availability":"drain"}"#), 200)
        XCTAssertEqual(call("GET", "/v1.41/nodes"), 200)
        XCTAssertEqual(call("DELETE", "/v1.41/nodes/nosuchnode"), 404)
        XCTAssertEqual(call("POST", "/v1.41/swarm/leave?force=1", client: nil), 200)
        XCTAssertEqual(call("POST", "/v1.41/secrets/create", body: #"{"Name":"db_pw","Data":"c2VjcmV0"}"#), 201)
        XCTAssertEqual(call("GET", "/v1.41/secrets/db_pw"), 200)
        XCTAssertEqual(call("DELETE", "/v1.41/secrets/db_pw"), 204)
        XCTAssertEqual(plane.audits, [
            "API POST /nodes/\(node)/update?version=\(version) by CN=client-1 OU=client",
            "API POST /swarm/leave?force=1 by a client of the unix socket or plain TCP",
            "API POST /secrets/create by CN=client-1 OU=client",
            "API DELETE /secrets/db_pw by CN=client-1 OU=client",
        ])
        XCTAssertFalse(plane.audits.joined().contains("c2VjcmV0"), "the audit never carries the data")
    }
}
