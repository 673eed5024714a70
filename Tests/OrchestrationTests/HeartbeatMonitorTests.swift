import XCTest
import ClusterState
@testable import Orchestration

final class HeartbeatMonitorTests: XCTestCase {
    private func at(_ millis: UInt64) -> Timestamp { Timestamp(millisecondsSinceEpoch: t0.millisecondsSinceEpoch + millis) }

    private func apply(_ commands: [ClusterCommand], to harness: inout Harness) {
        for command in commands { harness.mustApply(command) }
    }

    func testDownAfterFiveMissedPeriodsAndReadyAgainOnHeartbeat() {
        var harness = Harness(nodes: ["n1", "n2"])
        var monitor = HeartbeatMonitor()
        monitor.leadershipStarted(at: at(0))
        for second: UInt64 in 0...3 {
            monitor.recordHeartbeat(nodeID: "n1", at: at(second * 1000))
            monitor.recordHeartbeat(nodeID: "n2", at: at(second * 1000))
        }
        // n2 goes silent after 3 s: down once 5 periods (5 s) have passed.
        for millis: UInt64 in stride(from: 4000, through: 8000, by: 1000) { monitor.recordHeartbeat(nodeID: "n1", at: at(millis)) }
        XCTAssertTrue(monitor.evaluate(harness.state, now: at(8000)).isEmpty)
        let down = monitor.evaluate(harness.state, now: at(8001))
        XCTAssertEqual(down, [.setNodeStatus(id: "n2", state: .down, message: "heartbeat failure", at: at(8001))])
        XCTAssertTrue(monitor.evaluate(harness.state, now: at(8100)).isEmpty, "not proposed twice while in flight")
        apply(down, to: &harness)
        XCTAssertTrue(monitor.evaluate(harness.state, now: at(8200)).isEmpty)

        monitor.recordHeartbeat(nodeID: "n2", at: at(9000))
        let ready = monitor.evaluate(harness.state, now: at(9000))
        XCTAssertEqual(ready, [.setNodeStatus(id: "n2", state: .ready, message: nil, at: at(9000))])
    }

    func testProposalIsRepeatedIfItNeverLands() {
        let harness = Harness(nodes: ["n1"])
        var monitor = HeartbeatMonitor()
        monitor.leadershipStarted(at: at(0))
        monitor.recordHeartbeat(nodeID: "n1", at: at(0))
        XCTAssertEqual(monitor.evaluate(harness.state, now: at(5001)).count, 1)
        XCTAssertEqual(monitor.evaluate(harness.state, now: at(5500)).count, 0)
        XCTAssertEqual(monitor.evaluate(harness.state, now: at(6001)).count, 1, "lost proposal retried after a period")
    }

    func testNewLeaderGrantsDoubleGrace() {
        let harness = Harness(nodes: ["n1", "n2"])
        var monitor = HeartbeatMonitor()
        monitor.leadershipStarted(at: at(0))
        monitor.recordHeartbeat(nodeID: "n1", at: at(9000))
        XCTAssertTrue(monitor.evaluate(harness.state, now: at(10_000)).isEmpty, "n2 has 10 s to find the new leader")
        XCTAssertEqual(monitor.evaluate(harness.state, now: at(10_001)),
                       [.setNodeStatus(id: "n2", state: .down, message: "heartbeat failure", at: at(10_001))])
    }

    func testPeriodComesFromTheClusterSpec() {
        var harness = Harness(nodes: ["n1"])
        var spec = harness.state.cluster!.spec
        spec.dispatcher.heartbeatPeriod = 200_000_000
        harness.mustApply(.updateClusterSpec(version: harness.state.cluster!.version, spec: spec, at: t0))
        var monitor = HeartbeatMonitor()
        monitor.leadershipStarted(at: at(0))
        monitor.recordHeartbeat(nodeID: "n1", at: at(0))
        XCTAssertTrue(monitor.evaluate(harness.state, now: at(1000)).isEmpty)
        XCTAssertEqual(monitor.evaluate(harness.state, now: at(1001)).count, 1)
    }

    func testDownNodeTasksAreReplacedWithinGracePlusTwoSeconds() {
        var harness = Harness()
        harness.createService(Harness.spec(replicas: 3))
        harness.converge()
        var monitor = HeartbeatMonitor()
        monitor.leadershipStarted(at: harness.now)
        let lastBeat = harness.now
        for node in ["n1", "n2", "n3"] { monitor.recordHeartbeat(nodeID: node, at: lastBeat) }
        // n3 dies; the others keep beating. Shell loop: every 100 ms evaluate, propose, reconcile.
        var recoveredAt: Timestamp?
        for _ in 0..<100 {
            harness.advance(millis: 100)
            monitor.recordHeartbeat(nodeID: "n1", at: harness.now)
            monitor.recordHeartbeat(nodeID: "n2", at: harness.now)
            apply(monitor.evaluate(harness.state, now: harness.now), to: &harness)
            harness.reconcile()
            harness.agents()
            if harness.running().count == 3 && harness.running().allSatisfy({ $0.nodeID != "n3" }) {
                recoveredAt = harness.now
                break
            }
        }
        let elapsed = (recoveredAt?.millisecondsSinceEpoch ?? .max) - lastBeat.millisecondsSinceEpoch
        XCTAssertLessThanOrEqual(elapsed, 5000 + 2000)
    }
}
