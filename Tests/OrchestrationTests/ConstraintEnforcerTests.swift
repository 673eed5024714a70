import XCTest
import ClusterState
@testable import Orchestration

/// Node loss, drain and constraint changes: tasks leave and are replaced at once (no restart delay).
final class ConstraintEnforcerTests: XCTestCase {
    func testNodeDownReplacesItsTasksAtOnce() throws {
        var harness = Harness()
        harness.createService(Harness.spec(replicas: 6, restart: RestartPolicy(condition: .any, delay: 60_000_000_000)))
        harness.converge()
        let lost = harness.running().filter { $0.nodeID == "n2" }
        XCTAssertEqual(lost.count, 2)

        harness.setNodeState("n2", .down)
        harness.reconcile()
        for task in lost { XCTAssertEqual(harness.state.tasks[task.id]?.desiredState, .shutdown) }
        let replacements = harness.live().filter { $0.status.state == .assigned }
        XCTAssertEqual(Set(replacements.compactMap(\.slot)), Set(lost.compactMap(\.slot)), "same slots, same round, no delay")
        XCTAssertTrue(replacements.allSatisfy { $0.nodeID != "n2" })
        harness.converge()
        XCTAssertEqual(harness.running().count, 6)

        // The node comes back: its stale tasks are shut down, no slot runs twice.
        harness.setNodeState("n2", .ready)
        harness.converge()
        for task in lost { XCTAssertEqual(harness.state.tasks[task.id]?.status.state, .shutdown) }
        XCTAssertEqual(harness.running().count, 6)
        XCTAssertEqual(Set(harness.running().compactMap(\.slot)).count, 6)
    }

    func testDrainMovesTasksAndPauseKeepsThem() {
        var harness = Harness()
        harness.createService(Harness.spec(replicas: 6))
        harness.converge()
        harness.updateNode("n1") { $0.availability = .pause }
        harness.converge()
        XCTAssertEqual(harness.runningPerNode()["n1"], 2, "pause keeps running tasks")

        harness.updateNode("n3") { $0.availability = .drain }
        harness.converge()
        XCTAssertEqual(harness.running().count, 6)
        XCTAssertNil(harness.runningPerNode()["n3"])
        XCTAssertEqual(harness.runningPerNode()["n2"], 4, "paused n1 takes no new tasks")
    }

    func testLabelChangeMovesTasksThatNoLongerMatch() {
        var harness = Harness()
        harness.updateNode("n1") { $0.labels = ["zone": "a"] }
        harness.updateNode("n2") { $0.labels = ["zone": "a"] }
        harness.updateNode("n3") { $0.labels = ["zone": "b"] }
        var spec = Harness.spec(replicas: 4)
        spec.taskTemplate.placement = Placement(constraints: ["node.labels.zone==a"])
        harness.createService(spec)
        harness.converge()
        XCTAssertEqual(harness.runningPerNode(), ["n1": 2, "n2": 2])

        harness.updateNode("n2") { $0.labels = ["zone": "b"] }
        harness.converge()
        XCTAssertEqual(harness.runningPerNode(), ["n1": 4])
    }

    func testTasksOfARemovedNodeAreReplaced() {
        var harness = Harness()
        harness.createService(Harness.spec(replicas: 3))
        harness.converge()
        harness.setNodeState("n3", .down)
        harness.mustApply(.removeNode(id: "n3", force: false, at: harness.now))
        harness.converge()
        XCTAssertEqual(harness.running().count, 3)
        XCTAssertTrue(harness.tasks().allSatisfy { $0.nodeID != "n3" }, "tasks of a removed node are deleted")
    }
}
