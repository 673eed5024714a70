@testable import API
import ClusterState
import Foundation
import XCTest

/// `GET /events`: the events derived from applied commands (service, node, task container), the
/// `since`/`until`/`filters` query, and the stream (window first, then live until `until`).
final class DockerEventsTests: XCTestCase {
    private static let t0: UInt64 = 1_800_000_000_000
    private func at(_ offset: UInt64) -> Timestamp { Timestamp(millisecondsSinceEpoch: Self.t0 + offset) }

    private func service(_ id: String, _ name: String, replicas: UInt64 = 1, labels: [String: String]? = nil) -> Service {
        Service(id: id, createdAt: at(0),
                spec: ServiceSpec(name: name, taskTemplate: TaskTemplate(containerSpec: ContainerSpec(image: "busybox:1", labels: labels)),
                                  mode: .replicated(replicas: replicas)))
    }

    private func task(_ id: String, service: Service, slot: UInt64, state: TaskState = .assigned) -> SwarmTask {
        SwarmTask(id: id, createdAt: at(1), serviceID: service.id, slot: slot, nodeID: "node2bbbbbbbbbbbbbbbbbbbbb",
                  spec: service.spec.taskTemplate, status: TaskStatus(timestamp: at(1), state: state, message: state.rawValue))
    }

    private func report(_ id: String, _ state: TaskState, at offset: UInt64, exitCode: Int64? = nil) -> ClusterCommand {
        .updateTaskStatuses(updates: [TaskStatusUpdate(taskID: id, status: TaskStatus(
            timestamp: at(offset), state: state, message: state.rawValue,
            containerStatus: ContainerStatus(containerID: "c-" + id, pid: 7, exitCode: exitCode)))])
    }

    private func summary(_ events: [DockerEventMessage]) -> [String] {
        events.map { "\($0.type) \($0.action) \($0.actor.id)" }
    }

    // MARK: Derivation

    func testServiceEventsCarryNameReplicasAndUpdateState() {
        let plane = FakeControlPlane()
        let before = plane.keptEvents.events.count
        var web = service("svcweb", "web", replicas: 2)
        plane.apply(.createService(service: web))
        web.spec.mode = .replicated(replicas: 5)
        plane.apply(.updateService(id: "svcweb", version: plane.state.services["svcweb"]!.version, spec: web.spec, at: at(10)))
        web.spec.taskTemplate.containerSpec.image = "busybox:2"
        plane.apply(.updateService(id: "svcweb", version: plane.state.services["svcweb"]!.version, spec: web.spec, at: at(20)))
        plane.apply(.removeService(id: "svcweb", at: at(30)))
        let events = Array(plane.keptEvents.events.dropFirst(before))
        XCTAssertEqual(summary(events), ["service create svcweb", "service update svcweb", "service update svcweb", "service remove svcweb"])
        XCTAssertEqual(events.map(\.scope), ["swarm", "swarm", "swarm", "swarm"])
        XCTAssertEqual(events.map(\.timeNano), [0, 10, 20, 30].map { Int64(Self.t0 + $0) * 1_000_000 })
        XCTAssertEqual(events[0].actor.attributes, ["name": "web"])
        XCTAssertEqual(events[1].actor.attributes, ["name": "web", "replicas.old": "2", "replicas.new": "5"])
        XCTAssertEqual(events[2].actor.attributes["updatestate.new"], "updating", "a changed template starts a rolling update")
        XCTAssertEqual(events[3].actor.attributes, ["name": "web"], "the removed service's name comes from before the removal")
    }

    func testNodeEventsNameChangedAvailabilityRoleAndState() {
        let plane = FakeControlPlane()
        XCTAssertEqual(summary(plane.keptEvents.events.filter { $0.type == "node" }),
                       ["node create node1aaaaaaaaaaaaaaaaaaaaa", "node create node2bbbbbbbbbbbbbbbbbbbbb", "node create node3ccccccccccccccccccccc"])
        let ingress = plane.keptEvents.events.filter { $0.type == "network" }
        XCTAssertEqual(ingress.map(\.action), ["create"], "the cluster's ingress network is created with it")
        XCTAssertEqual(ingress.first?.actor.attributes["name"], "ingress")
        let beta = plane.state.nodes["node2bbbbbbbbbbbbbbbbbbbbb"]!
        var spec = beta.spec
        spec.availability = .drain
        plane.apply(.updateNodeSpec(id: beta.id, version: beta.version, spec: spec, at: at(5)))
        plane.apply(.setNodeStatus(id: beta.id, state: .down, message: "heartbeat failure", at: at(6)))
        plane.apply(.removeNode(id: beta.id, force: true, at: at(7)))
        let events = Array(plane.keptEvents.events.suffix(3))
        XCTAssertEqual(summary(events), ["node update node2bbbbbbbbbbbbbbbbbbbbb", "node update node2bbbbbbbbbbbbbbbbbbbbb",
                                         "node remove node2bbbbbbbbbbbbbbbbbbbbb"])
        XCTAssertEqual(events[0].actor.attributes, ["name": "beta", "availability.old": "active", "availability.new": "drain"])
        XCTAssertEqual(events[1].actor.attributes, ["name": "beta", "state.old": "ready", "state.new": "down"])
        XCTAssertEqual(events[2].actor.attributes, ["name": "beta"])
    }

    func testTaskContainersStartAndDieFromReportedStates() {
        let plane = FakeControlPlane()
        let web = service("svcweb", "web", labels: ["team": "x"])
        plane.apply(.createService(service: web))
        plane.apply(.createTasks(tasks: [task("t1", service: web, slot: 1), task("t2", service: web, slot: 2), task("t3", service: web, slot: 3)]))
        let before = plane.keptEvents.events.count
        plane.apply(report("t1", .starting, at: 2))
        plane.apply(report("t1", .running, at: 3))
        plane.apply(report("t2", .complete, at: 4, exitCode: 0))  // started and exited between two reports
        plane.apply(report("t3", .rejected, at: 5))  // never ran: no container events
        plane.apply(.removeService(id: "svcweb", at: at(6)))
        plane.apply(report("t1", .shutdown, at: 7, exitCode: 137))
        let events = Array(plane.keptEvents.events.dropFirst(before))
        XCTAssertEqual(summary(events), ["container start c-t1", "container start c-t2", "container die c-t2", "service remove svcweb",
                                         "container die c-t1"])
        let start = events[0]
        XCTAssertEqual(start.scope, "local")
        XCTAssertEqual(start.status, "start")
        XCTAssertEqual(start.id, "c-t1")
        XCTAssertEqual(start.from, "busybox:1")
        XCTAssertEqual(start.timeNano, Int64(Self.t0 + 3) * 1_000_000, "the agent's report time")
        XCTAssertEqual(start.actor.attributes, [
            "com.docker.swarm.node.id": "node2bbbbbbbbbbbbbbbbbbbbb", "com.docker.swarm.service.id": "svcweb",
            "com.docker.swarm.service.name": "web", "com.docker.swarm.task": "", "com.docker.swarm.task.id": "t1",
            "com.docker.swarm.task.name": "web.1.t1", "image": "busybox:1", "name": "web.1.t1", "team": "x",
        ])
        XCTAssertEqual(events[2].actor.attributes["exitCode"], "0")
        XCTAssertEqual(events[4].actor.attributes["exitCode"], "137")
        XCTAssertEqual(events[4].actor.attributes["com.docker.swarm.service.name"], "web", "the name outlives the removed service")
    }

    func testSecretAndConfigEventsNameTheObject() {
        let plane = FakeControlPlane()
        let before = plane.keptEvents.events.count
        plane.apply(.createPayload(kind: .secret, object: PayloadObject(id: "sec1", createdAt: at(1), spec: PayloadSpec(name: "db_pw", data: [1]))))
        plane.apply(.createPayload(kind: .config, object: PayloadObject(id: "cfg1", createdAt: at(2), spec: PayloadSpec(name: "app.conf", data: [2]))))
        plane.apply(.updatePayloadLabels(kind: .config, id: "cfg1", version: plane.state.configObjects["cfg1"]!.version, labels: ["a": "b"], at: at(3)))
        plane.apply(.removePayload(kind: .secret, id: "sec1", at: at(4)))
        let events = Array(plane.keptEvents.events.dropFirst(before))
        XCTAssertEqual(summary(events), ["secret create sec1", "config create cfg1", "config update cfg1", "secret remove sec1"])
        XCTAssertEqual(events.map { $0.actor.attributes["name"] }, ["db_pw", "app.conf", "app.conf", "db_pw"])
        XCTAssertEqual(events.map(\.timeNano), [1, 2, 3, 4].map { Int64(Self.t0 + $0) * 1_000_000 })
    }

    func testHistoryIsBoundedAndDeliversToSubscribersUntilUnsubscribed() {
        let history = EventHistory(capacity: 3)
        var delivered: [String] = []
        let token = history.subscribe { delivered.append($0.actor.id) }
        for index in 0..<5 {
            history.record(DockerEventMessage(type: "service", action: "create", actor: .init(id: "s\(index)", attributes: [:]),
                                              scope: "swarm", timeNano: Int64(index)))
        }
        XCTAssertEqual(history.events.map(\.actor.id), ["s2", "s3", "s4"])
        history.unsubscribe(token)
        history.record(DockerEventMessage(type: "service", action: "remove", actor: .init(id: "s5", attributes: [:]), scope: "swarm", timeNano: 5))
        XCTAssertEqual(delivered, ["s0", "s1", "s2", "s3", "s4"])
        XCTAssertEqual(history.events.map(\.actor.id), ["s3", "s4", "s5"])
    }

    // MARK: Query

    private func query(_ items: [(String, String)]) -> Result<EventQuery, APIError> { EventQuery.parse(QueryParameters(items)) }

    func testQueryParsesDockerTimesAndRefusesBadValues() throws {
        let parsed = try query([("since", "1800000000.5"), ("until", "1800000001.000000002")]).get()
        XCTAssertEqual(parsed.since, 1_800_000_000_500_000_000)
        XCTAssertEqual(parsed.until, 1_800_000_001_000_000_002)
        XCTAssertEqual(try query([("since", "0")]).get().since, 0)
        XCTAssertEqual(try query([("since", "2027-01-15T08:00:00Z")]).get().since, 1_800_000_000_000_000_000)
        for (items, words) in [([("since", "yesterday")], "invalid value for since"), ([("until", "1.2.3")], "invalid value for until"),
                               ([("since", "20"), ("until", "10")], "cannot be after until"),
                               ([("filters", #"{"type":["spaceship"]}"#)], "invalid filter 'type=spaceship'"),
                               ([("filters", #"{"colour":["red"]}"#)], "Invalid filter 'colour'")] {
            guard case let .failure(error) = query(items) else { XCTFail("\(items) accepted"); continue }
            XCTAssertEqual(error.status, 400)
            XCTAssertTrue(error.message.contains(words), "\(items): \(error.message)")
        }
    }

    func testFiltersMatchTypeEventLabelsAndObjects() throws {
        let start = DockerEventMessage(type: "container", action: "start",
                                       actor: .init(id: "abc123", attributes: ["name": "web.1.t1", "image": "busybox:1",
                                                                                "com.docker.swarm.service.name": "web"]),
                                       scope: "local", timeNano: 1)
        let create = DockerEventMessage(type: "service", action: "create", actor: .init(id: "svc1", attributes: ["name": "web"]),
                                        scope: "swarm", timeNano: 2)
        func matches(_ filters: String) throws -> [String] {
            let parsed = try query([("filters", filters)]).get()
            return [start, create].filter(parsed.includes).map(\.action)
        }
        XCTAssertEqual(try matches(#"{"type":["container"]}"#), ["start"])
        XCTAssertEqual(try matches(#"{"type":{"service":true,"container":true}}"#), ["start", "create"])
        XCTAssertEqual(try matches(#"{"event":["create"]}"#), ["create"])
        XCTAssertEqual(try matches(#"{"label":["com.docker.swarm.service.name=web"]}"#), ["start"])
        XCTAssertEqual(try matches(#"{"label":["com.docker.swarm.service.name=web","image=busybox:2"]}"#), [], "every label must hold")
        XCTAssertEqual(try matches(#"{"service":["web"]}"#), ["create"])
        XCTAssertEqual(try matches(#"{"container":["abc"]}"#), ["start"])
        XCTAssertEqual(try matches(#"{"scope":["swarm"]}"#), ["create"])
        XCTAssertEqual(try matches(#"{"image":["busybox"]}"#), ["start"])
    }

    // MARK: Stream

    func testStreamSendsTheWindowThenLiveEventsUntilUntil() throws {
        let plane = FakeControlPlane()
        let web = service("svcweb", "web")
        plane.apply(.createService(service: web))
        plane.apply(.removeService(id: "svcweb", at: at(50)))
        let api = DockerAPI(controlPlane: plane, identity: ServerIdentity(version: "0.1.0", arch: "amd64", kernelVersion: "6.1"),
                            now: { Timestamp(millisecondsSinceEpoch: Self.t0 + 100) })
        nonisolated(unsafe) let router = api
        let harness = try startServer { request, responder in router.handle(request, responder) }

        // until in the past: the window only, then the stream ends.
        let past = try RawClient(harness.address)
        try past.send("GET /v1.41/events?since=\(Self.t0 / 1000)&until=\(Self.t0 / 1000).040000000&filters=%7B%22type%22%3A%5B%22service%22%5D%7D HTTP/1.1\r\nHost: x\r\n\r\n")
        let closed = try XCTUnwrap(past.readResponse())
        XCTAssertEqual(closed.status, 200)
        XCTAssertEqual(closed.headers["Content-Type"], "application/json")
        XCTAssertEqual(try lines(closed).map { "\($0.type) \($0.action)" }, ["service create"], "the remove at +50 ms is after until")

        // until in the future: the window, then live events, until the scheduled end.
        let live = try RawClient(harness.address)
        try live.send("GET /events?since=0&until=\(Self.t0 / 1000 + 60) HTTP/1.1\r\nHost: x\r\n\r\n")
        waitUntil("the stream subscribed") { (try? harness.onLoop { plane.keptEvents.subscriberCount }) == 1 }
        let db = service("svcdb", "db")
        try harness.onLoop {
            plane.apply(.createService(service: db))
            XCTAssertEqual(plane.scheduled.map(\.millis), [60_000 - 100 + 1], "the stream ends at until")
            plane.scheduled.removeFirst().body()
        }
        let ended = try XCTUnwrap(live.readResponse())
        let names = try lines(ended).filter { $0.type == "service" }.map { "\($0.action) \($0.actor.attributes["name"] ?? "")" }
        XCTAssertEqual(names, ["create web", "remove web", "create db"])
        XCTAssertEqual(try harness.onLoop { plane.keptEvents.subscriberCount }, 0, "an ended stream unsubscribes")

        // No since/until: nothing kept is sent; a client that leaves unsubscribes.
        let leaving = try RawClient(harness.address)
        try leaving.send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        waitUntil("the stream subscribed") { (try? harness.onLoop { plane.keptEvents.subscriberCount }) == 1 }
        leaving.socket.close()
        let gone = service("svcgone", "gone")
        try harness.onLoop { _ = plane.apply(.createService(service: gone)) }
        waitUntil("the departed client is unsubscribed") { (try? harness.onLoop { plane.keptEvents.subscriberCount }) == 0 }
    }

    private func lines(_ response: HTTPResponse) throws -> [DockerEventMessage] {
        try response.body.split(separator: UInt8(ascii: "\n")).map { try JSONDecoder().decode(DockerEventMessage.self, from: Data($0)) }
    }
}
