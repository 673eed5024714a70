import Foundation
import Glibc
import Platform
import XCTest

@testable import Executor

/// The OCI backend against real runc containers of a busybox root file system: exit codes and
/// logs, isolation (PID 1, hostname, no host processes, masked and read-only paths), limits
/// (OOM kill, pids), stop with grace, and that no container, cgroup, mount, bundle or process is
/// left behind, also when a test fails (tear-down removes and then asserts).
final class OCIExecutorTests: OCITestCase {
    func testExitCodeAndOutputAreReported() throws {
        let callback = OneShot<ExitStatus>()
        let id = try run(containerShell("echo hi; echo oops >&2; exit 3", rootfs: rootfs)) { callback.set($0) }
        XCTAssertEqual(try executor.wait(id, timeoutMillis: 10_000), .exited(code: 3))
        XCTAssertEqual(callback.wait(timeoutMillis: 5_000), .exited(code: 3))
        XCTAssertEqual(try output(id), "hi\n")
        XCTAssertEqual(try output(id, .stderr), "oops\n")
        let info = try executor.inspect(id)
        XCTAssertEqual(info.state, .exited)
        XCTAssertNotNil(info.pid)
        XCTAssertNotNil(info.startedAt)
        try executor.remove(id)
        XCTAssertEqual(executor.cgroupDirectories(id), [], "cgroups must go with the container")
    }

    func testContainerIsPIDOneWithItsOwnHostnameAndNoHostProcesses() throws {
        let spec = containerShell("echo pid=$$; hostname; ls -d /proc/[0-9]* | wc -l", rootfs: rootfs) {
            $0.hostname = "web-1"
        }
        let id = try run(spec)
        XCTAssertEqual(try executor.wait(id, timeoutMillis: 10_000), .exited(code: 0))
        let lines = try output(id).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        XCTAssertEqual(lines.first, "pid=1")
        XCTAssertEqual(lines.dropFirst().first, "web-1")
        // sh, and ls (wc reads the pipe): nothing of the host's.
        XCTAssertLessThanOrEqual(Int(lines.last ?? "") ?? 99, 3, "host processes are visible: \(lines)")
    }

    func testOutOfMemoryKillIsReported() throws {
        guard executor.runtime.reportsOOMKills else {
            throw XCTSkip("\(executor.runtime.path) has no run --keep (crun before 1.9): its cgroups are gone before the OOM counter is read")
        }
        let spec = containerShell("head -c 200000000 /dev/zero | tail", rootfs: rootfs) {
            $0.resources.memoryBytes = 32 << 20
        }
        let id = try run(spec)
        XCTAssertEqual(try executor.wait(id, timeoutMillis: 20_000), .oomKilled)
        XCTAssertEqual(ExitStatus.oomKilled.exitCode, 137)
    }

    func testPidsLimitHolds() throws {
        let script = "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; "
            + "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 30 & done; echo done"
        let id = try run(containerShell(script, rootfs: rootfs) { $0.resources.pidsLimit = 6 })
        _ = try executor.wait(id, timeoutMillis: 10_000)
        XCTAssertEqual(try output(id).split(separator: "\n").first, "6")
        let errors = try output(id, .stderr)
        XCTAssertTrue(errors.contains("fork"), "forks beyond the limit must fail: \(errors)")
    }

    func testStopWithTrappedTermReturnsPromptly() throws {
        let id = try run(containerShell("trap 'exit 3' TERM; echo ready; sleep 300 & wait", rootfs: rootfs))
        XCTAssertTrue(try eventually(timeoutMillis: 10_000) { try output(id).contains("ready") })
        let start = monotonicNanoseconds()
        XCTAssertEqual(try executor.stop(id, graceMillis: 5_000), .exited(code: 3))
        XCTAssertLessThan(milliseconds(since: start), 3_000, "a container that exits on TERM must not wait for the grace")
    }

    func testInitIgnoringTermIsKilledAfterTheGracePeriod() throws {
        // PID 1 without a TERM handler ignores TERM (the kernel's rule for namespace inits).
        let grace = 400
        let id = try run(containerShell("echo ready; sleep 300", rootfs: rootfs, graceMillis: grace))
        XCTAssertTrue(try eventually(timeoutMillis: 10_000) { try output(id).contains("ready") })
        let start = monotonicNanoseconds()
        XCTAssertEqual(try executor.stop(id), .signaled(signal: SIGKILL))
        let took = milliseconds(since: start)
        XCTAssertGreaterThanOrEqual(took, grace, "SIGKILL came before the grace period ended")
        XCTAssertLessThan(took, grace + 3_000, "SIGKILL came long after the grace period")
    }

    func testMaskedAndReadOnlyPaths() throws {
        let script = """
            echo timers=$(cat /proc/timer_list | wc -c)
            echo keys=$(cat /proc/keys | wc -c)
            echo firmware=$(ls /sys/firmware | wc -l)
            echo 1 > /proc/sys/vm/drop_caches 2>/dev/null && echo sys-writable || echo sys-readonly
            echo x > /proc/sysrq-trigger 2>/dev/null && echo sysrq-writable || echo sysrq-readonly
            touch /probe 2>/dev/null && echo root-writable || echo root-readonly
            grep -c NoNewPrivs:.1 /proc/self/status
            grep CapEff /proc/self/status
            """
        let id = try run(containerShell(script, rootfs: rootfs) { $0.readOnlyRootfs = true })
        XCTAssertEqual(try executor.wait(id, timeoutMillis: 10_000), .exited(code: 0))
        let lines = try output(id).split(separator: "\n").map(String.init)
        let errors = try output(id, .stderr)
        // Non-empty on the host (this kernel has no /proc/kcore), hidden in the container.
        XCTAssertEqual(Array(lines.prefix(7)),
                       ["timers=0", "keys=0", "firmware=0", "sys-readonly", "sysrq-readonly", "root-readonly", "1"],
                       errors)
        // Docker's default set (14 capabilities), not the full 41.
        XCTAssertEqual(lines.last, "CapEff:\t00000000a80425fb")
    }

    func testWritesStayInTheContainerAndUserIsResolved() throws {
        let first = try run(containerShell("echo data > /tmp/file; id -u; id -g", rootfs: rootfs) { $0.user = "nobody" })
        XCTAssertEqual(try executor.wait(first, timeoutMillis: 10_000), .exited(code: 0))
        XCTAssertEqual(try output(first), "65534\n65534\n")
        XCTAssertFalse(FileSystem.exists(rootfs + "/tmp/file"), "a container wrote into the shared lower layer")
        let second = try run(containerShell("cat /tmp/file", rootfs: rootfs) { $0.user = "0:65534" })
        XCTAssertEqual(try executor.wait(second, timeoutMillis: 10_000), .exited(code: 1))
        XCTAssertThrowsError(try executor.prepare(containerShell("true", rootfs: rootfs) { $0.user = "alice" })) {
            XCTAssertEqual($0 as? OCIError, .unknownUser("alice"))
        }
    }

    func testEnvironmentAndWorkingDirectory() throws {
        let spec = containerShell("echo $FOO; pwd; echo $PATH", rootfs: rootfs) {
            $0.environment = ["FOO=bar baz"]
            $0.workingDirectory = "/tmp"
        }
        let id = try run(spec)
        XCTAssertEqual(try executor.wait(id, timeoutMillis: 10_000), .exited(code: 0))
        XCTAssertEqual(try output(id), "bar baz\n/tmp\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n")
    }

    func testMissingExecutableFailsStartWithTheRuntimesReason() throws {
        let id = try executor.prepare(TaskSpec(command: ["/nonexistent"]).with { $0.rootfs = rootfs })
        XCTAssertThrowsError(try executor.start(id, onExit: { _ in XCTFail("no exit for a container that never ran") })) {
            XCTAssertTrue("\($0)".contains("nonexistent"), "\($0)")
        }
        XCTAssertEqual(try executor.inspect(id).state, .created)
    }

    func testRemoveRefusesARunningContainer() throws {
        let id = try run(containerShell("sleep 300", rootfs: rootfs))
        XCTAssertThrowsError(try executor.remove(id)) {
            XCTAssertEqual($0 as? ExecutorError, .invalidState(id, .running, operation: "remove"))
        }
        XCTAssertEqual(try executor.stop(id, graceMillis: 0), .signaled(signal: SIGKILL))
        try executor.remove(id)
        XCTAssertThrowsError(try executor.inspect(id))
    }

    func testExecRunsInsideTheContainerAndTimesOut() throws {
        let id = try run(containerShell("echo marker > /tmp/m; sleep 300", rootfs: rootfs) { $0.environment = ["X=inside"] })
        XCTAssertTrue(eventually(timeoutMillis: 10_000) {
            (try? executor.exec(id, command: ["cat", "/tmp/m"], timeoutMillis: 5_000).status) == .exited(code: 0)
        })
        let result = try executor.exec(id, command: ["sh", "-c", "echo $X $$; exit 4"], timeoutMillis: 5_000)
        XCTAssertEqual(result.status, .exited(code: 4))
        XCTAssertTrue(text(result.output).hasPrefix("inside "), text(result.output))
        XCTAssertNotEqual(text(result.output), "inside 1\n", "exec must not be the container's init")
        let start = monotonicNanoseconds()
        let slow = try executor.exec(id, command: ["sleep", "30"], timeoutMillis: 200)
        XCTAssertTrue(slow.timedOut)
        XCTAssertLessThan(milliseconds(since: start), 3_000)
        XCTAssertEqual(try executor.stop(id, graceMillis: 0), .signaled(signal: SIGKILL))
        XCTAssertThrowsError(try executor.exec(id, command: ["true"], timeoutMillis: 1_000))
    }

    /// An exec whose timeout fires while `runc exec` is still setting it up (before its pid file)
    /// must leave nothing in the container that keeps a later stop from ending it.
    func testExecsTimedOutDuringSetupDoNotBlockStop() throws {
        let id = try run(containerShell("sleep 300", rootfs: rootfs))
        let initPid = try XCTUnwrap(try executor.inspect(id).pid)
        for timeout in [0, 1, 2, 5, 10, 20, 30, 50, 80, 150] {
            let result = try executor.exec(id, command: ["sleep", "30"], timeoutMillis: timeout)
            XCTAssertTrue(result.timedOut, "timeout \(timeout) ms: \(result)")
            // Nothing of the exec may be left in the container's PID namespace, not even a zombie
            // for the host's init to reap: the container's init could not finish exiting until then.
            XCTAssertEqual(processes(inPIDNamespaceOf: initPid), [initPid], "after a timeout of \(timeout) ms")
        }
        XCTAssertEqual(try executor.stop(id, graceMillis: 0), .signaled(signal: SIGKILL))
    }

    private func processes(inPIDNamespaceOf pid: pid_t) -> [pid_t] {
        func namespace(_ pid: pid_t) -> String? { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/pid") }
        guard let target = namespace(pid) else { return [] }
        return ProcessTable.allPIDs().filter { namespace($0) == target }.sorted()
    }

    func testHealthGoesStartingHealthyUnhealthy() throws {
        let script = "sleep 0.4; touch /tmp/ready; sleep 1; rm /tmp/ready; sleep 300"
        let id = try run(containerShell(script, rootfs: rootfs) {
            $0.healthCheck = HealthCheck(command: ["test", "-f", "/tmp/ready"], intervalMillis: 100, timeoutMillis: 2_000,
                                         retries: 2)
        })
        XCTAssertEqual(try executor.inspect(id).health, .starting)
        XCTAssertTrue(try eventually(timeoutMillis: 10_000) { try executor.inspect(id).health == .healthy })
        XCTAssertTrue(try eventually(timeoutMillis: 10_000) { try executor.inspect(id).health == .unhealthy })
        XCTAssertEqual(try executor.stop(id, graceMillis: 0), .signaled(signal: SIGKILL))
    }

    func testRestartedNodeRemovesContainersItNoLongerKnows() throws {
        let id = try run(containerShell("sleep 300", rootfs: rootfs))
        let pid = try XCTUnwrap(try executor.inspect(id).pid)
        // A second executor on the same data directory: the node after a crash.
        let restarted = try OCIExecutor(root: executor.root, runtimePath: executor.runtime.path, cgroupParent: cgroupParent)
        XCTAssertEqual(try restarted.removeLeftovers(), [id.rawValue])
        XCTAssertEqual(try executor.wait(id, timeoutMillis: 10_000), .signaled(signal: SIGKILL))
        XCTAssertTrue(eventually { kill(pid, 0) != 0 }, "the container's process survived")
        XCTAssertEqual(restarted.cgroupDirectories(id), [])
        XCTAssertFalse(FileSystem.exists("\(executor.root)/containers/\(id)"))
        XCTAssertEqual(mounts(containing: root), [])
    }

    func testLogsRotate() throws {
        let spec = containerShell("seq 1 3000", rootfs: rootfs) { $0.logLimits = LogLimits(maxFileBytes: 1_000, maxFiles: 3) }
        let id = try run(spec)
        XCTAssertEqual(try executor.wait(id, timeoutMillis: 10_000), .exited(code: 0))
        let kept = try executor.logs(id, stream: .stdout)
        XCTAssertLessThanOrEqual(kept.count, 3_000)
        XCTAssertTrue(text(kept).hasSuffix("2999\n3000\n"))
    }
}

extension TaskSpec {
    func with(_ change: (inout TaskSpec) -> Void) -> TaskSpec {
        var copy = self
        change(&copy)
        return copy
    }
}
