import ClusterState
import XCTest
@testable import Agent

/// The drain delay (issue 16): a running task with network attachments that the managers ask to
/// stop keeps running for `drainMillis` (they already removed it from every node's load
/// balancing and DNS), and only then is stopped. Time is the input's.
final class AgentCoreDrainTests: XCTestCase {
    private func at(_ millis: UInt64) -> Timestamp { Timestamp(millisecondsSinceEpoch: millis) }

    private func task(_ id: String, desired: TaskState = .running, state: TaskState = .assigned, attached: Bool = true) -> SwarmTask {
        var task = SwarmTask(id: id, createdAt: at(1), serviceID: "s1", slot: 1, nodeID: "n1",
                             spec: TaskTemplate(containerSpec: ContainerSpec(image: "busybox", args: ["httpd", "-f"])),
                             desiredState: desired, status: TaskStatus(timestamp: at(1), state: state, message: ""))
        if attached { task.networksAttachments = [NetworkAttachment(networkID: "net1", addresses: ["198.51.100.5/24"])] }
        return task
    }

    /// t1 prepared, started and running, with a drain delay of 2 s.
    private func runningCore(attached: Bool = true) -> AgentCore {
        var core = AgentCore(drainMillis: 2_000)
        _ = core.setAssignments([task("t1", attached: attached)], now: at(10))
        _ = core.handle(.prepared(taskID: "t1", container: "c1"), now: at(20))
        _ = core.handle(.started(taskID: "t1", pid: 42), now: at(30))
        return core
    }

    func testAnAttachedRunningTaskIsStoppedOnlyAfterTheDrainDelay() {
        var core = runningCore()
        let shutdown = task("t1", desired: .shutdown, state: .running)
        XCTAssertEqual(core.setAssignments([shutdown], now: at(1_000)), [.wake(at: at(3_000))], "no stop yet: a wake-up at the end of the drain")
        XCTAssertEqual(core.setAssignments([shutdown], now: at(1_500)), [], "asked again: still one drain")
        XCTAssertEqual(core.tick(now: at(2_999)), [.wake(at: at(3_000))], "not before the delay: a timer that fired early asks again")
        XCTAssertEqual(core.activeContainers.map(\.taskID), ["t1"], "a draining task still runs (a leaving node stops it)")
        XCTAssertEqual(core.tick(now: at(3_000)), [.stop(taskID: "t1", container: "c1")])
        XCTAssertEqual(core.tick(now: at(4_000)), [], "stopped once")
        _ = core.handle(.stopped(taskID: "t1", exitCode: 0), now: at(4_100))
        XCTAssertEqual(core.pendingReports().first?.status.state, .shutdown)
    }

    func testATaskWithoutAttachmentsOrWithoutADelayStopsAtOnce() {
        var unattached = runningCore(attached: false)
        XCTAssertEqual(unattached.setAssignments([task("t1", desired: .shutdown, state: .running, attached: false)], now: at(1_000)),
                       [.stop(taskID: "t1", container: "c1")])
        var noDelay = AgentCore()
        _ = noDelay.setAssignments([task("t1")], now: at(10))
        _ = noDelay.handle(.prepared(taskID: "t1", container: "c1"), now: at(20))
        _ = noDelay.handle(.started(taskID: "t1", pid: 42), now: at(30))
        XCTAssertEqual(noDelay.setAssignments([task("t1", desired: .shutdown, state: .running)], now: at(1_000)),
                       [.stop(taskID: "t1", container: "c1")])
    }

    func testATaskThatExitsWhileDrainingIsReportedAndNotStoppedAgain() {
        var core = runningCore()
        _ = core.setAssignments([task("t1", desired: .shutdown, state: .running)], now: at(1_000))
        _ = core.handle(.exited(taskID: "t1", TaskExit(code: 0)), now: at(1_200))
        XCTAssertEqual(core.pendingReports().first?.status.state, .complete)
        XCTAssertEqual(core.tick(now: at(5_000)), [])
    }

    func testATaskForgottenWhileDrainingIsStoppedAndRemoved() {
        var core = runningCore()
        _ = core.setAssignments([task("t1", desired: .shutdown, state: .running)], now: at(1_000))
        XCTAssertEqual(core.setAssignments([], now: at(1_100)), [.remove(taskID: "t1", container: "c1", stopFirst: true), .persist])
        XCTAssertEqual(core.tick(now: at(5_000)), [])
    }

    func testAStillStartingTaskIsNotInLoadBalancingAndStopsAtOnce() {
        var core = AgentCore(drainMillis: 2_000)
        _ = core.setAssignments([task("t1")], now: at(10))
        _ = core.handle(.prepared(taskID: "t1", container: "c1"), now: at(20))
        XCTAssertEqual(core.setAssignments([task("t1", desired: .shutdown, state: .starting)], now: at(25)),
                       [.stop(taskID: "t1", container: "c1")])
    }
}
