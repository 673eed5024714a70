import ClusterState
import Executor
import Foundation
import Glibc
import Platform
import XCTest
@testable import SwarmNode

/// Issue 16's refusal on the node's runner: a task with network attachments on a node that cannot
/// do task networking (here: the process executor) is rejected with what is missing and what to
/// do, and never started on the host network; a task without attachments still runs.
final class AgentNetworkRejectionTests: XCTestCase {
    private var directory = ""
    private var agent: RunnerHarness?

    override func setUpWithError() throws {
        directory = try FileSystem.makeTemporaryDirectory(prefix: "agent-netreject-")
    }

    override func tearDown() {
        agent?.shutdown()
        try? FileSystem.removeTree(directory)
    }

    private func task(_ id: String, attached: Bool) -> SwarmTask {
        var task = SwarmTask(id: id, createdAt: Timestamp(millisecondsSinceEpoch: 1), serviceID: "s1", slot: 1, nodeID: "n1",
                             spec: TaskTemplate(containerSpec: ContainerSpec(image: "busybox", args: ["sleep", "30"], stopGracePeriod: 1_000_000_000)),
                             desiredState: .running, status: TaskStatus(timestamp: Timestamp(millisecondsSinceEpoch: 1), state: .assigned, message: ""))
        if attached { task.networksAttachments = [NetworkAttachment(networkID: "net1", addresses: ["198.51.100.5/25"])] }
        return task
    }

    private func status(_ id: String, until condition: (TaskStatus) -> Bool) throws -> TaskStatus {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let status = agent?.pendingReports().first(where: { $0.taskID == id })?.status, condition(status) { return status }
            usleep(20_000)
        }
        XCTFail("timed out waiting for task \(id)'s status")
        throw CancellationError()
    }

    func testAnAttachedTaskIsRejectedNamingWhatIsMissingAndAnUnattachedOneRuns() throws {
        let executor = try ProcessExecutor(root: directory)
        let networking = NodeNetworkRunner.make(configuration: NodeConfiguration(), nodeID: "n1", executor: executor,
                                                logger: NodeLogger(nodeID: "n1", minimum: .error))
        let harness = try RunnerHarness(dataDirectory: directory, executor: executor, networking: networking)
        agent = harness
        harness.setAssignments([task("t1", attached: true), task("t2", attached: false)])

        let rejected = try status("t1") { $0.state.isTerminal }
        XCTAssertEqual(rejected.state, .rejected)
        XCTAssertEqual(rejected.err, "task t1 has network attachments (--network, --publish) but the process executor runs tasks as host "
            + "processes, which cannot join a network namespace: run the node with --executor oci (needs root and runc or crun)")
        XCTAssertNil(harness.container(ofTask: "t1"), "no container was made for it")
        XCTAssertEqual(try status("t2") { $0.state == .running }.state, .running)
    }
}
