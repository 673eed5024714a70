import ClusterState
import Dispatcher
import XCTest

/// The backstop: tasks that stay assigned or accepted on a ready node are resent once, then
/// failed with "not acknowledged by node X".
final class AcknowledgementGuardTests: XCTestCase {
    private func state(taskState: TaskState = .assigned, nodeState: NodeState = .ready, desired: TaskState = .running) -> ClusterState {
        var state = ClusterState()
        func apply(_ command: ClusterCommand) {
            if case let .failure(error) = state.apply(command, index: state.appliedIndex + 1) { XCTFail("refused: \(error)") }
        }
        let at = Timestamp(millisecondsSinceEpoch: 0)
        let node = Node(id: "n1", version: ObjectVersion(index: 0), createdAt: at, spec: NodeSpec(name: "n1", role: .manager),
                        description: NodeDescription(hostname: "n1", platform: .init(architecture: "x86_64", os: "linux"),
                                                     resources: .init(nanoCPUs: 1_000_000_000, memoryBytes: 1 << 30),
                                                     engine: .init(engineVersion: "test")),
                        status: NodeStatus(state: .ready, addr: "127.0.0.1"), managerStatus: nil)
        let cluster = Cluster(id: "c", version: ObjectVersion(index: 0), createdAt: at, spec: ClusterSpec(),
                              joinTokens: JoinTokens(worker: "W", manager: "M"))
        apply(.initialize(cluster: cluster, firstNode: node, secrets: ClusterSecrets(workerSecret: "w", managerSecret: "m", members: [:])))
        let template = TaskTemplate(containerSpec: ContainerSpec(image: "busybox"))
        apply(.createService(service: Service(id: "s", createdAt: at, spec: ServiceSpec(name: "web", taskTemplate: template,
                                                                                         mode: .replicated(replicas: 1)))))
        apply(.createTasks(tasks: [SwarmTask(id: "t1", createdAt: at, serviceID: "s", slot: 1, nodeID: "n1", spec: template,
                                             status: TaskStatus(timestamp: at, state: .assigned, message: "assigned"))]))
        if taskState != .assigned {
            apply(.updateTaskStatuses(updates: [TaskStatusUpdate(taskID: "t1", status: TaskStatus(timestamp: at, state: taskState, message: ""))]))
        }
        if nodeState != .ready { apply(.setNodeStatus(id: "n1", state: nodeState, message: nil, at: at)) }
        if desired != .running { apply(.setTaskDesiredState(id: "t1", state: desired, at: at)) }
        return state
    }

    private func at(_ millis: UInt64) -> Timestamp { Timestamp(millisecondsSinceEpoch: millis) }

    func testAnUnacknowledgedTaskIsResentOnceThenFailed() throws {
        var guardian = AcknowledgementGuard(timeoutMillis: 5_000)
        let stuck = state()
        XCTAssertTrue(guardian.evaluate(stuck, now: at(1_000)).isEmpty, "first seen")
        XCTAssertTrue(guardian.evaluate(stuck, now: at(5_999)).isEmpty)
        XCTAssertEqual(guardian.evaluate(stuck, now: at(6_000)).resendTo, ["n1"])
        XCTAssertTrue(guardian.evaluate(stuck, now: at(8_000)).isEmpty, "resent once only")
        let decision = guardian.evaluate(stuck, now: at(11_000))
        XCTAssertEqual(decision.fail.map(\.taskID), ["t1"])
        let status = try XCTUnwrap(decision.fail.first?.status)
        XCTAssertEqual(status.state, .failed)
        XCTAssertEqual(status.message, TaskStatus.notAcknowledgedMessage)
        XCTAssertTrue(status.err?.contains("not acknowledged by node n1") ?? false, status.err ?? "")
        XCTAssertEqual(guardian.resends, 1)
        XCTAssertEqual(guardian.failures, 1)
        XCTAssertTrue(guardian.evaluate(stuck, now: at(12_000)).isEmpty, "the failure is proposed again only after another bound")
        XCTAssertEqual(guardian.evaluate(stuck, now: at(16_000)).fail.map(\.taskID), ["t1"])
        XCTAssertEqual(guardian.failures, 1, "counted once per task")
    }

    func testProgressRestartsTheClockAndOtherStatesAreNotWatched() {
        var guardian = AcknowledgementGuard(timeoutMillis: 5_000)
        _ = guardian.evaluate(state(), now: at(0))
        XCTAssertTrue(guardian.evaluate(state(taskState: .accepted), now: at(5_000)).isEmpty, "accepted is progress")
        XCTAssertEqual(guardian.evaluate(state(taskState: .accepted), now: at(10_000)).resendTo, ["n1"])
        for other in [state(taskState: .preparing), state(nodeState: .down), state(desired: .shutdown)] {
            var fresh = AcknowledgementGuard(timeoutMillis: 5_000)
            _ = fresh.evaluate(other, now: at(0))
            XCTAssertTrue(fresh.evaluate(other, now: at(60_000)).isEmpty)
        }
    }
}
