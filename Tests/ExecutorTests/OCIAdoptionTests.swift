import Foundation
import Glibc
import Platform
import XCTest

@testable import Executor

/// Containers outlive the executor that started them (the node process restarting): a second
/// executor on the same node directory re-adopts them through their shim. The output written
/// while no executor read it is kept, the exit of a container that ended meanwhile is known,
/// and leftovers nobody keeps are removed.
final class OCIAdoptionTests: OCITestCase {
    /// The node restarts: a fresh executor on the same directory (the old one is dropped
    /// without stopping anything, as when its process dies).
    private func restartedExecutor() throws -> OCIExecutor {
        try OCIExecutor(root: root + "/node", runtimePath: executor.runtime.path, cgroupParent: cgroupParent)
    }

    func testARunningContainerIsReadoptedWithItsPidOutputExitAndHealth() throws {
        var spec = containerShell("i=0; while [ $i -lt 40 ]; do echo line $i; i=$((i+1)); sleep 0.05; done; exit 7", rootfs: rootfs)
        spec.healthCheck = HealthCheck(command: ["/bin/true"], intervalMillis: 100, timeoutMillis: 5_000, retries: 1, startPeriodMillis: 0)
        let id = try run(spec)
        let pid = try XCTUnwrap(try executor.inspect(id).pid)
        let second = try restartedExecutor()
        let exit = OneShot<ExitStatus>()
        XCTAssertEqual(try second.adopt(id, spec: spec) { exit.set($0) }, .running(pid: pid))
        executor = second
        XCTAssertEqual(try executor.inspect(id).pid, pid)
        let deadline = Date().addingTimeInterval(10)
        while try executor.inspect(id).health != .healthy && Date() < deadline { usleep(20_000) }
        XCTAssertEqual(try executor.inspect(id).health, .healthy, "the health check runs again")
        XCTAssertEqual(exit.wait(timeoutMillis: 15_000), .exited(code: 7))
        // In this process the first executor's pump still reads too (a dead node's would not),
        // so the two may interleave chunks: every line is there once, in whichever order.
        XCTAssertEqual(try output(id).split(separator: "\n").sorted(), (0..<40).map { "line \($0)" }.sorted(),
                       "every line, before and after the restart, once")
        try executor.remove(id)
    }

    func testAContainerThatEndedWhileNoExecutorWatchedReportsItsExit() throws {
        let spec = containerShell("exit 4", rootfs: rootfs)
        let id = try run(spec)
        XCTAssertEqual(try executor.wait(id, timeoutMillis: 10_000), .exited(code: 4))
        let second = try restartedExecutor()
        XCTAssertEqual(try second.adopt(id, spec: spec) { _ in }, .exited(.exited(code: 4)))
        executor = second
        try executor.remove(id)
    }

    func testLeftoversNotKeptAreRemovedAndKeptOnesStay() throws {
        let spec = containerShell("sleep 30", rootfs: rootfs, graceMillis: 0)
        let kept = try run(spec)
        let dropped = try run(spec)
        let second = try restartedExecutor()
        XCTAssertEqual(try second.removeLeftovers(keeping: [kept]), [dropped.rawValue])
        XCTAssertEqual(try second.adopt(kept, spec: spec) { _ in }, .running(pid: try executor.inspect(kept).pid))
        XCTAssertEqual(try second.adopt(dropped, spec: spec) { _ in }, .gone)
        executor = second
    }
}
