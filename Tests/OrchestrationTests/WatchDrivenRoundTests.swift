import XCTest
import ClusterState
@testable import Orchestration

/// The orchestrator reconciles only what changed (plus timers), and never misses work a full
/// pass would do.
final class WatchDrivenRoundTests: XCTestCase {
    func testARoundAfterOneWriteLooksOnlyAtTheChangedService() {
        var harness = Harness()
        for number in 0..<500 {
            harness.createService(Harness.spec(name: "svc\(number)", replicas: 0), id: String(format: "s%04d", number))
        }
        harness.reconcile()
        XCTAssertNil(harness.orchestrator.lastRoundScope, "the first round looks at every service")
        harness.reconcile()
        XCTAssertEqual(harness.orchestrator.lastRoundScope, 0, "nothing changed: nothing to look at")
        harness.createService(Harness.spec(name: "new", replicas: 2), id: "s9999")
        harness.reconcile()
        XCTAssertEqual(harness.orchestrator.lastRoundScope, 1)
        XCTAssertEqual(harness.tasks("s9999").count, 2, "the new service got its tasks")
    }

    /// The safety net is a rolling sweep, not a periodic full pass: with no change at all, each
    /// round looks at the services the elapsed time calls for, and a minute covers them all.
    func testTheSweepSpreadsOverAMinuteInsteadOfOneFullPass() {
        var harness = Harness()
        for number in 0..<600 {
            harness.createService(Harness.spec(name: "svc\(number)", replicas: 0), id: String(format: "s%04d", number))
        }
        harness.reconcile()
        XCTAssertNil(harness.orchestrator.lastRoundScope, "the first round looks at every service")
        var swept = 0
        for _ in 0..<60 {
            harness.advance(seconds: 1)
            harness.reconcile()
            XCTAssertEqual(harness.orchestrator.lastRoundScope, 10, "600 services over 60 s: 10 per second")
            swept += harness.orchestrator.lastRoundScope ?? 0
        }
        XCTAssertEqual(swept, 600)
        harness.advance(seconds: 600)
        harness.reconcile()
        XCTAssertEqual(harness.orchestrator.lastRoundScope, 600, "after a long pause at most every service once")
    }

    func testARestartDelayWakesTheServiceWithoutAnyWrite() {
        var harness = Harness()
        harness.createService(Harness.spec(replicas: 1, restart: RestartPolicy(condition: .any, delay: 2_000_000_000)))
        harness.converge()
        let first = harness.running()[0]
        harness.report(first.id, .failed, exitCode: 1)
        harness.reconcile()
        XCTAssertEqual(harness.live().count, 0, "the restart waits out its delay")
        harness.advance(seconds: 1)
        harness.reconcile()
        XCTAssertEqual(harness.orchestrator.lastRoundScope, 0, "not due yet, and nothing changed")
        XCTAssertEqual(harness.live().count, 0)
        harness.advance(seconds: 1)
        harness.reconcile()
        XCTAssertEqual(harness.live().count, 1, "the delay passed: the slot is refilled with no write to trigger it")
    }

    func testANodeGoingDownReachesTheServicesWithTasksThere() {
        var harness = Harness()
        for number in 0..<20 {
            harness.createService(Harness.spec(name: "svc\(number)", replicas: 1), id: String(format: "s%02d", number))
        }
        harness.converge()
        let onN2 = Set(harness.state.tasks(onNode: "n2").map(\.serviceID))
        XCTAssertFalse(onN2.isEmpty)
        harness.setNodeState("n2", .down)
        harness.converge()
        for number in 0..<20 {
            let id = String(format: "s%02d", number)
            XCTAssertEqual(harness.running(id).count, 1, "service \(id) runs again")
            XCTAssertFalse(harness.running(id).contains { $0.nodeID == "n2" })
        }
    }

    func testTasksWaitingForANodeArePlacedWhenOneJoins() {
        var harness = Harness(nodes: ["n1"])
        var spec = Harness.spec(replicas: 2)
        spec.taskTemplate.placement = Placement(constraints: ["node.labels.zone==b"])
        harness.createService(spec)
        for number in 0..<50 { harness.createService(Harness.spec(name: "other\(number)", replicas: 0), id: "o\(number)") }
        harness.converge()
        XCTAssertEqual(harness.running().count, 0)
        harness.addNode("n9", labels: ["zone": "b"])
        harness.converge()
        XCTAssertEqual(harness.running().count, 2)
        XCTAssertEqual(Set(harness.running().map(\.nodeID)), ["n9"])
    }

    /// Random scale, update, failure and node changes driven by the watch-driven orchestrator;
    /// after each burst a fresh orchestrator (whose first round is a full pass) must find
    /// nothing left to do that the incremental rounds missed.
    func testIncrementalRoundsLeaveNothingForAFullPass() {
        for seed in 1...12 as ClosedRange<UInt64> {
            var harness = Harness(nodes: ["n1", "n2", "n3", "n4"], seed: seed)
            for number in 0..<6 {
                harness.createService(Harness.spec(name: "svc\(number)", replicas: UInt64(number % 3 + 1),
                                                   restart: RestartPolicy(condition: .any, delay: 0)), id: "s\(number)")
            }
            harness.converge()
            for step in 0..<15 {
                let service = "s\(pick(seed, step, 1) % 6)"
                switch pick(seed, step, 2) % 5 {
                case 0: harness.updateService(service) { $0.mode = .replicated(replicas: pick(seed, step, 3) % 5) }
                case 1: harness.updateService(service) { $0.taskTemplate.containerSpec.image = "busybox:\(step)" }
                case 2:
                    if let task = harness.running(service).first { harness.report(task.id, .failed, exitCode: 1) }
                case 3: harness.setNodeState("n\(pick(seed, step, 4) % 4 + 1)", .down)
                default: harness.setNodeState("n\(pick(seed, step, 4) % 4 + 1)", .ready)
                }
                harness.converge(rounds: 200)
                var full = Orchestrator(seed: seed &+ 1000)
                let missed = full.reconcile(harness.state, now: harness.now)
                XCTAssertEqual(missed.count, 0, "seed \(seed) step \(step): a full pass still had work: \(missed.prefix(3))")
            }
        }
    }
}

/// A deterministic pseudo-random choice from (seed, step, salt), so every run is reproducible.
private func pick(_ seed: UInt64, _ step: Int, _ salt: UInt64) -> UInt64 {
    var z = seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(step) &* 0xBF58_476D_1CE4_E5B9 &+ salt &* 0x94D0_49BB_1331_11EB
    z = (z ^ (z >> 31)) &* 0xD6E8_FEB8_6659_FD93
    return z ^ (z >> 32)
}
