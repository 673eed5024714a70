import XCTest
@testable import Simulation

/// Seeds on which `swarmctl simulate --control-plane --workers 7` (30 s, all faults) found the
/// production orchestrator breaking an invariant. Each test replays its seed and expects every
/// invariant to hold: it fails until the orchestrator is fixed. Replay one with
/// `swarmctl simulate --control-plane --workers 7 --seed S --trace` to see its timeline.
///
/// Seeds are tied to the simulator's schedule: a change to the workload, the nemesis or the
/// agents reshuffles what a seed does, so refresh these after such a change.
final class ControlPlaneRegressionTests: XCTestCase {
    private func replay(_ seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        var options = ControlPlaneOptions(seed: seed)
        options.workers = 7
        let report = ControlPlaneSimulator(options: options).run()
        XCTAssertNil(report.violation?.message, "seed \(seed)", file: file, line: line)
    }

    /// A start-first update of a global service is superseded by the next update before it shut
    /// down the task it replaced: the node keeps running both (v5 and v6 here) through the
    /// following updates and after the heal ("slot running twice", invariant 2).
    func testSeed359InterruptedStartFirstUpdateLeavesTwoTasksOnANode() {
        replay(359)
    }

    /// The same on worker-07: its v6 task (start-first update) starts running 140 ms before the
    /// v7 update commits; the v4 task it replaced is never shut down, through v7 and a
    /// stop-first v8.
    func testSeed112InterruptedStartFirstUpdateLeavesTwoTasksOnANode() {
        replay(112)
    }
}
