import XCTest
import ClusterState
@testable import Orchestration

final class RestartPolicyTests: XCTestCase {
    private func running(_ restart: RestartPolicy?, replicas: UInt64 = 1) -> Harness {
        var harness = Harness()
        harness.createService(Harness.spec(replicas: replicas, restart: restart))
        harness.converge()
        XCTAssertEqual(harness.running().count, Int(replicas))
        return harness
    }

    func testAnyRestartsAfterTheDefaultDelayEvenOnSuccess() throws {
        var harness = running(nil)
        let first = try XCTUnwrap(harness.running().first)
        harness.report(first.id, .complete, exitCode: 0)
        harness.advance(seconds: 4)
        harness.reconcile()
        XCTAssertTrue(harness.live().isEmpty, "default delay is 5 s")
        harness.advance(seconds: 1)
        harness.reconcile()
        XCTAssertEqual(harness.live().count, 1)
        XCTAssertEqual(harness.live().first?.slot, first.slot)
        XCTAssertEqual(harness.state.tasks[first.id]?.desiredState, .shutdown, "the old task becomes history")
    }

    func testDelayIsHonouredByNow() throws {
        var harness = running(RestartPolicy(condition: .any, delay: 2_000_000_000))
        let first = try XCTUnwrap(harness.running().first)
        harness.report(first.id, .failed, exitCode: 1)
        harness.advance(millis: 1999)
        XCTAssertTrue(harness.reconcile().isEmpty)
        harness.advance(millis: 1)
        XCTAssertFalse(harness.reconcile().isEmpty)
        XCTAssertEqual(harness.live().count, 1)
    }

    func testOnFailureRestartsFailuresOnly() throws {
        var harness = running(RestartPolicy(condition: .onFailure, delay: 0), replicas: 2)
        let tasks = harness.running()
        harness.report(tasks[0].id, .complete, exitCode: 0)
        harness.report(tasks[1].id, .failed, exitCode: 2)
        harness.converge()
        XCTAssertEqual(harness.running().count, 1)
        XCTAssertEqual(harness.running().first?.slot, tasks[1].slot, "the failed slot restarted, the completed one did not")
    }

    func testNoneNeverRestarts() throws {
        var harness = running(RestartPolicy(condition: RestartCondition.none, delay: 0))
        harness.report(harness.running()[0].id, .failed, exitCode: 1)
        harness.advance(seconds: 60)
        harness.converge()
        XCTAssertTrue(harness.live().isEmpty)
    }

    func testMaxAttempts() throws {
        var harness = running(RestartPolicy(condition: .any, delay: 0, maxAttempts: 2))
        for attempt in 1...3 {
            let task = try XCTUnwrap(harness.running().first, "attempt \(attempt)")
            harness.report(task.id, .failed, exitCode: 1)
            harness.converge()
        }
        XCTAssertTrue(harness.live().isEmpty, "two restarts, then it gives up")
        XCTAssertEqual(harness.tasks().count, 3)
    }

    func testMaxAttemptsCountsOnlyTheWindow() throws {
        var harness = running(RestartPolicy(condition: .any, delay: 0, maxAttempts: 1, window: 10_000_000_000))
        for _ in 1...3 {
            let task = try XCTUnwrap(harness.running().first)
            harness.report(task.id, .failed, exitCode: 1)
            harness.converge()
            harness.advance(seconds: 11)
        }
        XCTAssertEqual(harness.running().count, 1, "failures spread wider than the window keep restarting")
    }

    func testFailedStartsAreRestartedUntilTheyRun() {
        var harness = Harness()
        harness.createService(Harness.spec(image: "bad:1", replicas: 1, restart: RestartPolicy(condition: .any, delay: 1_000_000_000)))
        harness.converge(rounds: 5, failing: "bad:1")
        XCTAssertEqual(harness.tasks().filter { $0.status.state == .failed }.count, 1, "the delay holds the next attempt")
        harness.advance(seconds: 1)
        harness.converge(rounds: 3, failing: "bad:1")
        XCTAssertEqual(harness.tasks().filter { $0.status.state == .failed }.count, 2)
    }
}
