@testable import API
import ClusterState
import XCTest

/// `docker volume ls/inspect/rm` against a node: its DATA/volumes, Docker's shapes and statuses.
final class VolumeRoutesTests: XCTestCase {
    private var plane: FakeControlPlane!
    private var api: DockerAPI!

    override func setUp() {
        plane = FakeControlPlane()
        plane.volumes = [LocalVolume(name: "v1", mountpoint: "/data/volumes/v1", createdAt: Timestamp(millisecondsSinceEpoch: 1_800_000_000_000)),
                         LocalVolume(name: "v2", mountpoint: "/data/volumes/v2", createdAt: Timestamp(millisecondsSinceEpoch: 1_800_000_000_000))]
        plane.volumesInUse = ["v2"]
        api = DockerAPI(controlPlane: plane, identity: ServerIdentity(version: "0.1.0", gitCommit: "abc", arch: "amd64", kernelVersion: "6.1"),
                        now: { Timestamp(millisecondsSinceEpoch: 1_800_000_000_000) }, newID: { DockerNames.randomID() })
    }

    private func call(_ method: String, _ target: String) -> HTTPResponse {
        var answers: [HTTPResponse] = []
        api.handle(HTTPRequest(method: method, target: target, body: [])) { answers.append($0) }
        XCTAssertEqual(answers.count, 1)
        return answers.first ?? HTTPResponse(status: 0)
    }

    func testListInspectAndRemove() {
        guard case let .array(volumes)? = jsonBody(call("GET", "/v1.41/volumes"))["Volumes"], volumes.count == 2 else {
            return XCTFail("two volumes listed")
        }
        XCTAssertEqual(volumes[0]["Name"], .string("v1"))
        XCTAssertEqual(volumes[0]["Driver"], .string("local"))
        XCTAssertEqual(volumes[0]["Scope"], .string("local"))
        XCTAssertEqual(volumes[1]["Mountpoint"], .string("/data/volumes/v2"))
        XCTAssertEqual(jsonBody(call("GET", "/volumes/v1"))["CreatedAt"], .string("2027-01-15T08:00:00.000Z"))
        XCTAssertEqual(call("GET", "/volumes/nope").status, 404)
        let inUse = call("DELETE", "/volumes/v2")
        XCTAssertEqual(inUse.status, 409)
        XCTAssertTrue(jsonBody(inUse)["message"]?.stringValue?.contains("volume is in use") == true)
        XCTAssertEqual(call("DELETE", "/volumes/v1").status, 204)
        XCTAssertEqual(plane.volumes.map(\.name), ["v2"])
        XCTAssertEqual(call("DELETE", "/volumes/v1").status, 404)
        let create = call("POST", "/volumes/create")
        XCTAssertEqual(create.status, 400)
        XCTAssertTrue(jsonBody(create)["message"]?.stringValue?.contains("first task that mounts them") == true)
        XCTAssertEqual(call("PUT", "/volumes/v1").status, 405)
    }
}
