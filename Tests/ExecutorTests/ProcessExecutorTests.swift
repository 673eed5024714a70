import Foundation
import Glibc
import Platform
import XCTest

@testable import Executor

/// The process backend against real /bin/sh children: exit reporting, environment, output
/// capture and rotation, stop with grace, and that nothing of a task outlives it.
final class ProcessExecutorTests: XCTestCase {
    private var root = ""
    private var executor: ProcessExecutor!
    private var groups: [Int32] = []

    override func setUpWithError() throws {
        root = try FileSystem.makeTemporaryDirectory(prefix: "executor-tests-")
        executor = try ProcessExecutor(root: root)
    }

    override func tearDownWithError() throws {
        executor?.removeAll()
        // Asserted rather than killed here: a recycled process group id could belong to someone else.
        for group in groups {
            XCTAssertTrue(eventually { liveProcesses(inGroup: group).isEmpty },
                          "process group \(group) outlived its container: \(liveProcesses(inGroup: group))")
        }
        try FileSystem.removeTree(root)
        XCTAssertFalse(FileSystem.exists(root), "the test directory \(root) was left behind")
    }

    /// A container directory is removed with `FileSystem.removeTree`, which must remove links
    /// and never follow them (a task can leave a link to `/` in its directory).
    func testRemovingATreeRemovesLinksWithoutFollowingThem() throws {
        let outside = root + "/outside"
        try FileSystem.makeDirectories(outside)
        let kept = outside + "/kept"
        XCTAssertTrue(FileManager.default.createFile(atPath: kept, contents: Data("x".utf8)))
        let tree = root + "/tree"
        try FileSystem.makeDirectories(tree + "/sub")
        XCTAssertEqual(symlink(outside, tree + "/sub/to-outside"), 0)
        XCTAssertEqual(symlink(root + "/missing", tree + "/dangling"), 0)
        try FileSystem.removeTree(tree)
        var info = stat()
        XCTAssertNotEqual(lstat(tree, &info), 0, "the tree is gone, links included")
        XCTAssertTrue(FileSystem.exists(kept), "a linked directory outside the tree was emptied")
    }

    /// Prepares and starts `spec`; remembers its process group for tear-down.
    private func run(_ spec: TaskSpec, onExit: @escaping @Sendable (ExitStatus) -> Void = { _ in }) throws -> ContainerID {
        let id = try executor.prepare(spec)
        try executor.start(id, onExit: onExit)
        if let group = group(of: id) { groups.append(group) }
        return id
    }

    /// The task's process group: its shim's pid, from the shim's record.
    private func group(of id: ContainerID) -> Int32? {
        let record = (try? File.openForReading("\(root)/containers/\(id)/\(TaskProcessRecord.fileName)").readAll()) ?? []
        return String(decoding: record, as: UTF8.self).split(separator: " ").first.flatMap { Int32($0) }
    }

    private func waitForOutput(_ id: ContainerID, _ expected: String) throws {
        let seen = try eventually { text(try executor.logs(id, stream: .stdout)).contains(expected) }
        XCTAssertTrue(seen, "the task never printed \(expected)")
    }

    func testExitCodeIsReportedToWaitInspectAndCallback() throws {
        let callback = OneShot<ExitStatus>()
        let id = try run(shell("exit 7")) { callback.set($0) }
        XCTAssertEqual(try executor.wait(id, timeoutMillis: 5_000), .exited(code: 7))
        XCTAssertEqual(callback.wait(timeoutMillis: 5_000), .exited(code: 7))
        let info = try executor.inspect(id)
        XCTAssertEqual(info.state, .exited)
        XCTAssertEqual(info.exitStatus?.exitCode, 7)
        XCTAssertNotNil(info.pid)
        XCTAssertNotNil(info.startedAt)
    }

    func testPreparedContainerIsCreatedUntilStarted() throws {
        let id = try executor.prepare(shell("exit 0"))
        XCTAssertEqual(try executor.inspect(id).state, .created)
        XCTAssertNil(try executor.inspect(id).pid)
        XCTAssertNil(try executor.stop(id))
    }

    func testEnvironmentAndWorkingDirectoryAreApplied() throws {
        let directory = try FileSystem.makeTemporaryDirectory(prefix: "cwd-", base: root)
        let resolved = String(cString: realpath(directory, nil))
        let id = try run(shell("echo $FOO; pwd", environment: ["FOO=bar baz"], workingDirectory: directory))
        XCTAssertEqual(try executor.wait(id, timeoutMillis: 5_000), .exited(code: 0))
        XCTAssertEqual(text(try executor.logs(id, stream: .stdout)), "bar baz\n\(resolved)\n")
    }

    /// `--user` runs the task (and its health-check execs) as that user on a root node: uid, gid
    /// and supplementary groups all switch, so the task has no root privilege left.
    func testTaskRunsAsTheRequestedUserWhenTheNodeIsRoot() throws {
        guard geteuid() == 0 else { throw XCTSkip("switching users needs a root node") }
        var named = shell("id -u; id -g; id -G; cat /proc/self/status | grep CapEff")
        named.user = "nobody"
        let id = try run(named)
        XCTAssertEqual(try executor.wait(id, timeoutMillis: 5_000), .exited(code: 0))
        let lines = text(try executor.logs(id, stream: .stdout)).split(separator: "\n").map(String.init)
        let nobody = try XCTUnwrap(getpwnam("nobody")).pointee
        XCTAssertEqual(Array(lines.prefix(2)), ["\(nobody.pw_uid)", "\(nobody.pw_gid)"], "\(lines)")
        XCTAssertFalse(lines.count > 2 && lines[2].split(separator: " ").contains("0"), "root's group was kept: \(lines)")
        XCTAssertEqual(lines.last?.split(separator: "\t").last.map(String.init), "0000000000000000", "capabilities were kept: \(lines)")

        var numeric = shell("id -u; id -G")
        numeric.user = "4321:8765"
        let second = try run(numeric)
        XCTAssertEqual(try executor.wait(second, timeoutMillis: 5_000), .exited(code: 0))
        XCTAssertEqual(text(try executor.logs(second, stream: .stdout)), "4321\n8765\n")
    }

    func testAUserTheNodeCannotHonourRejectsThePrepareWithTheReason() throws {
        XCTAssertThrowsError(try executor.prepare({ var spec = shell("true"); spec.user = "no-such-user-xyz"; return spec }())) { error in
            XCTAssertEqual("\(error)", "cannot run the task as user no-such-user-xyz: no user no-such-user-xyz in the node's /etc/passwd; "
                           + "give a numeric uid or add the user")
        }
        XCTAssertThrowsError(try executor.prepare({ var spec = shell("true"); spec.user = "1000:no-such-group-xyz"; return spec }())) { error in
            XCTAssertTrue("\(error)".contains("no group no-such-group-xyz"), "\(error)")
        }
        guard geteuid() != 0 else { return }
        XCTAssertThrowsError(try executor.prepare({ var spec = shell("true"); spec.user = "0"; return spec }())) { error in
            XCTAssertTrue("\(error)".contains("not root"), "\(error)")
        }
    }

    func testStdoutAndStderrAreCapturedSeparately() throws {
        let id = try run(shell("echo out; echo err >&2; echo more"))
        XCTAssertEqual(try executor.wait(id, timeoutMillis: 5_000), .exited(code: 0))
        XCTAssertEqual(text(try executor.logs(id, stream: .stdout)), "out\nmore\n")
        XCTAssertEqual(text(try executor.logs(id, stream: .stderr)), "err\n")
    }

    func testLogRotationKeepsAtMostKFilesOfAtMostNBytes() throws {
        let limits = LogLimits(maxFileBytes: 1_000, maxFiles: 3)
        let id = try run(shell("seq 1 3000", logLimits: limits))
        XCTAssertEqual(try executor.wait(id, timeoutMillis: 5_000), .exited(code: 0))
        let directory = "\(root)/containers/\(id)"
        let files = try FileSystem.list(directory).filter { $0.hasPrefix("stdout.log") }
        XCTAssertEqual(files, ["stdout.log", "stdout.log.1", "stdout.log.2"])
        for name in files {
            let size = try File.openForReading("\(directory)/\(name)").size()
            XCTAssertLessThanOrEqual(size, 1_000, "\(name) is over the limit")
        }
        let everything = Array((1...3000).map { "\($0)\n" }.joined().utf8)
        let kept = try executor.logs(id, stream: .stdout)
        XCTAssertGreaterThan(kept.count, 2_000)
        XCTAssertEqual(kept, Array(everything.suffix(kept.count)), "the newest output must be kept, in order")
    }

    func testStopSendsTermAndReportsTheTrappedExitStatus() throws {
        let id = try run(shell("trap 'exit 3' TERM; echo ready; sleep 300 & wait", graceMillis: 5_000))
        try waitForOutput(id, "ready")
        let start = monotonicNanoseconds()
        XCTAssertEqual(try executor.stop(id), .exited(code: 3))
        XCTAssertLessThan(milliseconds(since: start), 2_000, "a task that exits on TERM must not wait for the grace")
    }

    /// `--stop-signal`: stop sends the spec's signal instead of SIGTERM.
    func testStopSendsTheSpecsStopSignal() throws {
        var spec = shell("trap '' TERM; trap 'echo got INT; exit 3' INT; echo ready; while true; do sleep 0.05; done", graceMillis: 10_000)
        spec.stopSignal = SIGINT
        let id = try run(spec)
        try waitForOutput(id, "ready")
        let started = monotonicNanoseconds()
        XCTAssertEqual(try executor.stop(id, graceMillis: nil), .exited(code: 3))
        XCTAssertLessThan(milliseconds(since: started), 5_000, "the INT handler ended the task, not the KILL after the grace period")
        XCTAssertTrue(text(try executor.logs(id, stream: .stdout)).contains("got INT"))
    }

    func testTaskIgnoringTermIsKilledAfterTheGracePeriod() throws {
        let grace = 300
        let id = try run(shell("trap '' TERM; echo ready; sleep 300 & wait", graceMillis: grace))
        try waitForOutput(id, "ready")
        let start = monotonicNanoseconds()
        XCTAssertEqual(try executor.stop(id), .signaled(signal: SIGKILL))
        let took = milliseconds(since: start)
        XCTAssertGreaterThanOrEqual(took, grace, "SIGKILL came before the grace period ended")
        XCTAssertLessThan(took, grace + 1_500, "SIGKILL came long after the grace period")
    }

    func testGrandchildDiesWithTheGroupOnStop() throws {
        let id = try run(shell("sleep 300 & wait"))
        let pgid = try XCTUnwrap(group(of: id))
        XCTAssertTrue(eventually { liveProcesses(inGroup: pgid).count == 3 }, "the shim, sh and its sleep should all run")
        XCTAssertEqual(try executor.stop(id), .signaled(signal: SIGTERM))
        XCTAssertTrue(eventually { liveProcesses(inGroup: pgid).isEmpty },
                      "left alive after stop: \(liveProcesses(inGroup: pgid))")
    }

    func testRestOfTheGroupIsKilledWhenTheMainProcessExits() throws {
        let id = try run(shell("sleep 300 & echo started"))
        let pgid = try XCTUnwrap(group(of: id))
        XCTAssertEqual(try executor.wait(id, timeoutMillis: 5_000), .exited(code: 0))
        XCTAssertEqual(text(try executor.logs(id, stream: .stdout)), "started\n")
        XCTAssertTrue(eventually { liveProcesses(inGroup: pgid).isEmpty },
                      "left alive after exit: \(liveProcesses(inGroup: pgid))")
    }

    func testRemoveRefusesARunningTaskThenDeletesItsFiles() throws {
        let id = try run(shell("sleep 300"))
        XCTAssertThrowsError(try executor.remove(id)) { error in
            XCTAssertEqual(error as? ExecutorError, .invalidState(id, .running, operation: "remove"))
        }
        _ = try executor.stop(id, graceMillis: 1_000)
        try executor.remove(id)
        XCTAssertFalse(FileSystem.exists("\(root)/containers/\(id)"))
        XCTAssertThrowsError(try executor.inspect(id)) { error in
            XCTAssertEqual(error as? ExecutorError, .unknownContainer(id))
        }
    }

    func testMissingCommandFailsWithAClearError() throws {
        let id = try executor.prepare(TaskSpec(command: ["/nonexistent/command"]))
        XCTAssertThrowsError(try executor.start(id, onExit: { _ in })) { error in
            XCTAssertEqual(error as? ExecutorError, .commandUnavailable(command: "/nonexistent/command", reason: .notFound))
            XCTAssertTrue("\(error)".contains("cannot run /nonexistent/command: no such file"), "\(error)")
        }
        XCTAssertEqual(try executor.inspect(id).state, .created)
    }

    func testChildInheritsOnlyStandardDescriptors() throws {
        // A descriptor well above the one ls opens, so seeing it in the child means it leaked.
        let leaked = try File.open("\(root)/probe", flags: O_RDWR | O_CREAT)
        XCTAssertGreaterThan(leaked.descriptor, 3)
        let id = try run(shell("ls /proc/self/fd"))
        XCTAssertEqual(try executor.wait(id, timeoutMillis: 5_000), .exited(code: 0))
        let descriptors = text(try executor.logs(id, stream: .stdout)).split(separator: "\n")
        // 0, 1, 2 and the descriptor ls opened to read the directory.
        XCTAssertLessThanOrEqual(descriptors.count, 4, "descriptors leaked into the child: \(descriptors)")
        XCTAssertFalse(descriptors.contains(Substring(String(leaked.descriptor))), "fd \(leaked.descriptor) leaked")
    }

    func testSignalMaskIsResetInTheChild() throws {
        var blocked = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGUSR1)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        let id = try run(shell("grep SigBlk /proc/self/status"))
        XCTAssertEqual(try executor.wait(id, timeoutMillis: 5_000), .exited(code: 0))
        XCTAssertEqual(text(try executor.logs(id, stream: .stdout)), "SigBlk:\t0000000000000000\n")
    }

    func testOutputLargerThanThePipeBufferIsDrainedWhileNobodyReads() throws {
        let id = try run(shell("head -c 1048576 /dev/zero", logLimits: LogLimits(maxFileBytes: 256 << 10, maxFiles: 2)))
        XCTAssertEqual(try executor.wait(id, timeoutMillis: 10_000), .exited(code: 0))
        XCTAssertEqual(try executor.logs(id, stream: .stdout).count, 512 << 10)
    }

    func testStopAfterExitReturnsTheRecordedStatus() throws {
        let id = try run(shell("exit 4"))
        XCTAssertEqual(try executor.wait(id, timeoutMillis: 5_000), .exited(code: 4))
        XCTAssertEqual(try executor.stop(id), .exited(code: 4))
        XCTAssertThrowsError(try executor.start(id, onExit: { _ in })) { error in
            XCTAssertEqual(error as? ExecutorError, .invalidState(id, .exited, operation: "start"))
        }
    }

    func testRemoveFromTheExitCallbackWorks() throws {
        let removed = OneShot<Bool>()
        let executor = self.executor!
        let id = try executor.prepare(shell("exit 0"))
        try executor.start(id) { _ in removed.set((try? executor.remove(id)) != nil) }
        XCTAssertEqual(removed.wait(timeoutMillis: 5_000), true)
        XCTAssertThrowsError(try executor.inspect(id))
    }

    func testHealthCheckRunsOnTheHostWithTheTasksEnvironment() throws {
        let marker = root + "/ready"
        var spec = shell("sleep 0.3; touch \(marker); sleep 300", environment: ["MARKER=\(marker)"])
        spec.healthCheck = HealthCheck(command: ["/bin/sh", "-c", "test -f $MARKER"], intervalMillis: 100,
                                       timeoutMillis: 2_000, retries: 1)
        let id = try run(spec)
        XCTAssertEqual(try executor.inspect(id).health, .starting)
        XCTAssertTrue(try eventually { try executor.inspect(id).health == .healthy })
        try FileSystem.remove(marker)
        XCTAssertTrue(try eventually { try executor.inspect(id).health == .unhealthy })
        let result = try executor.exec(id, command: ["/bin/sh", "-c", "echo $MARKER; exit 2"], timeoutMillis: 2_000)
        XCTAssertEqual(result, ExecResult(status: .exited(code: 2), output: Array("\(marker)\n".utf8), timedOut: false))
        XCTAssertEqual(try executor.stop(id), .signaled(signal: SIGTERM))
    }

    func testTaskRunsInAGroupOfItsOwnLedByItsShim() throws {
        let id = try run(shell("sleep 300"))
        let pid = try XCTUnwrap(try executor.inspect(id).pid)
        let shim = try XCTUnwrap(group(of: id))
        XCTAssertNotEqual(pid, shim, "inspect shows the task's own process, not its shim")
        XCTAssertEqual(ProcessTable.parent(of: pid), shim)
        XCTAssertEqual(getpgid(pid), shim, "the task is in its shim's group, so stop reaches its children")
        XCTAssertNotEqual(getpgid(pid), getpgrp())
        XCTAssertEqual(try executor.stop(id), .signaled(signal: SIGTERM))
    }

    /// A command that is a directory, or a file without an execute bit, fails the start with
    /// that reason (the process API turns it into exit code 126; a missing one into 127).
    func testACommandThatIsNotExecutableFailsTheStartWithThatReason() throws {
        let script = root + "/script"
        XCTAssertTrue(FileManager.default.createFile(atPath: script, contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o644]))
        for command in [script, root] {
            let id = try executor.prepare(TaskSpec(command: [command]))
            XCTAssertThrowsError(try executor.start(id, onExit: { _ in })) { error in
                XCTAssertEqual(error as? ExecutorError, .commandUnavailable(command: command, reason: .notExecutable))
            }
        }
        var spec = TaskSpec(command: ["only-in-my-path"])
        spec.environment = ["PATH=\(root)/bin"]
        try FileSystem.makeDirectories(root + "/bin")
        XCTAssertTrue(FileManager.default.createFile(atPath: root + "/bin/only-in-my-path", contents: Data("#!/bin/sh\necho found\n".utf8),
                                                     attributes: [.posixPermissions: 0o755]))
        let found = try run(spec)
        XCTAssertEqual(try executor.wait(found, timeoutMillis: 5_000), .exited(code: 0))
        XCTAssertEqual(text(try executor.logs(found, stream: .stdout)), "found\n", "looked up in the PATH of the task's environment")
    }
}
