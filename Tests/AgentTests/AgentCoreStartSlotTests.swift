import ClusterState
import XCTest
@testable import Agent

/// The agent core's bound on concurrent starts (`maxConcurrentStarts`): prepared tasks wait for
/// a slot in the order they were prepared, a slot is freed by the start's answer (whatever
/// happened to the task meanwhile), and a task that waits can be stopped or forgotten without
/// ever being started.
final class AgentCoreStartSlotTests: XCTestCase {
    private func at(_ millis: UInt64) -> Timestamp { Timestamp(millisecondsSinceEpoch: millis) }

    private func task(_ id: String, desired: TaskState = .running) -> SwarmTask {
        SwarmTask(id: id, createdAt: at(1), serviceID: "s1", slot: 1, nodeID: "n1",
                  spec: TaskTemplate(containerSpec: ContainerSpec(image: "busybox", args: ["sleep", "30"])),
                  desiredState: desired, status: TaskStatus(timestamp: at(1), state: .assigned, message: ""))
    }

    private func starts(_ actions: [AgentAction]) -> [String] {
        actions.compactMap { if case let .start(id, _) = $0 { return id } else { return nil } }
    }

    /// Three tasks assigned and prepared (in the order t1, t2, t3) with two start slots.
    private func preparedCore() -> (AgentCore, [AgentAction]) {
        var core = AgentCore()
        core.maxConcurrentStarts = 2
        _ = core.setAssignments([task("t1"), task("t2"), task("t3")], now: at(10))
        var actions: [AgentAction] = []
        for id in ["t1", "t2", "t3"] { actions += core.handle(.prepared(taskID: id, container: "c-\(id)"), now: at(20)) }
        return (core, actions)
    }

    func testAtMostTheBoundStartsAtOnceAndAnAnswerStartsTheNextPrepared() {
        var (core, actions) = preparedCore()
        XCTAssertEqual(starts(actions), ["t1", "t2"], "the third waits for a slot")
        XCTAssertEqual(core.pendingReports().first { $0.taskID == "t3" }?.status.state, .starting,
                       "a waiting task reports starting, as before the bound")
        XCTAssertEqual(starts(core.handle(.started(taskID: "t2", pid: 7), now: at(30))), ["t3"])
        XCTAssertEqual(starts(core.handle(.started(taskID: "t1", pid: 8), now: at(31))), [], "nothing left to start")
        XCTAssertEqual(core.pendingReports().filter { $0.status.state == .running }.map(\.taskID), ["t1", "t2"])
    }

    func testAFailedStartFreesItsSlotToo() {
        var (core, _) = preparedCore()
        XCTAssertEqual(starts(core.handle(.startFailed(taskID: "t1", reason: "runc: boom"), now: at(30))), ["t3"])
        XCTAssertEqual(core.pendingReports().first { $0.taskID == "t1" }?.status.state, .failed)
    }

    func testAWaitingTaskThatShouldStopIsShutDownWithoutStartingAndKeepsItsContainerUntilForgotten() {
        var (core, _) = preparedCore()
        XCTAssertEqual(core.setAssignments([task("t1"), task("t2"), task("t3", desired: .shutdown)], now: at(25)), [.persist, .report])
        let status = core.pendingReports().first { $0.taskID == "t3" }?.status
        XCTAssertEqual(status?.state, .shutdown)
        XCTAssertEqual(status?.message, "shutdown before start")
        XCTAssertEqual(starts(core.handle(.started(taskID: "t1", pid: 7), now: at(30))), [], "it left the queue")
        XCTAssertEqual(core.setAssignments([task("t1"), task("t2")], now: at(40)),
                       [.remove(taskID: "t3", container: "c-t3", stopFirst: false), .persist])
    }

    func testAForgottenWaitingTaskLeavesTheQueueAndAForgottenStartingTaskFreesItsSlotOnlyWhenAnswered() {
        var (core, _) = preparedCore()
        // t3 waits, t1 starts; both are no longer assigned.
        let forgetting = core.setAssignments([task("t2")], now: at(25))
        XCTAssertTrue(forgetting.contains(.remove(taskID: "t3", container: "c-t3", stopFirst: true)))
        XCTAssertTrue(forgetting.contains(.remove(taskID: "t1", container: "c-t1", stopFirst: true)))
        _ = core.setAssignments([task("t2"), task("t4")], now: at(26))
        XCTAssertEqual(starts(core.handle(.prepared(taskID: "t4", container: "c-t4"), now: at(27))), [],
                       "t1's start is still running: its slot is taken until it answers")
        XCTAssertEqual(starts(core.handle(.started(taskID: "t1", pid: 9), now: at(28))), ["t4"],
                       "t4, not the forgotten t3, gets the slot")
    }

    func testUnboundedByDefault() {
        var core = AgentCore()
        let ids = (1...50).map { "t\($0)" }
        _ = core.setAssignments(ids.map { task($0) }, now: at(10))
        var started: [String] = []
        for id in ids { started += starts(core.handle(.prepared(taskID: id, container: "c-\(id)"), now: at(20))) }
        XCTAssertEqual(started, ids)
    }
}
