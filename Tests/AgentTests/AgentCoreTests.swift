import ClusterState
import XCTest
@testable import Agent

/// The agent core's decisions, input by input: what it starts, stops, removes, re-adopts and
/// reports. No executor, no clock: the tests play the runner.
final class AgentCoreTests: XCTestCase {
    private func at(_ millis: UInt64) -> Timestamp { Timestamp(millisecondsSinceEpoch: millis) }

    private func task(_ id: String, desired: TaskState = .running, state: TaskState = .assigned,
                      health: HealthConfig? = nil) -> SwarmTask {
        var container = ContainerSpec(image: "busybox", args: ["sleep", "30"])
        container.healthcheck = health
        return SwarmTask(id: id, createdAt: at(1), serviceID: "s1", slot: 1, nodeID: "n1", spec: TaskTemplate(containerSpec: container),
                         desiredState: desired, status: TaskStatus(timestamp: at(1), state: state, message: ""))
    }

    private func reported(_ core: AgentCore, _ id: String) -> TaskStatus? {
        core.pendingReports().first { $0.taskID == id }?.status
    }

    /// Runs t1 up to running: prepare, prepared, start, started.
    private func runningCore(health: HealthConfig? = nil) -> AgentCore {
        var core = AgentCore()
        XCTAssertEqual(core.setAssignments([task("t1", health: health)], now: at(10)), [.prepare(task("t1", health: health)), .persist, .report])
        XCTAssertEqual(core.handle(.prepared(taskID: "t1", container: "c1"), now: at(20)), [.start(taskID: "t1", container: "c1"), .persist, .report])
        _ = core.handle(.started(taskID: "t1", pid: 42), now: at(30))
        return core
    }

    func testAnAssignedTaskIsPreparedStartedAndReportedRunning() {
        let core = runningCore()
        let status = reported(core, "t1")
        XCTAssertEqual(status?.state, .running)
        XCTAssertEqual(status?.containerStatus, ContainerStatus(containerID: "c1", pid: 42))
        XCTAssertEqual(status?.timestamp, at(30), "the time is the input's, not a clock's")
        XCTAssertEqual(core.records["t1"]?.container, "c1")
        XCTAssertEqual(core.records["t1"]?.pid, 42)
    }

    func testExitCodesBecomeDockersStatuses() {
        var failed = runningCore()
        _ = failed.handle(.exited(taskID: "t1", TaskExit(code: 3)), now: at(40))
        XCTAssertEqual(reported(failed, "t1")?.state, .failed)
        XCTAssertEqual(reported(failed, "t1")?.err, "task: non-zero exit (3)")
        var complete = runningCore()
        _ = complete.handle(.exited(taskID: "t1", TaskExit(code: 0)), now: at(40))
        XCTAssertEqual(reported(complete, "t1")?.state, .complete)
        var oom = runningCore()
        _ = oom.handle(.exited(taskID: "t1", TaskExit(code: 137, oomKilled: true)), now: at(40))
        XCTAssertEqual(reported(oom, "t1")?.err, "task: killed by the kernel at its memory limit (OOM), exit code 137")
    }

    func testDesiredShutdownStopsOnceAndReportsShutdownWithTheExitCode() {
        var core = runningCore()
        let actions = core.setAssignments([task("t1", desired: .shutdown, state: .running)], now: at(40))
        XCTAssertEqual(actions, [.stop(taskID: "t1", container: "c1")])
        XCTAssertEqual(core.setAssignments([task("t1", desired: .shutdown, state: .running)], now: at(41)), [], "one stop only")
        // The exit the stop causes is the stop's, not a failure.
        XCTAssertEqual(core.handle(.exited(taskID: "t1", TaskExit(code: 143)), now: at(50)), [])
        _ = core.handle(.stopped(taskID: "t1", exitCode: 143), now: at(60))
        XCTAssertEqual(reported(core, "t1")?.state, .shutdown)
        XCTAssertEqual(reported(core, "t1")?.containerStatus?.exitCode, 143)
    }

    func testShutdownWhilePreparingRemovesThePreparedContainerWithoutStartingIt() {
        var core = AgentCore()
        _ = core.setAssignments([task("t1")], now: at(10))
        XCTAssertEqual(core.setAssignments([task("t1", desired: .shutdown)], now: at(11)), [])
        let actions = core.handle(.prepared(taskID: "t1", container: "c1"), now: at(20))
        XCTAssertEqual(actions, [.remove(taskID: "t1", container: "c1", stopFirst: false), .persist, .report])
        XCTAssertEqual(reported(core, "t1")?.message, "shutdown before start")
    }

    func testATaskNoLongerAssignedIsStoppedRemovedAndForgotten() {
        var core = runningCore()
        XCTAssertEqual(core.setAssignments([], now: at(40)), [.remove(taskID: "t1", container: "c1", stopFirst: true), .persist])
        XCTAssertTrue(core.records.isEmpty)
        XCTAssertEqual(core.handle(.exited(taskID: "t1", TaskExit(code: 0)), now: at(50)), [], "events of a forgotten task change nothing")
    }

    func testAContainerPreparedForAForgottenTaskIsRemoved() {
        var core = AgentCore()
        _ = core.setAssignments([task("t1")], now: at(10))
        _ = core.setAssignments([], now: at(11))
        XCTAssertEqual(core.handle(.prepared(taskID: "t1", container: "c1"), now: at(20)),
                       [.remove(taskID: "t1", container: "c1", stopFirst: false)])
    }

    func testReportsStopOnceTheManagersRecordedThem() {
        var core = runningCore()
        var recorded = task("t1")
        recorded.status = reported(core, "t1")!
        _ = core.setAssignments([recorded], now: at(40))
        XCTAssertEqual(core.pendingReports(), [])
    }

    func testATaskTheManagersThinkRunsButTheAgentNeverHadIsReportedLost() {
        var core = AgentCore()
        _ = core.setAssignments([task("t1", state: .running)], now: at(10))
        XCTAssertEqual(reported(core, "t1")?.state, .failed)
    }

    func testAHealthCheckedTaskRunsOnlyOnceHealthyAndAnUnhealthyOneIsStoppedAndFailed() {
        let check = HealthConfig(test: ["CMD-SHELL", "true"], interval: 100_000_000)
        var core = runningCore(health: check)
        XCTAssertEqual(reported(core, "t1")?.state, .starting)
        XCTAssertEqual(reported(core, "t1")?.message, "waiting for the health check")
        _ = core.handle(.health(taskID: "t1", healthy: true), now: at(40))
        XCTAssertEqual(reported(core, "t1")?.state, .running)
        XCTAssertEqual(core.handle(.health(taskID: "t1", healthy: false), now: at(50)), [.stop(taskID: "t1", container: "c1")])
        _ = core.handle(.stopped(taskID: "t1", exitCode: 137), now: at(60))
        XCTAssertEqual(reported(core, "t1")?.state, .failed)
        XCTAssertEqual(reported(core, "t1")?.err, "task: unhealthy container")
    }

    func testARestartedAgentReadoptsItsRunningContainersWithoutNewReports() {
        var first = runningCore()
        var recorded = task("t1")
        recorded.status = reported(first, "t1")!
        _ = first.setAssignments([recorded], now: at(40))
        var second = AgentCore(restoring: first.records)
        XCTAssertEqual(second.resume(now: at(100)), [.adopt(recorded, container: "c1")])
        XCTAssertEqual(second.handle(.adopted(taskID: "t1", pid: 42), now: at(110)), [.persist])
        XCTAssertEqual(second.pendingReports(), [], "a re-adopted task is not reported again")
        XCTAssertEqual(second.setAssignments([recorded], now: at(120)), [], "nothing is started again")
        XCTAssertEqual(second.adoptedCount, 1)
        // Its exit is followed as before the restart.
        _ = second.handle(.exited(taskID: "t1", TaskExit(code: 2)), now: at(130))
        XCTAssertEqual(reported(second, "t1")?.err, "task: non-zero exit (2)")
    }

    func testAContainerThatEndedWhileTheNodeWasDownIsReportedWithItsExitCode() {
        var second = AgentCore(restoring: runningCore().records)
        _ = second.resume(now: at(100))
        _ = second.handle(.adoptionFailed(taskID: "t1", exit: TaskExit(code: 0)), now: at(110))
        XCTAssertEqual(reported(second, "t1")?.state, .complete)
        var gone = AgentCore(restoring: runningCore().records)
        _ = gone.resume(now: at(100))
        _ = gone.handle(.adoptionFailed(taskID: "t1", exit: nil), now: at(110))
        XCTAssertEqual(reported(gone, "t1")?.state, .failed)
        XCTAssertEqual(reported(gone, "t1")?.err, "task lost: its container was gone after the node restarted")
    }

    func testAReadoptedTaskThatShouldStopIsStopped() {
        var restored = AgentCore(restoring: runningCore().records)
        _ = restored.resume(now: at(100))
        // The stop is queued behind the adoption (the same task's actions run in order).
        XCTAssertEqual(restored.setAssignments([task("t1", desired: .shutdown, state: .running)], now: at(105)),
                       [.stop(taskID: "t1", container: "c1")])
        XCTAssertEqual(restored.handle(.adopted(taskID: "t1", pid: 42), now: at(110)), [])
        _ = restored.handle(.stopped(taskID: "t1", exitCode: 143), now: at(120))
        XCTAssertEqual(reported(restored, "t1")?.state, .shutdown)
    }

    func testATaskRestoredBeforeItHadAContainerIsReportedLost() {
        var first = AgentCore()
        _ = first.setAssignments([task("t1")], now: at(10))
        var second = AgentCore(restoring: first.records)
        XCTAssertEqual(second.resume(now: at(100)), [.persist, .report])
        XCTAssertEqual(reported(second, "t1")?.state, .failed)
    }

    func testRecordsWithoutATaskFromBeforeReadoptionAreDropped() {
        var core = AgentCore(restoring: ["t1": AgentRecord(task: nil, container: "c1", status: nil, pid: 5)])
        XCTAssertEqual(core.resume(now: at(1)), [])
        XCTAssertTrue(core.records.isEmpty)
        XCTAssertTrue(core.containers.isEmpty, "its container is a leftover the runner removes")
    }

    func testActionsOfOneCallPersistAndReportOnceAtTheEnd() {
        var core = AgentCore()
        let actions = core.setAssignments([task("t1"), task("t2"), task("t3", desired: .shutdown)], now: at(10))
        XCTAssertEqual(actions.filter { $0 == .persist }.count, 1)
        XCTAssertEqual(actions.filter { $0 == .report }.count, 1)
        XCTAssertEqual(actions.suffix(2), [.persist, .report])
    }
}
