import Foundation
import Glibc
import Platform
import XCTest

@testable import Executor

/// What a node that died left running is found by the process executor's pid records (pid and
/// start time), not by marks in the task's environment, and a recycled pid is never taken for it.
final class TaskProcessRecordTests: XCTestCase {
    private var root = ""
    private var executor: ProcessExecutor!

    override func setUpWithError() throws {
        root = try FileSystem.makeTemporaryDirectory(prefix: "task-record-")
        executor = try ProcessExecutor(root: root)
    }

    override func tearDownWithError() throws {
        executor?.removeAll()
        try Tree.remove(root)
    }

    func testARunningTaskIsFoundAndEndedWithItsGroupButAStaleRecordIsNot() throws {
        let id = try executor.prepare(shell("sleep 300 & echo started; wait"))
        try executor.start(id) { _ in }
        let task = try XCTUnwrap(try executor.inspect(id).pid)
        let pid = getpgid(task)
        XCTAssertTrue(eventually { TaskProcessRecord.isTask(pid, nodeDirectory: self.root) }, "the record names the task's shim")
        XCTAssertFalse(ProcessTable.environment(of: task, contains: "SWARMCTL_NODE_DIR=\(root)"), "no marks in the environment")
        XCTAssertTrue(eventually { liveProcesses(inGroup: pid).count == 3 }, "the shim, the shell and its sleep")

        // The same pid with another start time is some other process: left alone.
        let record = "\(root)/containers/\(id)/\(TaskProcessRecord.fileName)"
        let genuine = try File.openForReading(record).readAll()
        try File.open(record, flags: O_WRONLY | O_TRUNC).write(Array("\(pid) 1\n".utf8), at: 0)
        XCTAssertEqual(TaskProcessRecord.livePIDs(nodeDirectory: root), [])
        TaskProcessRecord.endAll(nodeDirectory: root)
        XCTAssertEqual(ProcessTable.state(of: task), .running)

        try File.open(record, flags: O_WRONLY | O_TRUNC).write(genuine, at: 0)
        TaskProcessRecord.endAll(nodeDirectory: root)
        XCTAssertEqual(try executor.wait(id, timeoutMillis: 5_000), .signaled(signal: SIGKILL))
        XCTAssertTrue(eventually { liveProcesses(inGroup: pid).isEmpty }, "the whole group went")
    }
}
