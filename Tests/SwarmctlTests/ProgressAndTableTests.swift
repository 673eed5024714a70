import ClusterState
import XCTest
@testable import swarmctl

/// The convergence rules of the progress display and the shape of the `service ps` table.
final class ProgressAndTableTests: XCTestCase {
    private let t0 = Timestamp(millisecondsSinceEpoch: 1_764_000_000_000)

    private func service(replicas: UInt64, status: UpdateStatus? = nil) -> Service {
        var service = Service(id: "s1", createdAt: t0, spec: ServiceSpec(name: "web", taskTemplate: TaskTemplate(containerSpec: ContainerSpec(image: "busybox")),
                                                                        mode: .replicated(replicas: replicas)))
        service.updateStatus = status
        return service
    }

    private func task(_ id: String, slot: UInt64, state: TaskState, desired: TaskState = .running, created: UInt64 = 0,
                      message: String = "", err: String? = nil) -> SwarmTask {
        SwarmTask(id: id, createdAt: Timestamp(millisecondsSinceEpoch: t0.millisecondsSinceEpoch + created), serviceID: "s1", slot: slot,
                  nodeID: "n1", spec: TaskTemplate(containerSpec: ContainerSpec(image: "busybox")), desiredState: desired,
                  status: TaskStatus(timestamp: t0, state: state, message: message, err: err))
    }

    func testConvergedOnlyWhenEverySlotRuns() {
        let partial = ProgressSnapshot(service: service(replicas: 2), tasks: [task("a", slot: 1, state: .running), task("b", slot: 2, state: .starting)])
        XCTAssertEqual(partial.outcome, .inProgress)
        XCTAssertEqual(partial.running, 1)
        XCTAssertEqual(partial.lines.map(\.1), ["1/2: running", "2/2: starting"])
        let done = ProgressSnapshot(service: service(replicas: 2), tasks: [task("a", slot: 1, state: .running), task("b", slot: 2, state: .running)])
        XCTAssertEqual(done.outcome, .converged)
    }

    func testNewestTaskOfASlotCountsAndThePendingReasonShows() {
        let snapshot = ProgressSnapshot(service: service(replicas: 1), tasks: [
            task("old", slot: 1, state: .running, created: 0),
            task("new", slot: 1, state: .pending, created: 10, message: "no suitable node (1 node drained)"),
        ])
        XCTAssertEqual(snapshot.running, 0)
        XCTAssertEqual(snapshot.lines.map(\.1), ["1/1: pending   no suitable node (1 node drained)"])
    }

    func testUpdatesThatPauseOrRollBackFail() {
        let running = [task("a", slot: 1, state: .running)]
        XCTAssertEqual(ProgressSnapshot(service: service(replicas: 1, status: UpdateStatus(state: .updating)), tasks: running).outcome, .inProgress)
        if case .failed = ProgressSnapshot(service: service(replicas: 1, status: UpdateStatus(state: .paused, message: "task failed")), tasks: running).outcome {} else {
            XCTFail("a paused update is a failure")
        }
        if case .failed = ProgressSnapshot(service: service(replicas: 1, status: UpdateStatus(state: .rollbackCompleted)), tasks: running).outcome {} else {
            XCTFail("an update that rolled back is a failure")
        }
        XCTAssertEqual(ProgressSnapshot(service: service(replicas: 1, status: UpdateStatus(state: .rollbackCompleted)), tasks: running,
                                        expectRollback: true).outcome, .converged)
    }

    func testEverySlotRejectedFailsWithTheTasksError() {
        let rejected = "running a task as another user needs root"
        // Slot 1 rejected and retried (the retry waits for its restart delay); slot 2 rejected.
        let allRejected = ProgressSnapshot(service: service(replicas: 2), tasks: [
            task("a", slot: 1, state: .rejected, desired: .shutdown, created: 0, err: rejected),
            task("b", slot: 1, state: .ready, created: 10),
            task("c", slot: 2, state: .rejected, created: 5, err: rejected),
        ])
        guard case let .failed(reason) = allRejected.outcome else { return XCTFail("\(allRejected.outcome)") }
        XCTAssertTrue(reason.contains("every task of web was rejected: \(rejected)"), reason)

        // One slot still has a chance (never finished, or running): not a failure yet.
        XCTAssertEqual(ProgressSnapshot(service: service(replicas: 2), tasks: [
            task("a", slot: 1, state: .rejected, err: rejected), task("c", slot: 2, state: .starting),
        ]).outcome, .inProgress)
        XCTAssertEqual(ProgressSnapshot(service: service(replicas: 2), tasks: [
            task("a", slot: 1, state: .rejected, err: rejected), task("c", slot: 2, state: .running),
        ]).outcome, .inProgress)
        // A slot whose last finished task failed (the command ran) is not a rejection.
        XCTAssertEqual(ProgressSnapshot(service: service(replicas: 1), tasks: [
            task("a", slot: 1, state: .rejected, created: 0, err: rejected), task("b", slot: 1, state: .failed, created: 10, err: "exit 1"),
        ]).outcome, .inProgress)
        // Fewer slots seen than desired: the rest may still run.
        XCTAssertEqual(ProgressSnapshot(service: service(replicas: 2), tasks: [task("a", slot: 1, state: .rejected, err: rejected)]).outcome,
                       .inProgress)
    }

    func testStabilityWaitNeedsTheMonitorPeriodOfRunningTasks() {
        var wait = StabilityWait()
        XCTAssertEqual(wait.observe(converged: false, nowMillis: 0, monitorMillis: 5_000), StabilityWait.Step(done: false, line: nil))
        XCTAssertEqual(wait.observe(converged: true, nowMillis: 1_000, monitorMillis: 5_000),
                       StabilityWait.Step(done: false, line: "Waiting 5 seconds to verify that tasks are stable..."))
        XCTAssertEqual(wait.observe(converged: true, nowMillis: 3_500, monitorMillis: 5_000),
                       StabilityWait.Step(done: false, line: "Waiting 3 seconds to verify that tasks are stable..."))
        // A task stops: the wait starts again from the next time all run.
        XCTAssertEqual(wait.observe(converged: false, nowMillis: 4_000, monitorMillis: 5_000),
                       StabilityWait.Step(done: false, line: "Detected task failure"))
        XCTAssertFalse(wait.observe(converged: true, nowMillis: 6_000, monitorMillis: 5_000).done)
        XCTAssertFalse(wait.observe(converged: true, nowMillis: 10_999, monitorMillis: 5_000).done)
        XCTAssertTrue(wait.observe(converged: true, nowMillis: 11_000, monitorMillis: 5_000).done)
    }

    func testTheMonitorPeriodComesFromTheUpdateConfig() {
        var spec = service(replicas: 1).spec
        XCTAssertEqual(StabilityWait.monitorMillis(of: spec), 5_000)
        spec.updateConfig = UpdateConfig(monitor: 0)
        XCTAssertEqual(StabilityWait.monitorMillis(of: spec), 5_000, "zero means docker's default")
        spec.updateConfig = UpdateConfig(monitor: 250_000_000)
        XCTAssertEqual(StabilityWait.monitorMillis(of: spec), 250)
        spec.rollbackConfig = UpdateConfig(monitor: 750_000_000)
        XCTAssertEqual(StabilityWait.monitorMillis(of: spec, rollback: true), 750, "a rollback waits for the rollback monitor")
    }

    func testServicePsGroupsHistoryUnderTheCurrentTask() {
        let table = TaskTable(tasks: [task("aaaaaaaaaaaaaaaa1", slot: 1, state: .shutdown, desired: .shutdown, created: 0),
                                      task("bbbbbbbbbbbbbbbb2", slot: 1, state: .running, created: 5),
                                      task("cccccccccccccccc3", slot: 2, state: .failed, desired: .shutdown, err: "task: non-zero exit (1) and more text here")],
                              serviceNames: ["s1": "web"], hostnames: ["n1": "vm"], noTrunc: false,
                              now: Double(t0.millisecondsSinceEpoch) / 1000 + 13)
        let rows = table.rows()
        XCTAssertEqual(rows.map { $0[1] }, ["web.1", " \\_ web.1", "web.2"])
        XCTAssertEqual(rows[0][0], "bbbbbbbbbbbb")
        XCTAssertEqual(rows[0][5], "Running 13 seconds ago")
        XCTAssertEqual(rows[2][6], "\"task: non-zero exit (1) and m…\"")
    }

    func testHumanDurationsMatchDocker() {
        XCTAssertEqual(TaskTable.humanDuration(seconds: 0.5), "Less than a second")
        XCTAssertEqual(TaskTable.humanDuration(seconds: 90), "About a minute")
        XCTAssertEqual(TaskTable.humanDuration(seconds: 600), "10 minutes")
        XCTAssertEqual(TaskTable.humanDuration(seconds: 3 * 3600), "3 hours")
    }
}
