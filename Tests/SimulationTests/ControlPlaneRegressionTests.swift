import XCTest
@testable import Simulation

/// Seeds on which `swarmctl simulate --control-plane` (30 s, all faults) found the production
/// orchestrator breaking an invariant. Each test replays its seed and expects every invariant to
/// hold: it fails until the orchestrator is fixed. Replay one with
/// `swarmctl simulate --control-plane --workers 12 --seed S --trace` to see its timeline.
///
/// A seed's schedule depends on the simulator and on the orchestrator's own decisions (task
/// ids, placements): after a change to either, check that these seeds still show the bug, and
/// look for fresh ones with `--seeds 500 --workers 12` if not.
final class ControlPlaneRegressionTests: XCTestCase {
    private func replay(_ seed: UInt64, workers: Int, durationMillis: Int = 30_000, file: StaticString = #filePath, line: UInt = #line) {
        var options = ControlPlaneOptions(seed: seed)
        options.workers = workers
        options.durationMillis = durationMillis
        let report = ControlPlaneSimulator(options: options).run()
        XCTAssertNil(report.violation?.message, "seed \(seed)", file: file, line: line)
    }

    /// Invariant 2. A start-first update of a global service is superseded by the next update
    /// before its new task on worker-10 runs (v3 task running at 21.2 s, v4 update committed at
    /// 20.9 s): the v1 task it was to replace is never shut down, and the node runs v1 and v3
    /// side by side until a later stop-first update reaches it, 12.9 s after the heal.
    func testSeed114InterruptedStartFirstUpdateLeavesTwoTasksOnANode() {
        replay(114, workers: 12)
    }

    /// The same on worker-11: v2 task (start-first) runs at 24.3 s, v3 update committed at 24.0 s;
    /// the v1 task keeps running beside it after the heal.
    func testSeed19InterruptedStartFirstUpdateLeavesTwoTasksOnANode() {
        replay(19, workers: 12)
    }

    /// A replicated service too (`--workers 5 --duration 60s --seed 3`): the v7 start-first
    /// task of slot 6 is placed on worker-03 just after it crashed, the stop-first v8 update
    /// commits, worker-03 restarts and runs the v7 task at 54.0 s, and slot 6's v6 task on
    /// worker-01 is never shut down.
    func testSeed3InterruptedStartFirstUpdateLeavesTwoTasksInASlot() {
        replay(3, workers: 5, durationMillis: 60_000)
    }
}
