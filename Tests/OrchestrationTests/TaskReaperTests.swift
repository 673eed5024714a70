import XCTest
import ClusterState
@testable import Orchestration

final class TaskReaperTests: XCTestCase {
    func testKeepsFiveStoppedTasksPerSlot() {
        var harness = Harness()
        harness.createService(Harness.spec(replicas: 2, restart: RestartPolicy(condition: .any, delay: 0)))
        harness.converge()
        var failedInSlot1: [String] = []
        for _ in 0..<8 {
            let task = harness.running().first { $0.slot == 1 }!
            failedInSlot1.append(task.id)
            harness.report(task.id, .failed, exitCode: 1)
            harness.converge()
        }
        let slot1 = harness.tasks().filter { $0.slot == 1 }
        XCTAssertEqual(slot1.count, 6, "the running task and 5 stopped ones")
        XCTAssertEqual(Set(slot1.filter { $0.status.state == .failed }.map(\.id)), Set(failedInSlot1.suffix(5)), "the oldest go first")
        XCTAssertEqual(harness.tasks().filter { $0.slot == 2 }.count, 1)
    }

    func testHistoryLimitComesFromTheClusterSpec() {
        var harness = Harness(historyLimit: 1)
        harness.createService(Harness.spec(replicas: 1, restart: RestartPolicy(condition: .any, delay: 0)))
        harness.converge()
        for _ in 0..<3 {
            harness.report(harness.running()[0].id, .failed, exitCode: 1)
            harness.converge()
        }
        XCTAssertEqual(harness.tasks().count, 2)
    }

    func testAStoppedTaskWaitingForItsRestartIsKept() {
        var harness = Harness(historyLimit: 0)
        harness.createService(Harness.spec(replicas: 1, restart: RestartPolicy(condition: .any, delay: 10_000_000_000)))
        harness.converge()
        let task = harness.running()[0]
        harness.report(task.id, .failed, exitCode: 1)
        harness.reconcile()
        XCTAssertNotNil(harness.state.tasks[task.id], "its restart decision needs it")
        harness.advance(seconds: 10)
        harness.converge()
        XCTAssertNil(harness.state.tasks[task.id])
        XCTAssertEqual(harness.tasks().count, 1)
    }

    func testGlobalHistoryIsPerNode() {
        var harness = Harness(historyLimit: 2)
        var spec = Harness.spec(name: "agent", restart: RestartPolicy(condition: .any, delay: 0))
        spec.mode = .global
        harness.createService(spec)
        harness.converge()
        for _ in 0..<4 {
            harness.report(harness.running().first { $0.nodeID == "n1" }!.id, .failed, exitCode: 1)
            harness.converge()
        }
        XCTAssertEqual(harness.tasks().filter { $0.nodeID == "n1" }.count, 3)
        XCTAssertEqual(harness.tasks().filter { $0.nodeID == "n2" }.count, 1)
    }

    func testNeverAssignedStoppedTasksAreMarkedShutdown() throws {
        var harness = Harness(nodes: ["n1"], memory: gigabyte)
        var spec = Harness.spec(replicas: 2)
        spec.taskTemplate.resources = ResourceRequirements(reservations: ResourceAmounts(memoryBytes: gigabyte))
        spec.updateConfig = UpdateConfig(parallelism: 0, monitor: 0)
        harness.createService(spec)
        harness.converge()
        let pending = try XCTUnwrap(harness.tasks().first { $0.status.state == .pending })
        harness.updateService { $0.taskTemplate.containerSpec.image = "busybox:2" }
        harness.converge()
        XCTAssertEqual(harness.state.tasks[pending.id]?.status.state, .shutdown)
        XCTAssertEqual(harness.state.tasks[pending.id]?.status.message, TaskReaper.neverAssignedMessage)
    }
}
