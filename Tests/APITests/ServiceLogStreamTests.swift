@testable import API
import ClusterState
import XCTest

/// `GET /services/{id}/logs` and `/tasks/{id}/logs` over the lines nodes record: merged across
/// tasks and streams by write time, `tail` over the merged stream, `since`/`until`, write-time
/// stamps, one task's logs, and following.
final class ServiceLogStreamTests: XCTestCase {
    private static let t0: Int64 = 1_800_000_000_000_000_000
    private var plane: FakeControlPlane!
    private var api: DockerAPI!

    override func setUp() {
        plane = FakeControlPlane()
        api = DockerAPI(controlPlane: plane, identity: ServerIdentity(version: "0.1.0", arch: "amd64", kernelVersion: "6.1"),
                        now: { Timestamp(millisecondsSinceEpoch: 1_800_000_010_000) })
        let spec = ServiceSpec(name: "web", taskTemplate: TaskTemplate(containerSpec: ContainerSpec(image: "busybox")), mode: .replicated(replicas: 2))
        plane.apply(.createService(service: Service(id: "svcweb", createdAt: Timestamp(millisecondsSinceEpoch: 1), spec: spec)))
        plane.apply(.createTasks(tasks: ["taska", "taskb"].enumerated().map { index, id in
            SwarmTask(id: id, createdAt: Timestamp(millisecondsSinceEpoch: 1), serviceID: "svcweb", slot: UInt64(index + 1),
                      nodeID: "node2bbbbbbbbbbbbbbbbbbbbb", spec: spec.taskTemplate,
                      status: TaskStatus(timestamp: Timestamp(millisecondsSinceEpoch: 1), state: .running, message: "started"))
        }))
        // Task a writes at 1 s, 3 s (stderr), 5 s; task b at 2 s and 4 s.
        func line(_ stream: UInt8, _ second: Int64, _ sequence: UInt64, _ text: String) -> TaskLogLine {
            TaskLogLine(stream: stream, timeNanos: Self.t0 + second * 1_000_000_000 + 7, sequence: sequence, data: Array(text.utf8))
        }
        plane.taskOutput["taska"] = [line(1, 1, 1, "a1\n"), line(2, 3, 2, "a3 err\n"), line(1, 5, 3, "a5\n")]
        plane.taskOutput["taskb"] = [line(1, 2, 1, "b2\n"), line(1, 4, 2, "b4")]
    }

    /// The frames of a logs request answered at once (the fake answers synchronously).
    private func frames(_ target: String) throws -> [(stream: UInt8, text: String)] {
        nonisolated(unsafe) let api = self.api!
        let server = try startServer { request, responder in api.handle(request, responder) }
        let parts = target.split(separator: "?", maxSplits: 1)
        let query = parts.count == 2 ? parts[1].split(separator: "&").map { pair -> (String, String) in
            let kv = pair.split(separator: "=", maxSplits: 1)
            return (String(kv[0]), kv.count == 2 ? String(kv[1]) : "")
        } : []
        let response = try HTTPClient(address: server.address, timeoutMillis: 5_000).send("GET", String(parts[0]), query: QueryParameters(query))
        XCTAssertEqual(response.status, 200, response.bodyText)
        var result: [(UInt8, String)] = []
        var body = response.body[...]
        while body.count >= 8 {
            let start = body.startIndex
            let length = Int(body[start + 4]) << 24 | Int(body[start + 5]) << 16 | Int(body[start + 6]) << 8 | Int(body[start + 7])
            result.append((body[start], String(decoding: body.dropFirst(8).prefix(length), as: UTF8.self)))
            body = body.dropFirst(8 + length)
        }
        return result
    }

    func testLinesOfAllTasksAndBothStreamsAreMergedByWriteTime() throws {
        let all = try frames("/v1.41/services/web/logs?stdout=1&stderr=1")
        XCTAssertEqual(all.map(\.text), ["a1\n", "b2\n", "a3 err\n", "b4\n", "a5\n"], "a line without newline gets one")
        XCTAssertEqual(all.map(\.stream), [1, 1, 2, 1, 1])
        XCTAssertEqual(try frames("/services/web/logs?stdout=1").map(\.text), ["a1\n", "b2\n", "b4\n", "a5\n"])
    }

    func testTailCountsTheMergedStreamAndTimestampsAreWriteTimes() throws {
        let last = try frames("/services/web/logs?stdout=1&stderr=1&tail=3&timestamps=1")
        XCTAssertEqual(last.map(\.text), ["2027-01-15T08:00:03.000000007Z a3 err\n", "2027-01-15T08:00:04.000000007Z b4\n",
                                          "2027-01-15T08:00:05.000000007Z a5\n"])
        XCTAssertEqual(try frames("/services/web/logs?stdout=1&stderr=1&tail=0").count, 0)
    }

    func testSinceAndUntilChooseTheWindowBeforeTail() throws {
        XCTAssertEqual(try frames("/services/web/logs?stdout=1&stderr=1&since=1800000002&until=1800000004.5").map(\.text),
                       ["b2\n", "a3 err\n", "b4\n"])
        XCTAssertEqual(try frames("/services/web/logs?stdout=1&stderr=1&since=1800000002&until=1800000004.5&tail=1").map(\.text), ["b4\n"])
        XCTAssertEqual(try frames("/services/web/logs?stdout=1&since=0").count, 4, "since=0 is no bound, as the docker CLI sends it")
        nonisolated(unsafe) let api = self.api!
        let server = try startServer { request, responder in api.handle(request, responder) }
        let bad = try HTTPClient(address: server.address, timeoutMillis: 5_000)
            .send("GET", "/services/web/logs", query: QueryParameters([("stdout", "1"), ("since", "soon")]))
        XCTAssertEqual(bad.status, 400)
        XCTAssertTrue(bad.bodyText.contains("invalid value for since"), bad.bodyText)
    }

    func testOneTasksLogs() throws {
        XCTAssertEqual(try frames("/v1.41/tasks/taskb/logs?stdout=1&stderr=1").map(\.text), ["b2\n", "b4\n"])
        XCTAssertEqual(try frames("/tasks/taska/logs?stdout=1&stderr=1&tail=1&details=1").map(\.text),
                       ["com.docker.swarm.node.id=node2bbbbbbbbbbbbbbbbbbbbb,com.docker.swarm.service.id=svcweb,com.docker.swarm.task.id=taska a5\n"])
    }

    func testFollowingAsksOnlyForLinesAfterTheLastOneSeen() throws {
        nonisolated(unsafe) let api = self.api!
        let plane = self.plane!
        let server = try startServer { request, responder in api.handle(request, responder) }
        let client = try RawClient(server.address)
        try client.send("GET /services/web/logs?stdout=1&stderr=1&follow=1&tail=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        waitUntil("the first round asked") { (try? server.onLoop { plane.scheduled.count }) == 1 }
        try server.onLoop {
            plane.taskOutput["taskb"]!.append(TaskLogLine(stream: 2, timeNanos: Self.t0 + 6_000_000_000, sequence: 3, data: Array("b6\n".utf8)))
            plane.scheduled.removeFirst().body()
        }
        let requests = try server.onLoop { plane.logRequests }
        XCTAssertEqual(requests.count, 2)
        XCTAssertEqual(requests.first?.map(\.tail), [1, 1], "the first round asks each task for its last lines")
        XCTAssertEqual(requests.last?.map(\.afterSequence), [3, 2], "later rounds continue after the last sequence")
        XCTAssertEqual(requests.last?.map(\.tail), [nil, nil])
        client.socket.close()
    }
}
