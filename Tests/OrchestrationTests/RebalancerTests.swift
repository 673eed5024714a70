import XCTest
import ClusterState
@testable import Orchestration

final class RebalancerTests: XCTestCase {
    func testMovesTasksOntoNodesThatJoinedLater() {
        var harness = Harness(nodes: ["n1", "n2"])
        harness.createService(Harness.spec(replicas: 6))
        harness.converge()
        XCTAssertEqual(harness.runningPerNode(), ["n1": 3, "n2": 3])
        harness.addNode("n3")
        harness.addNode("n4")
        harness.converge()
        XCTAssertEqual(harness.runningPerNode(), ["n1": 3, "n2": 3], "running tasks are not moved on their own")

        let moves = Rebalancer.plan(harness.state, serviceID: "s1")
        XCTAssertEqual(moves.count, 2)
        XCTAssertEqual(Set(moves.compactMap { harness.state.tasks[$0]?.nodeID }), ["n1", "n2"])
        for id in moves {
            harness.mustApply(.setTaskDesiredState(id: id, state: .shutdown, at: harness.now))
            harness.converge()
        }
        let counts = harness.runningPerNode()
        XCTAssertEqual(counts.values.reduce(0, +), 6)
        XCTAssertLessThanOrEqual(counts.values.max()! - counts.values.min()!, 1)
        XCTAssertEqual(counts.count, 4)
        XCTAssertTrue(Rebalancer.plan(harness.state, serviceID: "s1").isEmpty, "balanced: nothing more to move")
    }

    func testIgnoresIneligibleNodesAndGlobalServices() {
        var harness = Harness(nodes: ["n1", "n2"])
        harness.createService(Harness.spec(replicas: 4))
        harness.converge()
        harness.addNode("n3")
        harness.updateNode("n3") { $0.availability = .pause }
        XCTAssertTrue(Rebalancer.plan(harness.state, serviceID: "s1").isEmpty, "a paused node takes no tasks")
        XCTAssertTrue(Rebalancer.plan(harness.state, serviceID: "nope").isEmpty)
        var global = Harness.spec(name: "agent")
        global.mode = .global
        harness.createService(global, id: "s2")
        XCTAssertTrue(Rebalancer.plan(harness.state, serviceID: "s2").isEmpty)
    }
}
