import XCTest
@testable import Simulation

/// Issue 19 in the control-plane simulator, which runs the shipped dispatcher types
/// (`AssignmentDispatcher`, `AssignmentReceiver`, `AcknowledgementGuard`). Replay with
/// `swarmctl simulate --control-plane --workers 2 --duration 30s --faults manager-isolated
/// --managers-run-tasks --ack-timeout off --workers-without-networking 0 --seed 62 --trace`.
final class AssignmentLossRegressionTests: XCTestCase {
    /// Seed 36 (before issue 16's workload): manager-2 (a follower that runs tasks) is isolated; at 27.3 s the leader
    /// assigns it flaky5's slot 2 task (the change is lost); the isolation heals at 28.0 s and
    /// the next change for manager-2 (a global task) arrives before its heartbeat does. Before
    /// the fix manager-2 applied that change over the hole and acknowledged it, and slot 2 stayed
    /// `assigned` forever ("not converged 60000 ms after the heal: service flaky5: 1/2 running,
    /// slot 2 runs nothing"). Now it sees the hole, asks for the full set and runs the task.
    /// The acknowledgement guard is off, so the stream alone must converge. The workload gained
    /// networks and published ports (issue 16), and then the shipped agent core and the write path
    /// (issue 15), and network tables sent in parts (issue 16), each changing every seed's random
    /// draws: seed 62 is now one where manager-2 sees such a hole (found by replaying seeds 1...100
    /// with these options and `--trace`; 62 and 87 do).
    func testSeed62ChangeLostWhileAFollowerManagerIsIsolatedReachesItAfterTheHeal() {
        var options = ControlPlaneOptions(seed: 62)
        options.workers = 2
        options.faults = [.managerIsolated]
        options.managersRunTasks = true
        options.acknowledgementTimeoutMillis = nil
        // Every worker runs task networking, as when the seed was found (a worker without it
        // changes where tasks go, and so the seed).
        options.workersWithoutNetworking = 0
        let simulator = ControlPlaneSimulator(options: options)
        var trace: [String] = []
        simulator.trace = { trace.append($0) }
        let report = simulator.run()
        XCTAssertNil(report.violation?.message)
        XCTAssertEqual(report.convergenceMillis.count, 1)
        XCTAssertTrue(trace.contains { $0.contains("manager-2 assignment change") && $0.contains("asking for the full set") },
                      "the seed no longer loses a change to manager-2: find a new one with --seeds 100 and the options above")
    }

    /// The backstop on its own: with managers running tasks and every fault, seeds converge and
    /// the guard never has to fail a task (the stream delivers everything).
    func testManagersRunningTasksConvergeWithoutUnacknowledgedFailures() {
        for seed in UInt64(1)...4 {
            var options = ControlPlaneOptions(seed: seed)
            options.workers = 3
            options.durationMillis = 20_000
            options.managersRunTasks = true
            let report = ControlPlaneSimulator(options: options).run()
            XCTAssertNil(report.violation?.message, "seed \(seed)")
            XCTAssertEqual(report.unacknowledgedFailures, 0, "seed \(seed)")
        }
    }
}
