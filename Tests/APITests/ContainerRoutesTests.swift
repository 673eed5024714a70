@testable import API
import ClusterState
import Foundation
import XCTest

/// The node-level container routes against a fake node with two task containers: Docker's
/// list and inspect shapes and labels, lookups by id prefix, name or task id, and the refusals
/// of container creation and of direct lifecycle changes.
final class ContainerRoutesTests: XCTestCase {
    private var plane: FakeControlPlane!
    private var api: DockerAPI!

    override func setUp() {
        plane = FakeControlPlane()
        api = DockerAPI(controlPlane: plane, identity: ServerIdentity(version: "0.1.0", arch: "amd64", kernelVersion: "6.1"),
                        now: { Timestamp(millisecondsSinceEpoch: 1_800_000_000_000) })
        func task(_ id: String, slot: UInt64) -> SwarmTask {
            var task = SwarmTask(id: id, createdAt: Timestamp(millisecondsSinceEpoch: 1_800_000_000_000 + slot), serviceID: "svcweb", slot: slot,
                                 nodeID: "node2bbbbbbbbbbbbbbbbbbbbb",
                                 spec: TaskTemplate(containerSpec: ContainerSpec(image: "busybox:1", labels: ["team": "x"], command: ["sleep"],
                                                                                 args: ["60"], env: ["A=1"])),
                                 status: TaskStatus(timestamp: Timestamp(millisecondsSinceEpoch: 1), state: .running, message: "started"))
            task.serviceAnnotations = TaskServiceAnnotations(name: "web")
            return task
        }
        plane.containers = [
            LocalContainer(id: "aaaa1111", task: task("taskone", slot: 1), serviceName: "web", state: .running, pid: 42, startedAt: Date().timeIntervalSince1970 - 5),
            LocalContainer(id: "bbbb2222", task: task("tasktwo", slot: 2), serviceName: "web", state: .exited, exitCode: 3),
        ]
    }

    private func call(_ method: String, _ target: String) -> HTTPResponse {
        var answers: [HTTPResponse] = []
        api.handle(HTTPRequest(method: method, target: target, body: [])) { answers.append($0) }
        XCTAssertEqual(answers.count, 1)
        return answers.first ?? HTTPResponse(status: 0)
    }

    func testPsListsRunningTaskContainersWithSwarmLabelsAndAllListsEvery() {
        guard case let .array(running) = jsonBody(call("GET", "/v1.41/containers/json")) else { return XCTFail("a list") }
        XCTAssertEqual(running.count, 1)
        XCTAssertEqual(running.first?["Id"], .string("aaaa1111"))
        XCTAssertEqual(running.first?["Names"], .array([.string("/web.1.taskone")]))
        XCTAssertEqual(running.first?["Command"], .string("sleep 60"))
        XCTAssertEqual(running.first?["State"], .string("running"))
        XCTAssertEqual(running.first?["Status"]?.stringValue?.hasPrefix("Up "), true)
        XCTAssertEqual(running.first?["Labels"]?["com.docker.swarm.service.name"], .string("web"))
        XCTAssertEqual(running.first?["Labels"]?["com.docker.swarm.task.id"], .string("taskone"))
        XCTAssertEqual(running.first?["Labels"]?["com.docker.swarm.node.id"], .string("node2bbbbbbbbbbbbbbbbbbbbb"))
        XCTAssertEqual(running.first?["Labels"]?["team"], .string("x"))
        guard case let .array(all) = jsonBody(call("GET", "/containers/json?all=1")) else { return XCTFail("a list") }
        XCTAssertEqual(all.map { $0["Status"] }, [.string("Up 5 seconds"), .string("Exited (3)")], "all=1 lists exited containers too")
        guard case let .array(labelled) = jsonBody(call("GET", "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22com.docker.swarm.task.id%3Dtasktwo%22%5D%7D"))
        else { return XCTFail("a list") }
        XCTAssertEqual(labelled.map { $0["Id"] }, [.string("bbbb2222")])
    }

    func testInspectFindsByIdPrefixNameOrTask() {
        for reference in ["aaaa", "web.1.taskone", "taskone"] {
            let body = jsonBody(call("GET", "/containers/\(reference)/json"))
            XCTAssertEqual(body["Id"], .string("aaaa1111"), reference)
            XCTAssertEqual(body["Name"], .string("/web.1.taskone"))
            XCTAssertEqual(body["State"]?["Running"], .bool(true))
            XCTAssertEqual(body["State"]?["Pid"], .number("42"))
            XCTAssertEqual(body["Path"], .string("sleep"))
            XCTAssertEqual(body["Config"]?["Env"], .array([.string("A=1")]))
        }
        XCTAssertEqual(call("GET", "/containers/nosuch/json").status, 404)
        XCTAssertEqual(jsonBody(call("GET", "/containers/bbbb/json"))["State"]?["ExitCode"], .number("3"))
    }

    func testCreationAndLifecycleChangesAreRefusedNamingTheServiceCommands() {
        let create = call("POST", "/v1.41/containers/create")
        XCTAssertEqual(create.status, 400)
        XCTAssertTrue(create.bodyText.contains("use 'docker service create'"), create.bodyText)
        for (method, target) in [("POST", "/containers/aaaa/stop"), ("POST", "/containers/aaaa/kill"), ("DELETE", "/containers/aaaa")] {
            let refused = call(method, target)
            XCTAssertEqual(refused.status, 400, target)
            XCTAssertTrue(refused.bodyText.contains("task of service web"), refused.bodyText)
        }
        XCTAssertEqual(call("GET", "/containers/aaaa/stats").status, 400, "streaming stats are refused with what to use")
    }

    func testImagesListTheNodesStore() {
        plane.images = [LocalImage(id: "sha256:abc", repoTags: ["busybox:1"], created: 1_800_000_000, size: 1234)]
        guard case let .array(images) = jsonBody(call("GET", "/images/json")) else { return XCTFail("a list") }
        XCTAssertEqual(images.first?["RepoTags"], .array([.string("busybox:1")]))
        XCTAssertEqual(images.first?["Size"], .number("1234"))
    }
}
