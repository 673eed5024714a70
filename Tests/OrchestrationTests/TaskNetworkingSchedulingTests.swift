import XCTest
import ClusterState
@testable import Orchestration

/// Task networking as a scheduling filter (issue 16): a node that says it runs no task
/// networking (its description lists no overlay network plugin) is never offered a task with
/// network attachments (`--network`, `--publish`); tasks without any still go there; a node
/// that never said counts as able (mixed versions behave as before).
final class TaskNetworkingSchedulingTests: XCTestCase {
    private func report(_ harness: inout Harness, _ nodeID: String, plugins: [EnginePlugin]?) {
        var description = harness.state.nodes[nodeID]!.description
        description.engine.plugins = plugins
        harness.mustApply(.setNodeDescription(id: nodeID, description: description, at: harness.now))
    }

    private func addNetwork(_ harness: inout Harness, id: String = "net1", name: String = "backend") {
        harness.mustApply(.createNetwork(network: Network(id: id, createdAt: harness.now, spec: NetworkSpec(name: name))))
    }

    private func spec(_ name: String, replicas: UInt64, network: String? = nil, ports: [PortConfig]? = nil) -> ServiceSpec {
        var spec = Harness.spec(name: name, replicas: replicas)
        if let network { spec.taskTemplate.networks = [NetworkAttachmentConfig(target: network)] }
        if let ports { spec.endpointSpec = EndpointSpec(ports: ports) }
        return spec
    }

    func testNetworkedTasksGoOnlyToNodesThatRunTaskNetworking() {
        var harness = Harness(nodes: ["n1", "n2", "n3"])
        report(&harness, "n1", plugins: [.overlayNetwork])
        report(&harness, "n2", plugins: [.overlayNetwork])
        report(&harness, "n3", plugins: [])
        addNetwork(&harness)
        harness.createService(spec("overlay", replicas: 4, network: "net1"), id: "s1")
        harness.createService(spec("mesh", replicas: 4, ports: [PortConfig(targetPort: 80, publishedPort: 8080)]), id: "s2")
        harness.createService(spec("hostport", replicas: 2, ports: [PortConfig(targetPort: 80, publishedPort: 9090, publishMode: "host")]),
                              id: "s3")
        harness.createService(spec("plain", replicas: 6), id: "s4")
        harness.converge()

        for service in ["s1", "s2", "s3"] {
            let tasks = harness.running(service)
            XCTAssertFalse(tasks.isEmpty, service)
            XCTAssertTrue(tasks.allSatisfy { !($0.networksAttachments ?? []).isEmpty }, "\(service)'s tasks have attachments")
            XCTAssertFalse(harness.runningPerNode(service).keys.contains("n3"), "\(service) placed on n3: \(harness.runningPerNode(service))")
        }
        XCTAssertEqual(harness.running("s1").count, 4)
        XCTAssertEqual(harness.running("s2").count, 4)
        XCTAssertEqual(harness.runningPerNode("s3"), ["n1": 1, "n2": 1], "host-mode ports without a network join ingress too")
        XCTAssertEqual(harness.runningPerNode("s4"), ["n1": 2, "n2": 2, "n3": 2], "tasks without attachments still spread over all")
        XCTAssertTrue(harness.tasks("s1").allSatisfy { $0.status.state != .pending }, "nothing waits while able nodes have room")
    }

    func testWithoutAnyNodeRunningTaskNetworkingTheTasksWaitSayingWhy() {
        var harness = Harness(nodes: ["n1", "n2", "n3"])
        for node in ["n1", "n2", "n3"] { report(&harness, node, plugins: []) }
        harness.updateNode("n1") { $0.availability = .drain }
        addNetwork(&harness)
        harness.createService(spec("overlay", replicas: 2, network: "net1"))
        harness.converge()
        let tasks = harness.tasks()
        XCTAssertEqual(tasks.count, 2)
        XCTAssertTrue(tasks.allSatisfy { $0.status.state == .pending && $0.nodeID == nil })
        XCTAssertEqual(tasks.first?.status.err,
                       "no suitable node (1 node drained; task networking (--network, --publish) unavailable on 2 nodes: "
                           + "run them as root with --executor oci, their log says what is missing)")

        // A node that starts running networking (restarted as root with --executor oci) takes them.
        report(&harness, "n2", plugins: [.overlayNetwork])
        harness.converge()
        XCTAssertEqual(harness.runningPerNode(), ["n2": 2])
    }

    func testNodesThatNeverReportedTheirPluginsCountAsAble() {
        var harness = Harness(nodes: ["n1", "n2"])
        XCTAssertNil(harness.state.nodes["n1"]!.description.engine.plugins)
        XCTAssertTrue(harness.state.nodes["n1"]!.runsTaskNetworking)
        addNetwork(&harness)
        harness.createService(spec("overlay", replicas: 4, network: "net1"))
        harness.converge()
        XCTAssertEqual(harness.runningPerNode(), ["n1": 2, "n2": 2])
    }

    func testGlobalServiceOnANetworkSkipsNodesWithoutNetworkingAndPlainOnesDoNot() {
        var harness = Harness(nodes: ["n1", "n2", "n3"])
        report(&harness, "n3", plugins: [])
        addNetwork(&harness)
        var networked = spec("agents", replicas: 1, network: "net1")
        networked.mode = .global
        harness.createService(networked, id: "s1")
        var plain = spec("plain", replicas: 1)
        plain.mode = .global
        harness.createService(plain, id: "s2")
        harness.converge()
        XCTAssertEqual(harness.runningPerNode("s1"), ["n1": 1, "n2": 1])
        XCTAssertTrue(harness.tasks("s1").allSatisfy { $0.nodeID != "n3" }, "no task of s1 was even created for n3 (none waits pending)")
        XCTAssertEqual(harness.runningPerNode("s2"), ["n1": 1, "n2": 1, "n3": 1])
    }

    func testANodeThatStopsRunningNetworkingLosesItsNetworkedTasksOnly() {
        var harness = Harness(nodes: ["n1", "n2", "n3"])
        addNetwork(&harness)
        harness.createService(spec("overlay", replicas: 3, network: "net1"), id: "s1")
        harness.createService(spec("plain", replicas: 3), id: "s2")
        harness.converge()
        XCTAssertEqual(harness.runningPerNode("s1"), ["n1": 1, "n2": 1, "n3": 1])
        let plainOnN3 = harness.running("s2").filter { $0.nodeID == "n3" }.map(\.id)
        XCTAssertEqual(plainOnN3.count, 1)

        // n3 restarts with the process executor: it reports no networking.
        report(&harness, "n3", plugins: [])
        harness.converge()
        XCTAssertEqual(harness.running("s1").count, 3)
        XCTAssertFalse(harness.runningPerNode("s1").keys.contains("n3"), "the networked task moved off n3")
        XCTAssertEqual(harness.running("s2").filter { $0.nodeID == "n3" }.map(\.id), plainOnN3, "the plain task stayed")
        XCTAssertEqual(Rebalancer.plan(harness.state, serviceID: "s1"), [], "n3 is not an empty node to fill for s1")
    }
}
