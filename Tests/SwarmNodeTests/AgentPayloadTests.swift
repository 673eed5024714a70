import ClusterState
import Executor
import Foundation
import Platform
import XCTest
@testable import SwarmNode

/// The node's memory of delivered secrets: counted deliveries and forgets, a task gets only its
/// own references, and (process executor) the task reads them from $SWARMCTL_SECRETS_DIR, which
/// is gone once the task ends.
final class AgentPayloadTests: XCTestCase {
    private var directory = ""
    private var agents: [RunnerHarness] = []
    private let dbKey = PayloadKey(kind: .secret, id: "s1")
    private let otherKey = PayloadKey(kind: .secret, id: "s2")

    override func setUpWithError() throws {
        directory = try FileSystem.makeTemporaryDirectory(prefix: "agent-payload-tests-")
    }

    override func tearDown() {
        for agent in agents { agent.shutdown() }
        try? FileSystem.removeTree(directory)
    }

    private func task(_ id: String, _ args: [String], secrets: [SecretReference]) -> SwarmTask {
        var container = ContainerSpec(image: "busybox", args: args, stopGracePeriod: 1_000_000_000)
        container.secrets = secrets
        return SwarmTask(id: id, createdAt: Timestamp(millisecondsSinceEpoch: 1), serviceID: "s", slot: 1, nodeID: "n1",
                         spec: TaskTemplate(containerSpec: container),
                         status: TaskStatus(timestamp: Timestamp(millisecondsSinceEpoch: 1), state: .assigned, message: ""))
    }

    private func waitForReport(_ agent: RunnerHarness, _ id: String, _ condition: (TaskStatus) -> Bool) throws -> TaskStatus {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let status = agent.pendingReports().first(where: { $0.taskID == id })?.status, condition(status) { return status }
            usleep(20_000)
        }
        XCTFail("timed out waiting for task \(id)")
        throw CancellationError()
    }

    func testDeliveriesAndForgetsAreCountedAndAFullSetReplacesWhatIsHeld() {
        let payloads = AgentPayloads()
        payloads.apply(full: true, payloads: [TaskPayload(kind: .secret, id: "s1", data: [1])], forget: [])
        payloads.apply(full: false, payloads: [TaskPayload(kind: .secret, id: "s2", data: [2])], forget: [])
        XCTAssertEqual(payloads.heldKeys, [dbKey, otherKey])
        payloads.apply(full: false, payloads: [], forget: [dbKey])
        XCTAssertEqual(payloads.heldKeys, [otherKey])
        payloads.apply(full: true, payloads: [], forget: [])
        XCTAssertEqual(payloads.heldKeys, [], "a full set without the secret drops it")
        XCTAssertEqual(payloads.deliveries(of: dbKey), 1)
        XCTAssertEqual(payloads.forgets(of: dbKey), 1)
        XCTAssertEqual(payloads.forgets(of: otherKey), 1)
        XCTAssertEqual(payloads.deliveries(of: PayloadKey(kind: .secret, id: "never")), 0)
        XCTAssertEqual(payloads.totals.deliveries, 2)
    }

    func testATaskGetsOnlyItsOwnReferencesAtTheirTargets() throws {
        let payloads = AgentPayloads()
        payloads.apply(full: true, payloads: [TaskPayload(kind: .secret, id: "s1", data: Array("pw".utf8)),
                                              TaskPayload(kind: .secret, id: "s2", data: Array("other".utf8))], forget: [])
        let reference = SecretReference(file: PayloadFile(name: "db", uid: "7", gid: "8", mode: 0o400), secretID: "s1", secretName: "db_pw")
        let files = try payloads.files(for: task("t", ["true"], secrets: [reference]))
        XCTAssertEqual(files, [TaskFile(kind: .secret, target: "/run/secrets/db", data: Array("pw".utf8), uid: 7, gid: 8, mode: 0o400)])
        XCTAssertFalse("\(files)".contains("pw\""), "a file's description hides its data")
        let missing = SecretReference(file: nil, secretID: "s9", secretName: "gone")
        XCTAssertThrowsError(try payloads.files(for: task("t", ["true"], secrets: [missing])))
    }

    func testAProcessTaskReadsItsSecretFromAPrivateDirectoryThatGoesWithTheTask() throws {
        let executor = try ProcessExecutor(root: directory)
        let agent = try RunnerHarness(dataDirectory: directory, executor: executor)
        agents.append(agent)
        let value = "pw-\(UInt64.random(in: 0..<UInt64.max))"
        agent.runner.payloads.apply(full: true, payloads: [TaskPayload(kind: .secret, id: "s1", data: Array(value.utf8)),
                                                    TaskPayload(kind: .secret, id: "s2", data: Array("not-yours".utf8))], forget: [])
        let reference = SecretReference(file: PayloadFile(name: "db_pw"), secretID: "s1", secretName: "db_pw")
        let script = #"cat "$SWARMCTL_SECRETS_DIR/db_pw"; echo; ls "$SWARMCTL_SECRETS_DIR"; stat -c %a "$SWARMCTL_SECRETS_DIR"; echo "$SWARMCTL_SECRETS_DIR""#
        agent.setAssignments([task("t1", ["sh", "-c", script], secrets: [reference])])
        let status = try waitForReport(agent, "t1") { $0.state.isTerminal }
        XCTAssertEqual(status.state, .complete, status.err ?? "")
        let container = try XCTUnwrap(agent.container(ofTask: "t1"))
        let lines = String(decoding: try executor.logs(container, stream: .stdout), as: UTF8.self).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 4, "\(lines)")
        XCTAssertEqual(lines[0], value)
        XCTAssertEqual(lines[1], "db_pw", "the task sees only its own reference")
        XCTAssertEqual(lines[2], "700")
        XCTAssertFalse(lines[3].hasPrefix(directory), "the secrets directory is outside the data directory")
        XCTAssertFalse(FileSystem.exists(lines[3]), "the secrets directory is gone once the task ended")
    }

    func testATaskWhoseSecretDidNotArriveIsRejectedNotStartedWithout() throws {
        let agent = try RunnerHarness(dataDirectory: directory, executor: try ProcessExecutor(root: directory))
        agents.append(agent)
        agent.setAssignments([task("t1", ["true"], secrets: [SecretReference(secretID: "s1", secretName: "db_pw")])])
        let status = try waitForReport(agent, "t1") { $0.state.isTerminal }
        XCTAssertEqual(status.state, .rejected)
        XCTAssertTrue(status.err?.contains("has not been delivered to this node") ?? false, status.err ?? "")
    }
}
