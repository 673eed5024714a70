import Glibc
import Platform
import XCTest

@testable import Executor

/// Host helpers (runc, tar) run to completion with their output drained; a timed-out helper must
/// come back even when something it started outlives it and holds its output open.
final class HostCommandTests: XCTestCase {
    func testOutputAndExitStatus() throws {
        let result = try HostCommand.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
        XCTAssertEqual(result.status, .exited(code: 3))
        XCTAssertEqual(String(decoding: result.stdout, as: UTF8.self), "out\n")
        XCTAssertEqual(result.errorText, "err")
        XCTAssertFalse(result.timedOut)
    }

    func testATimedOutHelperReturnsThoughAnOrphanKeepsItsOutputOpen() throws {
        // The orphan is in its own session, out of reach of the helper's group kill, and keeps
        // stdout open; it prints its pid so the test can end it.
        let script = "setsid sh -c 'echo $$; exec sleep 60' & sleep 60"
        let started = monotonicNanoseconds()
        let result = try HostCommand.run(["sh", "-c", script], timeoutMillis: 100, drainMillis: 300)
        let elapsedMillis = (monotonicNanoseconds() - started) / 1_000_000
        let orphan = pid_t(String(decoding: result.stdout, as: UTF8.self).trimmingTrailingWhitespace())
        if let orphan, orphan > 0 { _ = kill(orphan, SIGKILL) }
        XCTAssertNotNil(orphan, "the orphan did not report its pid: \(result.stdout)")
        XCTAssertTrue(result.timedOut)
        XCTAssertEqual(result.status, .signaled(signal: SIGKILL))
        XCTAssertLessThan(elapsedMillis, 30_000, "the helper waited for its orphan to close the pipe")
    }
}
