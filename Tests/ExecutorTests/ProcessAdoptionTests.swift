import Foundation
import Glibc
import Platform
import XCTest

@testable import Executor

/// The process backend's tasks outlive the executor that started them (the node process
/// restarting): a second executor on the same node directory re-adopts them through their shim.
/// The output written while no executor read it is kept, the exit of a task that ended meanwhile
/// is known, a stop reaches an adopted task's whole group, and leftovers nobody keeps are ended
/// and removed.
final class ProcessAdoptionTests: XCTestCase {
    private var root = ""
    private var executor: ProcessExecutor!
    /// Every executor the test made (the first one's threads still run in this process).
    private var executors: [ProcessExecutor] = []

    override func setUpWithError() throws {
        root = try FileSystem.makeTemporaryDirectory(prefix: "process-adoption-")
        executor = try ProcessExecutor(root: root)
        executors = [executor]
    }

    override func tearDownWithError() throws {
        for each in executors.reversed() { each.removeAll() }
        TaskProcessRecord.endAll(nodeDirectory: root)
        try Tree.remove(root)
    }

    /// The node restarts: a fresh executor on the same directory (the old one is dropped
    /// without stopping anything, as when its process dies).
    private func restartedExecutor() throws -> ProcessExecutor {
        let second = try ProcessExecutor(root: root)
        executors.append(second)
        return second
    }

    private func run(_ spec: TaskSpec) throws -> ContainerID {
        let id = try executor.prepare(spec)
        try executor.start(id) { _ in }
        return id
    }

    /// What a dead node left of task `id`: its shim running `sleep 300`, with no executor of this
    /// process reading or writing its directory (a live executor's log thread would still write
    /// there). The shim is this process's child, for the test to reap.
    private func deadNodesTask(_ id: ContainerID) throws -> (shim: pid_t, task: pid_t) {
        let directory = "\(root)/containers/\(id)"
        try FileSystem.makeDirectories(directory)
        let leftover = try TaskSpawner.spawn(TaskSpec(command: TaskShim.command(directory: directory, run: ["/bin/sleep", "300"],
                                                                                ownsGroup: true)))
        TaskSpawner.closeAll([leftover.stdoutDescriptor, leftover.stderrDescriptor])
        try TaskProcessRecord.write(pid: leftover.pid, directory: directory)
        XCTAssertTrue(eventually { TaskShim.taskPid(directory: directory) != nil })
        return (leftover.pid, try XCTUnwrap(TaskShim.taskPid(directory: directory)))
    }

    private func output(_ id: ContainerID, from executor: ProcessExecutor) throws -> String {
        text(try executor.logs(id, stream: .stdout))
    }

    func testARunningTaskIsReadoptedWithItsPidOutputExitAndHealth() throws {
        let marker = root + "/healthy"
        var spec = shell("i=0; while [ $i -lt 40 ]; do echo line $i; i=$((i+1)); sleep 0.05; done; exit 7")
        spec.healthCheck = HealthCheck(command: ["/bin/sh", "-c", "echo probe >> \(marker)"], intervalMillis: 100,
                                       timeoutMillis: 5_000, retries: 1, startPeriodMillis: 0)
        let id = try run(spec)
        let pid = try XCTUnwrap(try executor.inspect(id).pid)
        let second = try restartedExecutor()
        let exit = OneShot<ExitStatus>()
        XCTAssertEqual(try second.adopt(id, spec: spec) { exit.set($0) }, .running(pid: pid))
        XCTAssertEqual(try second.inspect(id).pid, pid)
        let started = try XCTUnwrap(try executor.inspect(id).startedAt)
        XCTAssertEqual(try XCTUnwrap(try second.inspect(id).startedAt), started, accuracy: 2, "the start time the first node saw")
        XCTAssertTrue(try eventually(timeoutMillis: 10_000) { try second.inspect(id).health == .healthy }, "the health check runs again")
        XCTAssertEqual(exit.wait(timeoutMillis: 15_000), .exited(code: 7))
        // In this process the first executor's pump still reads too (a dead node's would not), so
        // the two may interleave chunks in the task's log: every line is there once, in whichever order.
        let lines = try output(id, from: second).split(separator: "\n").sorted()
        XCTAssertEqual(lines, (0..<40).map { "line \($0)" }.sorted(), "every line, before and after the restart, once")
        try second.remove(id)
        XCTAssertFalse(FileSystem.exists("\(root)/containers/\(id)"))
    }

    func testAStopReachesTheAdoptedTasksWholeGroup() throws {
        let id = try run(shell("trap 'echo got TERM; exit 3' TERM; sleep 300 & echo ready; wait"))
        XCTAssertTrue(try eventually { try output(id, from: executor).contains("ready") })
        let pid = try XCTUnwrap(try executor.inspect(id).pid)
        let group = getpgid(pid)
        XCTAssertEqual(liveProcesses(inGroup: group).count, 3, "the shim, the shell and its sleep")
        let second = try restartedExecutor()
        XCTAssertEqual(try second.adopt(id, spec: shell("")) { _ in }, .running(pid: pid))
        XCTAssertEqual(try second.stop(id, graceMillis: 5_000), .exited(code: 3), "the task's own exit, as its shim recorded it")
        XCTAssertTrue(eventually { liveProcesses(inGroup: group).isEmpty }, "left alive: \(liveProcesses(inGroup: group))")
    }

    /// An adopted task's start time comes from the process itself: init's is the boot time.
    func testAProcessesWallClockStartIsItsStartSinceBootPlusTheBootTime() throws {
        let uptime = try XCTUnwrap(try String(contentsOfFile: "/proc/uptime", encoding: .utf8).split(separator: " ").first.flatMap { Double($0) })
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let booted = Double(now.tv_sec) - uptime
        XCTAssertEqual(try XCTUnwrap(TaskShim.wallClockStart(of: 1)), booted, accuracy: 2)
        XCTAssertNil(TaskShim.wallClockStart(of: 0), "no such process")
    }

    func testATaskThatEndedWhileNoExecutorWatchedReportsItsExit() throws {
        let spec = shell("exit 4")
        let id = try run(spec)
        XCTAssertEqual(try executor.wait(id, timeoutMillis: 10_000), .exited(code: 4))
        let second = try restartedExecutor()
        XCTAssertEqual(try second.adopt(id, spec: spec) { _ in }, .exited(.exited(code: 4)))
        try second.remove(id)
    }

    func testLeftoversNotKeptAreEndedAndRemovedAndKeptOnesStay() throws {
        let spec = shell("sleep 300", graceMillis: 0)
        let kept = try run(spec)
        let keptPid = try XCTUnwrap(try executor.inspect(kept).pid)
        let dropped = ContainerID("dropped0123")
        let leftover = try deadNodesTask(dropped)
        let droppedPid = leftover.task
        let second = try restartedExecutor()
        XCTAssertEqual(try second.removeLeftovers(keeping: [kept]), [dropped.rawValue])
        XCTAssertTrue(eventually { [.gone, .zombie].contains(ProcessTable.state(of: droppedPid)) }, "the dropped task was ended")
        var status: Int32 = 0
        XCTAssertEqual(waitpid(leftover.shim, &status, 0), leftover.shim, "the shim (our child here) was ended too")
        XCTAssertFalse(FileSystem.exists("\(root)/containers/\(dropped)"))
        XCTAssertEqual(ProcessTable.state(of: keptPid), .running)
        XCTAssertEqual(try second.adopt(kept, spec: spec) { _ in }, .running(pid: keptPid))
        XCTAssertEqual(try second.adopt(dropped, spec: spec) { _ in }, .gone)
    }

    /// A re-adopted task keeps its secrets (its health checks and execs find them as before) until it ends.
    func testAReadoptedTaskKeepsItsSecretsUntilItEnds() throws {
        var spec = shell("sleep 300", graceMillis: 1_000)
        spec.files = [TaskFile(kind: .secret, target: "/run/secrets/pw", data: Array("hunter2".utf8))]
        let id = try run(spec)
        let pid = try XCTUnwrap(try executor.inspect(id).pid)
        let files = "\(executor.secretsRoot)/\(id)"
        XCTAssertTrue(FileSystem.exists(files + "/pw"))
        let second = try restartedExecutor()
        XCTAssertEqual(try second.removeLeftovers(keeping: [id]), [])
        XCTAssertEqual(try second.adopt(id, spec: spec) { _ in }, .running(pid: pid))
        let read = try second.exec(id, command: ["/bin/sh", "-c", "cat \"$\(ProcessExecutor.secretsVariable)/pw\""], timeoutMillis: 5_000)
        XCTAssertEqual(text(read.output), "hunter2", "an exec in the adopted task finds its secrets")
        XCTAssertNotNil(try second.stop(id, graceMillis: 1_000))
        XCTAssertTrue(eventually { !FileSystem.exists(files) }, "the secrets went with the task")
    }

    /// A dead node's task whose shim alone was killed cannot be re-attached (nothing records its
    /// exit): it is gone, and the task is ended, so its replacement never runs beside it.
    func testATaskWhoseShimAloneWasKilledIsGoneAndEnded() throws {
        let id = ContainerID("orphan0123")
        let (shim, task) = try deadNodesTask(id)
        XCTAssertEqual(Glibc.kill(shim, SIGKILL), 0)
        var status: Int32 = 0
        XCTAssertEqual(waitpid(shim, &status, 0), shim)
        XCTAssertEqual(ProcessTable.state(of: task), .running, "the task outlived its shim")
        let second = try restartedExecutor()
        XCTAssertEqual(try second.adopt(id, spec: shell("sleep 300")) { _ in }, .gone)
        XCTAssertTrue(eventually { [.gone, .zombie].contains(ProcessTable.state(of: task)) }, "the orphaned task was ended")
    }

    /// A task whose shim is gone (killed with its group) cannot be re-attached: it is gone, and
    /// nothing of it is left running.
    func testATaskWhoseShimWasKilledIsGone() throws {
        let spec = shell("sleep 300")
        let id = try run(spec)
        let pid = try XCTUnwrap(try executor.inspect(id).pid)
        TaskProcessRecord.endAll(nodeDirectory: root)
        XCTAssertTrue(eventually { [.gone, .zombie].contains(ProcessTable.state(of: pid)) })
        let second = try restartedExecutor()
        XCTAssertEqual(try second.adopt(id, spec: spec) { _ in }, .gone)
    }
}
