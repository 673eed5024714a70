import XCTest
import ClusterState
@testable import Orchestration

final class ReplicatedOrchestratorTests: XCTestCase {
    func testEmptyStateNeedsNoCommands() {
        var orchestrator = Orchestrator(seed: 1)
        XCTAssertTrue(orchestrator.reconcile(ClusterState(), now: t0).isEmpty)
        var harness = Harness()
        XCTAssertTrue(harness.reconcile().isEmpty, "no services, nothing to do")
    }

    func testNewTasksFollowTheSharedConvention() throws {
        var harness = Harness()
        harness.createService(Harness.spec(replicas: 3))
        let commands = harness.orchestrator.reconcile(harness.state, now: harness.now)
        guard case let .createTasks(created) = try XCTUnwrap(commands.first) else { return XCTFail("first command \(commands)") }
        XCTAssertEqual(created.map(\.slot), [1, 2, 3])
        for task in created {
            XCTAssertEqual(task.status.state, .pending)
            XCTAssertEqual(task.status.message, "pending task scheduling")
            XCTAssertEqual(task.desiredState, .running)
            XCTAssertEqual(task.spec, harness.state.services["s1"]!.spec.taskTemplate)
            XCTAssertNil(task.nodeID)
            XCTAssertEqual(task.id.count, 25)
            XCTAssertTrue(task.id.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) }, task.id)
        }
        XCTAssertEqual(Set(created.map(\.id)).count, 3)
        // The same round schedules them.
        XCTAssertEqual(commands.filter { if case .assignTask = $0 { true } else { false } }.count, 3)
    }

    func testConvergesToNRunning() {
        var harness = Harness()
        harness.createService(Harness.spec(replicas: 5))
        harness.converge()
        XCTAssertEqual(harness.running().count, 5)
        XCTAssertEqual(Set(harness.running().compactMap(\.slot)), [1, 2, 3, 4, 5])
        XCTAssertTrue(harness.refused.isEmpty, "\(harness.refused)")
        XCTAssertTrue(harness.reconcile().isEmpty, "a converged cluster needs nothing")
    }

    func testScaleUpAddsSlotsAndScaleDownRemovesHighestSlots() {
        var harness = Harness()
        harness.createService(Harness.spec(replicas: 2))
        harness.converge()
        harness.updateService { $0.mode = .replicated(replicas: 6) }
        harness.converge()
        XCTAssertEqual(Set(harness.running().compactMap(\.slot)), [1, 2, 3, 4, 5, 6])
        let firstTwo = Set(harness.running().filter { $0.slot! <= 2 }.map(\.id))

        harness.updateService { $0.mode = .replicated(replicas: 2) }
        harness.reconcile()
        XCTAssertEqual(Set(harness.tasks().filter { $0.desiredState == .remove }.compactMap(\.slot)), [3, 4, 5, 6])
        harness.converge()
        XCTAssertEqual(Set(harness.running().map(\.id)), firstTwo, "scale-down keeps the lowest slots' tasks")
        XCTAssertEqual(harness.tasks().count, 2, "removed tasks are deleted once shut down")
        XCTAssertTrue(harness.refused.isEmpty, "\(harness.refused)")
    }

    func testSameSeedSameCommands() {
        func run(seed: UInt64) -> [[ClusterCommand]] {
            var harness = Harness(seed: seed)
            harness.createService(Harness.spec(replicas: 7))
            var rounds: [[ClusterCommand]] = []
            for _ in 0..<6 {
                rounds.append(harness.reconcile())
                harness.agents()
                harness.advance(millis: 100)
            }
            harness.setNodeState("n2", .down)
            rounds.append(harness.reconcile())
            return rounds
        }
        XCTAssertEqual(run(seed: 42), run(seed: 42))
        XCTAssertNotEqual(run(seed: 42), run(seed: 43))
    }

    func testServiceRemovalStopsAndDeletesTasks() {
        var harness = Harness()
        harness.createService(Harness.spec(replicas: 3))
        harness.converge()
        harness.mustApply(.removeService(id: "s1", at: harness.now))
        XCTAssertEqual(harness.tasks().filter { $0.desiredState == .remove }.count, 3)
        harness.converge()
        XCTAssertTrue(harness.state.tasks.isEmpty, "tasks of a removed service are deleted once stopped")
    }

    func testPendingTasksOfARemovedServiceAreDeleted() {
        var harness = Harness()
        harness.updateNode("n1") { $0.availability = .drain }
        harness.updateNode("n2") { $0.availability = .drain }
        harness.updateNode("n3") { $0.availability = .drain }
        harness.createService(Harness.spec(replicas: 2))
        harness.reconcile()
        XCTAssertEqual(harness.tasks().filter { $0.status.state == .pending }.count, 2)
        harness.mustApply(.removeService(id: "s1", at: harness.now))
        harness.reconcile()
        XCTAssertTrue(harness.state.tasks.isEmpty, "never-assigned tasks of a removed service go at once")
    }
}
