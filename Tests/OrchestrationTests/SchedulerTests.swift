import XCTest
import ClusterState
@testable import Orchestration

final class SchedulerTests: XCTestCase {
    func testSpreadTwelveTasksOverFiveNodes() {
        var harness = Harness(nodes: ["n1", "n2", "n3", "n4", "n5"])
        harness.createService(Harness.spec(replicas: 12))
        harness.converge()
        let counts = harness.runningPerNode()
        XCTAssertEqual(counts.values.reduce(0, +), 12)
        XCTAssertEqual(counts.count, 5)
        XCTAssertLessThanOrEqual(counts.values.max()! - counts.values.min()!, 1)
    }

    func testSpreadCountsOtherServicesToo() {
        var harness = Harness(nodes: ["n1", "n2"])
        harness.createService(Harness.spec(name: "a", replicas: 1), id: "s1")
        harness.converge()
        let busy = harness.running("s1")[0].nodeID!
        harness.createService(Harness.spec(name: "b", replicas: 1), id: "s2")
        harness.converge()
        XCTAssertNotEqual(harness.running("s2")[0].nodeID, busy, "fewest tasks overall breaks the tie")
    }

    func testPlacementPreferencesSpreadOverLabelValuesFirst() {
        var harness = Harness(nodes: ["n1"])
        harness.updateNode("n1") { $0.labels = ["zone": "a"] }
        harness.addNode("n2", labels: ["zone": "a"])
        harness.addNode("n3", labels: ["zone": "a"])
        harness.addNode("n4", labels: ["zone": "b"])
        var spec = Harness.spec(replicas: 6)
        spec.taskTemplate.placement = Placement(preferences: [PlacementPreference(spreadDescriptor: "node.labels.zone")])
        harness.createService(spec)
        harness.converge()
        let counts = harness.runningPerNode()
        XCTAssertEqual(counts["n4"], 3, "half the replicas in zone b")
        XCTAssertEqual((counts["n1"] ?? 0) + (counts["n2"] ?? 0) + (counts["n3"] ?? 0), 3)
    }

    func testResourceFilterAndPendingReason() throws {
        var harness = Harness(nodes: ["n1", "n2", "n3"], memory: 2 * gigabyte)
        harness.addNode("n4", labels: ["zone": "a"], memory: 64 * gigabyte)
        harness.addNode("n5", labels: ["zone": "b"], memory: 64 * gigabyte)
        harness.addNode("n6", memory: 64 * gigabyte)
        harness.updateNode("n6") { $0.availability = .drain }
        var spec = Harness.spec(replicas: 1)
        spec.taskTemplate.resources = ResourceRequirements(reservations: ResourceAmounts(memoryBytes: 4 * gigabyte))
        spec.taskTemplate.placement = Placement(constraints: ["node.labels.zone!=a", "node.labels.zone!=b"])
        harness.createService(spec)
        harness.reconcile()
        let task = try XCTUnwrap(harness.tasks().first)
        XCTAssertEqual(task.status.state, .pending)
        XCTAssertEqual(task.status.message,
                       "no suitable node (insufficient memory on 3 nodes; 1 node drained; 1 node not matching constraint node.labels.zone!=a; 1 node not matching constraint node.labels.zone!=b)")
        XCTAssertEqual(task.status.err, task.status.message)

        // Same reason next round: nothing is proposed.
        XCTAssertTrue(harness.reconcile().isEmpty)

        // Something changes: it is placed at once.
        harness.updateNode("n6") { $0.availability = .active }
        harness.reconcile()
        XCTAssertEqual(harness.state.tasks[task.id]?.nodeID, "n6")
        XCTAssertEqual(harness.state.tasks[task.id]?.status.state, .assigned)
    }

    func testReservationsFillNodesExactly() {
        var harness = Harness(nodes: ["n1", "n2"], memory: 4 * gigabyte, cpus: 2)
        var spec = Harness.spec(replicas: 5)
        spec.taskTemplate.resources = ResourceRequirements(reservations: ResourceAmounts(nanoCPUs: cpu, memoryBytes: gigabyte))
        harness.createService(spec)
        harness.converge()
        XCTAssertEqual(harness.runningPerNode(), ["n1": 2, "n2": 2], "2 CPUs per node, 1 per task")
        let pending = harness.tasks().filter { $0.status.state == .pending }
        XCTAssertEqual(pending.count, 1)
        XCTAssertEqual(pending.first?.status.message, "no suitable node (insufficient cpu on 2 nodes)")

        // A task that stops frees its reservation; the pending one takes it.
        harness.updateService { $0.mode = .replicated(replicas: 4) }
        harness.converge()
        XCTAssertEqual(harness.running().count, 4)
    }

    /// Reports of unschedulable tasks are split across entries: 100,000 of them made one 26.5 MB
    /// entry that no frame could carry, and the cluster wedged.
    func testPendingReasonsOfManyTasksAreSplitIntoBoundedCommands() throws {
        var harness = Harness()
        var spec = Harness.spec(replicas: 2_500)
        spec.taskTemplate.placement = Placement(constraints: ["node.labels.none==1"])
        harness.createService(spec)
        var statusBatches: [Int] = []
        for _ in 0..<3 {
            for case let .updateTaskStatuses(updates) in harness.reconcile() { statusBatches.append(updates.count) }
        }
        XCTAssertEqual(statusBatches.reduce(0, +), 2_500, "every pending task gets its reason once")
        XCTAssertGreaterThan(statusBatches.count, 1)
        XCTAssertTrue(statusBatches.allSatisfy { $0 <= 1_000 }, "\(statusBatches)")
        for command in harness.lastCommands {
            XCTAssertNil(ClusterLimits.entryRefusal(byteCount: CommandCodec.encode(command).count))
        }
        XCTAssertTrue(harness.refused.isEmpty, "\(harness.refused.prefix(1))")
    }

    func testMaxReplicasPerNode() {
        var harness = Harness()
        var spec = Harness.spec(replicas: 5)
        spec.taskTemplate.placement = Placement(maxReplicas: 1)
        harness.createService(spec)
        harness.converge()
        XCTAssertEqual(harness.runningPerNode(), ["n1": 1, "n2": 1, "n3": 1])
        let pending = harness.tasks().filter { $0.status.state == .pending }
        XCTAssertEqual(pending.count, 2)
        XCTAssertEqual(pending.first?.status.message, "no suitable node (max replicas per node reached on 3 nodes)")
        harness.addNode("n4")
        harness.converge()
        XCTAssertEqual(harness.running().count, 4)
    }

    func testConstraintsOnNodeFields() {
        var harness = Harness()
        for (constraints, expected) in [
            (["node.hostname==host-n2"], ["n2": 1]),
            (["node.id==n3"], ["n3": 1]),
            (["node.role==manager"], ["n1": 1]),
            (["node.role!=manager", "node.hostname!=host-n2"], ["n3": 1]),
            (["node.platform.os==linux", "node.platform.arch==amd64", "node.id==n1"], ["n1": 1]),
        ] as [([String], [String: Int])] {
            var one = Harness()
            var spec = Harness.spec(replicas: 1)
            spec.taskTemplate.placement = Placement(constraints: constraints)
            one.createService(spec)
            one.converge()
            XCTAssertEqual(one.runningPerNode(), expected, "\(constraints)")
        }
        var spec = Harness.spec(replicas: 1)
        spec.taskTemplate.placement = Placement(constraints: ["node.labels.zone=a"])
        harness.createService(spec)
        harness.reconcile()
        XCTAssertEqual(harness.tasks().first?.status.message,
                       "no suitable node (invalid constraint \"node.labels.zone=a\": expected KEY==VALUE or KEY!=VALUE)")
    }

    func testDownNodesAreNotUsedAndReportedAsDown() {
        var harness = Harness(nodes: ["n1", "n2"])
        harness.setNodeState("n1", .down)
        harness.setNodeState("n2", .unknown)
        harness.createService(Harness.spec(replicas: 1))
        harness.reconcile()
        XCTAssertEqual(harness.tasks().first?.status.message, "no suitable node (1 node down; 1 node not ready)")
        harness.setNodeState("n2", .ready)
        harness.reconcile()
        XCTAssertEqual(harness.tasks().first?.nodeID, "n2")
    }

    func testNodesWithRecentFailuresGoLast() {
        func placement(failuresOnN1: Int) -> String? {
            var harness = Harness(nodes: ["n1", "n2"])
            // n2 is busier, so spread alone would pick n1.
            var other = Harness.spec(name: "other", replicas: 2)
            other.taskTemplate.placement = Placement(constraints: ["node.id==n2"])
            harness.createService(other, id: "s2")
            harness.converge()
            harness.createService(Harness.spec(replicas: 1))
            let template = harness.state.services["s1"]!.spec.taskTemplate
            let failed = (0..<failuresOnN1).map { attempt in
                SwarmTask(id: "failed\(attempt)", createdAt: harness.now, serviceID: "s1", slot: 1, nodeID: "n1", spec: template,
                          desiredState: .shutdown, status: TaskStatus(timestamp: harness.now, state: .failed, message: "exit 1"))
            }
            if !failed.isEmpty { harness.mustApply(.createTasks(tasks: failed)) }
            harness.advance(seconds: 60)
            harness.reconcile()
            return harness.live().first?.nodeID
        }
        XCTAssertEqual(placement(failuresOnN1: 4), "n1")
        XCTAssertEqual(placement(failuresOnN1: 5), "n2", "5 failures within 5 minutes push a node last")
    }
}
