import XCTest
import ClusterState
@testable import Orchestration

final class GlobalOrchestratorTests: XCTestCase {
    private func globalSpec(constraints: [String]? = nil) -> ServiceSpec {
        var spec = Harness.spec(name: "agent")
        spec.mode = .global
        spec.taskTemplate.placement = constraints.map { Placement(constraints: $0) }
        return spec
    }

    func testOneTaskPerNodeIncludingNodesThatJoinLater() {
        var harness = Harness()
        harness.createService(globalSpec())
        harness.converge()
        XCTAssertEqual(harness.runningPerNode(), ["n1": 1, "n2": 1, "n3": 1])
        XCTAssertTrue(harness.tasks().allSatisfy { $0.slot == nil })

        harness.addNode("n4")
        harness.converge()
        XCTAssertEqual(harness.runningPerNode(), ["n1": 1, "n2": 1, "n3": 1, "n4": 1])
        XCTAssertTrue(harness.reconcile().isEmpty)
    }

    func testTasksLeaveDrainedAndMismatchedNodesAndComeBack() {
        var harness = Harness()
        harness.updateNode("n2") { $0.labels = ["gpu": "yes"] }
        harness.updateNode("n3") { $0.labels = ["gpu": "yes"] }
        harness.createService(globalSpec(constraints: ["node.labels.gpu==yes"]))
        harness.converge()
        XCTAssertEqual(harness.runningPerNode(), ["n2": 1, "n3": 1])

        harness.updateNode("n3") { $0.availability = .drain }
        harness.updateNode("n2") { $0.labels = [:] }
        harness.converge()
        XCTAssertEqual(harness.runningPerNode(), [:])

        harness.updateNode("n3") { $0.availability = .active }
        harness.converge()
        XCTAssertEqual(harness.runningPerNode(), ["n3": 1], "an undrained node gets its task back at once")
    }

    func testDownNodeLosesItsTaskAndGetsANewOneWhenBack() {
        var harness = Harness()
        harness.createService(globalSpec())
        harness.converge()
        harness.setNodeState("n2", .down)
        harness.converge()
        XCTAssertEqual(harness.runningPerNode(), ["n1": 1, "n3": 1])
        harness.setNodeState("n2", .ready)
        harness.converge()
        XCTAssertEqual(harness.runningPerNode(), ["n1": 1, "n2": 1, "n3": 1])
        XCTAssertEqual(harness.live().count, 3, "the stale task was stopped, not kept beside the new one")
    }

    func testGlobalTaskThatDoesNotFitStaysPendingOnItsNode() throws {
        var harness = Harness(nodes: ["n1", "n2"])
        harness.addNode("small", memory: gigabyte / 2)
        var spec = globalSpec()
        spec.taskTemplate.resources = ResourceRequirements(reservations: ResourceAmounts(memoryBytes: gigabyte))
        harness.createService(spec)
        harness.converge()
        XCTAssertEqual(harness.runningPerNode(), ["n1": 1, "n2": 1])
        let pending = try XCTUnwrap(harness.tasks().first { $0.nodeID == "small" })
        XCTAssertEqual(pending.status.state, .pending)
        XCTAssertEqual(pending.status.message, "no suitable node (insufficient memory on 1 node)")
    }
}
