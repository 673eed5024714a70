@testable import Agent
import ClusterState
import Executor
import Glibc
import XCTest

/// The task's container spec reaches the executor: here the stop signal (`--stop-signal`).
final class TaskSpecMappingTests: XCTestCase {
    private func task(stopSignal: String?) -> SwarmTask {
        SwarmTask(id: "t1", createdAt: Timestamp(millisecondsSinceEpoch: 0), serviceID: "s1", slot: 1, nodeID: "n1",
                  spec: TaskTemplate(containerSpec: ContainerSpec(image: "busybox", args: ["sleep", "1"], stopSignal: stopSignal)),
                  status: TaskStatus(timestamp: Timestamp(millisecondsSinceEpoch: 0), state: .assigned, message: ""))
    }

    func testTheStopSignalIsMappedAndDefaultsToTerm() {
        XCTAssertEqual(TaskSpecMapping.spec(for: task(stopSignal: "SIGINT"), nodeDirectory: "/tmp").stopSignal, SIGINT)
        XCTAssertEqual(TaskSpecMapping.spec(for: task(stopSignal: "KILL"), nodeDirectory: "/tmp").stopSignal, SIGKILL)
        XCTAssertEqual(TaskSpecMapping.spec(for: task(stopSignal: nil), nodeDirectory: "/tmp").stopSignal, SIGTERM)
        XCTAssertEqual(TaskSpecMapping.spec(for: task(stopSignal: ""), nodeDirectory: "/tmp").stopSignal, SIGTERM)
    }
}
