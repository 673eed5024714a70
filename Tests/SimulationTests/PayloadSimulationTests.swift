import XCTest
@testable import ClusterState
@testable import Dispatcher
@testable import Simulation

/// Secrets and configs in the control-plane simulator: under partitions, crashes and leader
/// changes every agent holds exactly the payloads its unfinished tasks reference after each
/// message it applies, never prepares a task without them, and ends in step with the leader;
/// and the checks catch a dispatcher that drops payloads or never tells a node to forget one.
final class PayloadSimulationTests: XCTestCase {
    private func options(_ seed: UInt64) -> ControlPlaneOptions {
        var options = ControlPlaneOptions(seed: seed)
        options.workers = seed % 2 == 0 ? 5 : 3
        options.durationMillis = 20_000
        return options
    }

    func testSecretsReachExactlyTheNodesThatNeedThemUnderFaults() {
        var total = ControlPlaneReport()
        for seed in UInt64(1)...4 {
            let report = ControlPlaneSimulator(options: options(seed)).run()
            XCTAssertNil(report.violation?.message, "seed \(seed)")
            total.merge(report)
        }
        XCTAssertGreaterThan(total.payloadChecks, 100)
        XCTAssertGreaterThan(total.assignmentMessagesSplit, 0, "no message was large enough to go in parts")
        XCTAssertGreaterThan(total.agentsPayloadsInSync, 0, "no agent was compared with the leader's payloads")
    }

    /// A planted bug: the leader's messages lose their payloads (the node gets the task, never
    /// its secret). The first agent given a task that references one reports it missing.
    func testTheInvariantsCatchADispatcherThatDropsPayloads() {
        let simulator = ControlPlaneSimulator(options: options(1))
        simulator.tamperAssignments = { $0.payloads = [] }
        let violation = simulator.run().violation?.message ?? ""
        XCTAssertTrue(violation.contains("secret delivery") && violation.contains("was not delivered"), violation)
    }

    /// A planted bug: the leader never tells a node to forget a payload; once a node's last
    /// task that needs a secret finishes or moves, the node still holds it.
    func testTheInvariantsCatchADispatcherThatNeverForgets() {
        let simulator = ControlPlaneSimulator(options: options(1))
        simulator.tamperAssignments = { $0.forget = [] }
        let violation = simulator.run().violation?.message ?? ""
        XCTAssertTrue(violation.contains("secret delivery") && violation.contains("none of its unfinished tasks references"), violation)
    }

    /// The checks themselves on hand-made views: exact holdings pass; a missing secret, a
    /// leftover one and a task prepared without its secret are reported.
    func testTheInvariantsCatchMissingAndLeftoverPayloads() {
        let t0 = Timestamp(millisecondsSinceEpoch: 0)
        func task(_ id: String, _ secrets: [String], state: TaskState = .assigned) -> SwarmTask {
            var container = ContainerSpec(image: "busybox")
            container.secrets = secrets.map { SecretReference(secretID: $0, secretName: $0) }
            return SwarmTask(id: id, createdAt: t0, serviceID: "s", slot: 1, nodeID: "n1", spec: TaskTemplate(containerSpec: container),
                             status: TaskStatus(timestamp: t0, state: state, message: ""))
        }
        func key(_ id: String) -> PayloadKey { PayloadKey(kind: .secret, id: id) }
        let tasks = [task("t1", ["a"]), task("t2", ["b"], state: .complete)]
        XCTAssertEqual(PayloadInvariants.problems(node: "n1", held: [key("a")], tasks: tasks), [])
        XCTAssertEqual(PayloadInvariants.problems(node: "n1", held: [], tasks: tasks),
                       ["n1 has task t1 referencing secret a but that was not delivered"])
        XCTAssertEqual(PayloadInvariants.problems(node: "n1", held: [key("a"), key("b")], tasks: tasks),
                       ["n1 holds secret b, which none of its unfinished tasks references"])
        XCTAssertEqual(PayloadInvariants.missing(for: tasks[0], held: [key("b")]), [key("a")])
    }
}
