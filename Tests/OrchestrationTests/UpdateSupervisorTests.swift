import XCTest
import ClusterState
@testable import Orchestration

final class UpdateSupervisorTests: XCTestCase {
    private func deployed(replicas: UInt64 = 4, update: UpdateConfig, nodes: [String] = ["n1", "n2", "n3"]) -> Harness {
        var harness = Harness(nodes: nodes)
        var spec = Harness.spec(replicas: replicas, restart: RestartPolicy(condition: .any, delay: 0))
        spec.updateConfig = update
        spec.rollbackConfig = UpdateConfig(parallelism: 0, monitor: 0)
        harness.createService(spec)
        harness.converge()
        XCTAssertEqual(harness.running().count, Int(replicas))
        return harness
    }

    private func statusRunning(_ harness: Harness) -> Int {
        harness.tasks().filter { $0.status.state == .running }.count
    }

    private func image(_ harness: Harness) -> [String: Int] {
        var images: [String: Int] = [:]
        for task in harness.running() { images[task.spec.containerSpec.image, default: 0] += 1 }
        return images
    }

    func testStopFirstNeverBelowNMinusParallelismNorAboveN() {
        for parallelism: UInt64 in [1, 2] {
            var harness = deployed(update: UpdateConfig(parallelism: parallelism, monitor: 0, order: .stopFirst))
            harness.updateService { $0.taskTemplate.containerSpec.image = "busybox:2" }
            var low = Int.max, high = 0
            harness.converge(rounds: 100) { step in
                low = min(low, self.statusRunning(step))
                high = max(high, self.statusRunning(step))
            }
            XCTAssertEqual(image(harness), ["busybox:2": 4])
            XCTAssertEqual(low, 4 - Int(parallelism), "parallelism \(parallelism)")
            XCTAssertEqual(high, 4, "stop-first never runs old and new of one slot together")
            XCTAssertEqual(harness.state.services["s1"]?.updateStatus?.state, .completed)
            XCTAssertEqual(harness.state.services["s1"]?.updateStatus?.message, "update completed")
            XCTAssertNotNil(harness.state.services["s1"]?.updateStatus?.completedAt)
            XCTAssertTrue(harness.refused.isEmpty, "\(harness.refused)")
        }
    }

    func testStartFirstNeverBelowN() {
        var harness = deployed(update: UpdateConfig(parallelism: 2, monitor: 0, order: .startFirst))
        harness.updateService { $0.taskTemplate.containerSpec.image = "busybox:2" }
        var low = Int.max, high = 0
        harness.converge(rounds: 100) { step in
            low = min(low, self.statusRunning(step))
            high = max(high, self.statusRunning(step))
        }
        XCTAssertEqual(image(harness), ["busybox:2": 4])
        XCTAssertEqual(harness.live().count, 4)
        XCTAssertEqual(low, 4)
        XCTAssertEqual(high, 6, "at most parallelism extra tasks")
        XCTAssertEqual(harness.state.services["s1"]?.updateStatus?.state, .completed)
    }

    func testParallelismZeroUpdatesAllAtOnce() {
        var harness = deployed(update: UpdateConfig(parallelism: 0, monitor: 0))
        harness.updateService { $0.taskTemplate.containerSpec.image = "busybox:2" }
        harness.reconcile()
        XCTAssertEqual(harness.tasks().filter { $0.desiredState == .shutdown }.count, 4)
        harness.converge()
        XCTAssertEqual(image(harness), ["busybox:2": 4])
    }

    func testDelayBetweenSlotsAndMonitorBeforeCompletion() {
        var harness = deployed(replicas: 2, update: UpdateConfig(parallelism: 1, delay: 10_000_000_000, monitor: 30_000_000_000))
        harness.updateService { $0.taskTemplate.containerSpec.image = "busybox:2" }
        harness.converge(rounds: 20)
        XCTAssertEqual(image(harness), ["busybox:1": 1, "busybox:2": 1], "the second slot waits out the delay")
        harness.advance(seconds: 10)
        harness.converge(rounds: 20)
        XCTAssertEqual(image(harness), ["busybox:2": 2])
        XCTAssertEqual(harness.state.services["s1"]?.updateStatus?.state, .updating, "still monitoring")
        harness.advance(seconds: 30)
        harness.reconcile()
        XCTAssertEqual(harness.state.services["s1"]?.updateStatus?.state, .completed)
    }

    func testFailureActionPause() throws {
        var harness = deployed(update: UpdateConfig(parallelism: 1, failureAction: .pause, monitor: 0))
        harness.updateService { $0.taskTemplate.containerSpec.image = "bad:2" }
        for _ in 0..<10 where harness.state.services["s1"]?.updateStatus?.state != .paused {
            harness.reconcile()
            harness.agents(failing: "bad:2")
            harness.advance(millis: 100)
        }
        let status = try XCTUnwrap(harness.state.services["s1"]?.updateStatus)
        XCTAssertEqual(status.state, .paused)
        let failed = try XCTUnwrap(harness.tasks().filter { $0.status.state == .failed }.min { $0.createdAt < $1.createdAt })
        XCTAssertEqual(status.message, "update paused due to failure or early termination of task \(failed.id)")
        XCTAssertEqual(image(harness), ["busybox:1": 3], "no further slot is touched once paused")
    }

    func testFailureActionRollback() throws {
        var harness = deployed(update: UpdateConfig(parallelism: 1, failureAction: .rollback, monitor: 0))
        harness.updateService { $0.taskTemplate.containerSpec.image = "bad:2" }
        var sawRollback = false
        harness.converge(rounds: 60, failing: "bad:2") { step in
            if step.state.services["s1"]?.updateStatus?.state == .rollbackStarted { sawRollback = true }
        }
        XCTAssertTrue(sawRollback)
        let service = try XCTUnwrap(harness.state.services["s1"])
        XCTAssertEqual(service.spec.taskTemplate.containerSpec.image, "busybox:1")
        XCTAssertEqual(service.updateStatus?.state, .rollbackCompleted)
        XCTAssertEqual(service.updateStatus?.message, "rollback completed")
        XCTAssertEqual(image(harness), ["busybox:1": 4])
        XCTAssertTrue(harness.refused.isEmpty, "\(harness.refused)")
    }

    /// As in Docker, a failed or rejected task that another task has replaced is wanted shut
    /// down: `service ps` shows the running task as current and the failed one as history.
    func testFailedTasksOfARolledBackUpdateAreWantedShutDown() throws {
        for order in [UpdateOrder.startFirst, .stopFirst] {
            var harness = deployed(update: UpdateConfig(parallelism: 1, failureAction: .rollback, monitor: 0, order: order))
            harness.updateService { $0.taskTemplate.containerSpec.image = "bad:2" }
            harness.converge(rounds: 60, failing: "bad:2")
            XCTAssertEqual(harness.state.services["s1"]?.updateStatus?.state, .rollbackCompleted, "\(order)")
            let failed = harness.tasks().filter { $0.spec.containerSpec.image == "bad:2" }
            XCTAssertFalse(failed.isEmpty, "\(order)")
            for task in failed {
                XCTAssertEqual(task.status.state, .failed)
                XCTAssertEqual(task.desiredState, .shutdown, "\(order): task \(task.id) still wanted \(task.desiredState)")
            }
            XCTAssertEqual(image(harness), ["busybox:1": 4])
        }
    }

    func testRollbackReasonReplacesTheGenericMessage() throws {
        var harness = deployed(update: UpdateConfig(parallelism: 1, failureAction: .rollback, monitor: 0))
        harness.updateService { $0.taskTemplate.containerSpec.image = "bad:2" }
        var message: String?
        harness.converge(rounds: 60, failing: "bad:2") { step in
            if let status = step.state.services["s1"]?.updateStatus, status.state == .rollbackStarted { message = status.message }
        }
        let text = try XCTUnwrap(message)
        XCTAssertTrue(text.hasPrefix("update rolled back due to failure or early termination of task "), text)
    }

    func testMaxFailureRatioToleratesSomeFailures() throws {
        func failuresWhenPaused(ratio: Double) -> (before: Int, at: Int) {
            var harness = deployed(update: UpdateConfig(parallelism: 1, failureAction: .pause, monitor: 0, maxFailureRatio: ratio))
            harness.updateService { $0.taskTemplate.containerSpec.image = "bad:2" }
            var failures = 0, before = 0
            for _ in 0..<40 where harness.state.services["s1"]?.updateStatus?.state != .paused {
                before = failures
                failures = harness.tasks().filter { $0.status.state == .failed }.count
                harness.reconcile()
                harness.agents(failing: "bad:2")
                harness.advance(millis: 100)
            }
            XCTAssertEqual(harness.state.services["s1"]?.updateStatus?.state, .paused)
            return (before, failures)
        }
        let strict = failuresWhenPaused(ratio: 0)
        XCTAssertEqual(strict.before, 0)
        XCTAssertEqual(strict.at, 1, "the first failure pauses")
        let tolerant = failuresWhenPaused(ratio: 0.5)
        XCTAssertLessThanOrEqual(tolerant.before, 2, "2 of 4 slots is not above 0.5")
        XCTAssertGreaterThanOrEqual(tolerant.at, 3)
    }

    func testFailureActionContinue() {
        var harness = deployed(update: UpdateConfig(parallelism: 1, failureAction: .continue, monitor: 0))
        harness.updateService { $0.taskTemplate.containerSpec.image = "bad:2" }
        harness.converge(rounds: 30, failing: "bad:2")
        XCTAssertNotEqual(harness.state.services["s1"]?.updateStatus?.state, .paused)
        XCTAssertEqual(harness.tasks().filter { $0.spec.containerSpec.image == "busybox:1" && $0.desiredState == .running }.count, 0,
                       "continue goes through every slot despite failures")
    }

    func testManualRollbackUsesRollbackConfig() {
        var harness = deployed(update: UpdateConfig(parallelism: 1, monitor: 0))
        harness.updateService { $0.taskTemplate.containerSpec.image = "busybox:2" }
        harness.converge(rounds: 100)
        XCTAssertEqual(image(harness), ["busybox:2": 4])
        harness.mustApply(.rollbackService(id: "s1", version: harness.state.services["s1"]!.version, at: harness.now))
        harness.reconcile()
        XCTAssertEqual(harness.tasks().filter { $0.desiredState == .shutdown && $0.status.state == .running }.count, 4,
                       "rollback config has parallelism 0")
        harness.converge()
        XCTAssertEqual(image(harness), ["busybox:1": 4])
        XCTAssertEqual(harness.state.services["s1"]?.updateStatus?.state, .rollbackCompleted)
    }

    func testGlobalServiceUpdatesNodeByNode() {
        var harness = Harness()
        var spec = Harness.spec(name: "agent")
        spec.mode = .global
        spec.updateConfig = UpdateConfig(parallelism: 1, monitor: 0, order: .startFirst)
        harness.createService(spec)
        harness.converge()
        harness.updateService { $0.taskTemplate.containerSpec.image = "busybox:2" }
        var low = Int.max
        harness.converge(rounds: 100) { low = min(low, self.statusRunning($0)) }
        XCTAssertEqual(low, 3)
        XCTAssertEqual(image(harness), ["busybox:2": 3])
        XCTAssertEqual(harness.runningPerNode(), ["n1": 1, "n2": 1, "n3": 1])
        XCTAssertEqual(harness.state.services["s1"]?.updateStatus?.state, .completed)
    }

    func testGlobalUpdateCompletesDespiteADrainedNode() {
        var harness = Harness()
        var spec = Harness.spec(name: "agent")
        spec.mode = .global
        spec.updateConfig = UpdateConfig(parallelism: 1, monitor: 0)
        harness.createService(spec)
        harness.converge()
        harness.updateNode("n3") { $0.availability = .drain }
        harness.converge()
        harness.updateService { $0.taskTemplate.containerSpec.image = "busybox:2" }
        harness.converge(rounds: 100)
        XCTAssertEqual(image(harness), ["busybox:2": 2])
        XCTAssertEqual(harness.state.services["s1"]?.updateStatus?.state, .completed)
    }
}
