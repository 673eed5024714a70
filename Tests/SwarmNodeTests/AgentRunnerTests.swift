import ClusterState
import Executor
import Foundation
import Glibc
import Platform
import XCTest
import Agent
@testable import SwarmNode

/// An `AgentRunner` on its own loop thread, called from the test thread.
final class RunnerHarness {
    let thread: EventLoopThread
    let runner: AgentRunner

    init(dataDirectory: String, executor: any Executor, networking: NodeNetworkRunner? = nil) throws {
        thread = try EventLoopThread(name: "agent-test")
        let loop = thread.loop
        runner = try loop.executeAndWait {
            let runner = try AgentRunner(executor: executor, loop: loop, nodeDirectory: dataDirectory,
                                         logger: NodeLogger(nodeID: "agent-test", minimum: .error), networking: networking, onReport: {})
            runner.start()
            return runner
        }
    }

    func setAssignments(_ tasks: [SwarmTask]) {
        _ = try? thread.loop.executeAndWait { [runner] in runner.setAssignments(tasks) }
    }

    func container(ofTask taskID: String) -> ContainerID? {
        (try? thread.loop.executeAndWait { [runner] in runner.container(ofTask: taskID) }) ?? nil
    }

    func pendingReports() -> [TaskStatusUpdate] {
        (try? thread.loop.executeAndWait { [runner] in runner.pendingReports() }) ?? []
    }

    /// Stops the tasks (unless `leavingTasksRunning`, as a node process that dies) and the loop.
    func shutdown(leavingTasksRunning: Bool = false) {
        if !leavingTasksRunning { runner.stopAll() }
        thread.shutdown()
        runner.flushRecords()
    }
}

/// The agent core run by the node's runner against the real process executor: tasks start,
/// exit, stop on request, are reported until recorded, and are reported lost after a restart
/// (plain host processes cannot be re-adopted; the OCI executor's can, see AgentReadoptionTests).
final class AgentRunnerTests: XCTestCase {
    private var directory = ""
    private var agents: [RunnerHarness] = []

    override func setUpWithError() throws {
        directory = try FileSystem.makeTemporaryDirectory(prefix: "agent-tests-")
    }

    override func tearDown() {
        for agent in agents { agent.shutdown() }
        try? FileSystem.removeTree(directory)
    }

    private func makeAgent() throws -> RunnerHarness {
        let agent = try RunnerHarness(dataDirectory: directory, executor: try ProcessExecutor(root: directory))
        agents.append(agent)
        return agent
    }

    private func task(_ id: String, _ args: [String], desired: TaskState = .running, state: TaskState = .assigned) -> SwarmTask {
        SwarmTask(id: id, createdAt: Timestamp(millisecondsSinceEpoch: 1), serviceID: "s1", slot: 1, nodeID: "n1",
                  spec: TaskTemplate(containerSpec: ContainerSpec(image: "busybox", args: args, stopGracePeriod: 2_000_000_000)),
                  desiredState: desired, status: TaskStatus(timestamp: Timestamp(millisecondsSinceEpoch: 1), state: state, message: ""))
    }

    /// Polls the agent's reports until one for `id` satisfies `condition` (deadline 10 s).
    private func waitForReport(_ agent: RunnerHarness, _ id: String, _ what: String, _ condition: (TaskStatus) -> Bool) throws -> TaskStatus {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let status = agent.pendingReports().first(where: { $0.taskID == id })?.status, condition(status) { return status }
            usleep(20_000)
        }
        XCTFail("timed out waiting for \(what)")
        throw CancellationError()
    }

    /// Running or sleeping, not gone and not a zombie waiting to be reaped.
    private static func isAlive(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(close, offsetBy: 2)] != "Z"
    }

    func testExitCodeBecomesAFailedStatusLikeDockers() throws {
        let agent = try makeAgent()
        agent.setAssignments([task("t1", ["sh", "-c", "exit 3"])])
        let status = try waitForReport(agent, "t1", "failed") { $0.state == .failed }
        XCTAssertEqual(status.err, "task: non-zero exit (3)")
        XCTAssertEqual(status.containerStatus?.exitCode, 3)
    }

    func testCleanExitCompletes() throws {
        let agent = try makeAgent()
        agent.setAssignments([task("t1", ["true"])])
        let status = try waitForReport(agent, "t1", "complete") { $0.state == .complete }
        XCTAssertEqual(status.containerStatus?.exitCode, 0)
    }

    func testDesiredShutdownStopsTheProcessAndReportsShutdown() throws {
        let agent = try makeAgent()
        agent.setAssignments([task("t1", ["sleep", "30"])])
        let running = try waitForReport(agent, "t1", "running") { $0.state == .running }
        let pid = try XCTUnwrap(running.containerStatus?.pid)
        agent.setAssignments([task("t1", ["sleep", "30"], desired: .shutdown, state: .running)])
        _ = try waitForReport(agent, "t1", "shutdown") { $0.state == .shutdown }
        XCTAssertFalse(Self.isAlive(pid_t(pid)), "the task's process is gone")
    }

    func testReportsStopOnceTheManagersRecordedThem() throws {
        let agent = try makeAgent()
        agent.setAssignments([task("t1", ["sleep", "30"])])
        let running = try waitForReport(agent, "t1", "running") { $0.state == .running }
        var recorded = task("t1", ["sleep", "30"])
        recorded.status = running
        agent.setAssignments([recorded])
        XCTAssertTrue(agent.pendingReports().isEmpty, "nothing new to report: \(agent.pendingReports())")
    }

    func testATaskWithoutCommandIsRejectedWithTheReason() throws {
        let agent = try makeAgent()
        agent.setAssignments([task("t1", [])])
        let status = try waitForReport(agent, "t1", "rejected") { $0.state == .rejected }
        XCTAssertTrue(status.err?.contains("no command") == true, "\(status.err ?? "")")
    }

    func testAfterARestartRunningTasksAreReportedLostAndTheirProcessesEnded() throws {
        let first = try makeAgent()
        first.setAssignments([task("t1", ["sleep", "30"])])
        let running = try waitForReport(first, "t1", "running") { $0.state == .running }
        let pid = pid_t(try XCTUnwrap(running.containerStatus?.pid))
        // The node process dies: its loop goes, the task's process stays.
        first.shutdown(leavingTasksRunning: true)
        agents.removeAll()
        XCTAssertTrue(Self.isAlive(pid))
        // A new agent on the same data directory: the process executor cannot re-adopt.
        let second = try makeAgent()
        let deadline = Date().addingTimeInterval(5)
        while Self.isAlive(pid) && Date() < deadline { usleep(20_000) }
        XCTAssertFalse(Self.isAlive(pid), "the leftover process was ended")
        let lost = try waitForReport(second, "t1", "lost") { $0.state == .failed }
        XCTAssertEqual(lost.err, "task lost: its container was gone after the node restarted")
    }

    func testAnUndecodableRecordFileIsAnErrorNamingIt() throws {
        try FileSystem.makeDirectories(directory + "/worker")
        try FileSystem.replaceAtomically(directory + "/worker/tasks.json", with: Array("{not json".utf8))
        XCTAssertThrowsError(try AgentStore(directory: directory + "/worker").load()) { error in
            XCTAssertTrue("\(error)".contains("worker/tasks.json is not a task record file"), "\(error)")
        }
    }

    func testAStaleTemporaryRecordFileDoesNotBlockSaving() throws {
        try FileSystem.makeDirectories(directory + "/worker")
        try FileSystem.replaceAtomically(directory + "/worker/tasks.json.tmp", with: Array("stale".utf8))
        let agent = try makeAgent()
        agent.setAssignments([task("t1", ["sleep", "30"])])
        _ = try waitForReport(agent, "t1", "running") { $0.state == .running }
        let deadline = Date().addingTimeInterval(5)
        var saved: [String: AgentRecord] = [:]
        while saved["t1"]?.status?.state != .running && Date() < deadline {
            saved = (try? AgentStore(directory: directory + "/worker").load()) ?? [:]
            usleep(20_000)
        }
        XCTAssertEqual(saved["t1"]?.status?.state, .running, "the records were saved despite the stale temporary file")
    }
}

/// Health checks: a task runs only once healthy; an unhealthy one is stopped and failed.
final class AgentHealthTests: XCTestCase {
    private var directory = ""
    private var agent: RunnerHarness!

    override func setUpWithError() throws {
        directory = try FileSystem.makeTemporaryDirectory(prefix: "agent-health-")
        agent = try RunnerHarness(dataDirectory: directory, executor: try ProcessExecutor(root: directory))
    }

    override func tearDown() {
        agent?.shutdown()
        try? FileSystem.removeTree(directory)
    }

    private func task(_ id: String, health: String) -> SwarmTask {
        var container = ContainerSpec(image: "busybox", args: ["sleep", "30"], stopGracePeriod: 1_000_000_000)
        container.healthcheck = HealthConfig(test: ["CMD-SHELL", health], interval: 100_000_000, timeout: 1_000_000_000, retries: 1)
        return SwarmTask(id: id, createdAt: Timestamp(millisecondsSinceEpoch: 1), serviceID: "s1", slot: 1, nodeID: "n1",
                         spec: TaskTemplate(containerSpec: container), status: TaskStatus(timestamp: Timestamp(millisecondsSinceEpoch: 1), state: .assigned, message: ""))
    }

    private func latest(_ id: String) -> TaskStatus? { agent.pendingReports().first { $0.taskID == id }?.status }

    private func waitFor(_ what: String, _ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(10)
        while !condition() && Date() < deadline { usleep(20_000) }
        XCTAssertTrue(condition(), "timed out waiting for \(what)")
    }

    func testRunningOnlyOnceHealthy() throws {
        let marker = directory + "/healthy"
        agent.setAssignments([task("t1", health: "test -f \(marker)")])
        waitFor("starting") { latest("t1")?.state == .starting && latest("t1")?.message == "waiting for the health check" }
        XCTAssertNotEqual(latest("t1")?.state, .running)
        FileManager.default.createFile(atPath: marker, contents: Data())
        waitFor("running once healthy") { latest("t1")?.state == .running }
    }

    func testUnhealthyTaskIsStoppedAndFailed() throws {
        agent.setAssignments([task("t1", health: "false")])
        waitFor("failed as unhealthy") { latest("t1")?.state == .failed }
        XCTAssertEqual(latest("t1")?.err, "task: unhealthy container")
    }
}
