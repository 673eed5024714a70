import XCTest
@testable import ClusterState
@testable import Simulation

/// Networks in the control-plane simulator: the networking invariants hold across partitions,
/// crashes and leader changes, the network table streams end in step, and the checks catch a
/// state that breaks them.
final class NetworkSimulationTests: XCTestCase {
    func testNetworkInvariantsHoldUnderFaultsAndTablesEndInStep() {
        var total = ControlPlaneReport()
        for seed in UInt64(1)...6 {
            var options = ControlPlaneOptions(seed: seed)
            options.workers = seed % 2 == 0 ? 5 : 3
            options.durationMillis = 20_000
            let report = ControlPlaneSimulator(options: options).run()
            XCTAssertNil(report.violation?.message, "seed \(seed)")
            total.merge(report)
        }
        XCTAssertGreaterThan(total.networkTableMessagesApplied, 50)
        XCTAssertGreaterThan(total.networkTableMessagesSplit, 10, "messages over the part budget went in parts")
        XCTAssertGreaterThan(total.networkTablesInSync, 0, "no agent was compared with the leader's tables")
        XCTAssertGreaterThan(total.networkSnapshotProbes, 10)
        XCTAssertGreaterThan(total.leaderChanges, 0)
    }

    /// With the agents' drain delay (issue 16: a task on a network stops 2 s after the managers
    /// asked, out of load balancing meanwhile), the same invariants hold, the duplicate-slot
    /// bound widened by the delay, and drains do end in stops.
    func testTheDrainDelayKeepsTheInvariantsAndEndsInStops() {
        var trace: [String] = []
        for seed in UInt64(1)...4 {
            var options = ControlPlaneOptions(seed: seed)
            options.workers = seed % 2 == 0 ? 5 : 3
            options.durationMillis = 20_000
            options.drainMillis = 2_000
            let simulator = ControlPlaneSimulator(options: options)
            simulator.trace = { trace.append($0) }
            let report = simulator.run()
            XCTAssertNil(report.violation?.message, "seed \(seed)")
        }
        XCTAssertGreaterThan(trace.filter { $0.contains("drain of") && $0.contains("is over: stopping it") }.count, 0, "no task drained")
    }

    /// The invariants are not vacuous: a state where two live tasks share an address, or where
    /// an address leaked in a pool, is reported.
    func testTheInvariantsCatchDuplicateAndLeakedAddresses() throws {
        let t0 = Timestamp(millisecondsSinceEpoch: 1_764_000_000_000)
        var state = ClusterState()
        let node = Node(id: "n1", version: ObjectVersion(index: 0), createdAt: t0, spec: NodeSpec(role: .manager),
                        description: NodeDescription(hostname: "n1", platform: .init(architecture: "x86_64", os: "linux"),
                                                     resources: .init(nanoCPUs: 1_000_000_000, memoryBytes: 1 << 30), engine: .init(engineVersion: "t")),
                        status: NodeStatus(state: .ready, addr: "192.0.2.1"), managerStatus: nil)
        let cluster = Cluster(id: "c1", version: ObjectVersion(index: 0), createdAt: t0, spec: ClusterSpec(), joinTokens: JoinTokens(worker: "W", manager: "M"))
        try state.apply(.initialize(cluster: cluster, firstNode: node, secrets: ClusterSecrets(workerSecret: "w", managerSecret: "m", members: [:])), index: 1).get()
        try state.apply(.createNetwork(network: Network(id: "a", createdAt: t0, spec: NetworkSpec(name: "a"))), index: 2).get()
        let template = TaskTemplate(containerSpec: ContainerSpec(image: "busybox"), networks: [NetworkAttachmentConfig(target: "a")])
        try state.apply(.createService(service: Service(id: "s1", createdAt: t0, spec: ServiceSpec(name: "web", taskTemplate: template))), index: 3).get()
        let tasks = ["t1", "t2"].map { SwarmTask(id: $0, createdAt: t0, serviceID: "s1", slot: 1, nodeID: "n1", spec: template,
                                                  status: TaskStatus(timestamp: t0, state: .new, message: "")) }
        try state.apply(.createTasks(tasks: tasks), index: 4).get()
        XCTAssertEqual(NetworkInvariants.problems(in: state), [])

        var duplicate = state
        duplicate.tasks["t2"]!.networksAttachments = duplicate.tasks["t1"]!.networksAttachments
        XCTAssertTrue(NetworkInvariants.problems(in: duplicate).contains { $0.contains("share") }, "\(NetworkInvariants.problems(in: duplicate))")

        var leaked = state
        leaked.tasks["t2"]!.status.state = .failed
        XCTAssertTrue(NetworkInvariants.problems(in: leaked).contains { $0.contains("still holds") }, "\(NetworkInvariants.problems(in: leaked))")

        var missing = state
        missing.tasks["t1"]!.networksAttachments = nil
        XCTAssertTrue(NetworkInvariants.problems(in: missing).contains { $0.contains("has no address on network a") })
    }

    /// A worker that runs no task networking (the default run has one, the last worker): no task
    /// with network attachments is ever placed there (invariant 5), global services on a network
    /// converge without it, and tasks without attachments (the batch service) still run there.
    func testNoNetworkedTaskGoesToAWorkerWithoutNetworking() {
        var assignedToIt = 0
        for seed in UInt64(1)...6 {
            var options = ControlPlaneOptions(seed: seed)
            options.workers = 3
            options.durationMillis = 20_000
            XCTAssertEqual(options.workersWithoutNetworking, 1)
            let simulator = ControlPlaneSimulator(options: options)
            simulator.trace = { line in
                if line.contains("assignTask"), line.hasSuffix("→ worker-03") { assignedToIt += 1 }
            }
            let report = simulator.run()
            XCTAssertNil(report.violation?.message, "seed \(seed)")
        }
        XCTAssertGreaterThan(assignedToIt, 0, "tasks without attachments were placed on worker-03 too")
    }

    /// Invariant 5 is not vacuous: a networked task placed on a node without networking is reported.
    func testTheCheckerCatchesANetworkedTaskOnANodeWithoutNetworking() throws {
        let t0 = Timestamp(millisecondsSinceEpoch: 1_764_000_000_000)
        var state = ClusterState()
        let node = Node(id: "n1", version: ObjectVersion(index: 0), createdAt: t0, spec: NodeSpec(role: .manager),
                        description: NodeDescription(hostname: "n1", platform: .init(architecture: "x86_64", os: "linux"),
                                                     resources: .init(nanoCPUs: 1_000_000_000, memoryBytes: 1 << 30),
                                                     engine: .init(engineVersion: "t", plugins: [])),
                        status: NodeStatus(state: .ready, addr: "192.0.2.1"), managerStatus: nil)
        let cluster = Cluster(id: "c1", version: ObjectVersion(index: 0), createdAt: t0, spec: ClusterSpec(), joinTokens: JoinTokens(worker: "W", manager: "M"))
        try state.apply(.initialize(cluster: cluster, firstNode: node, secrets: ClusterSecrets(workerSecret: "w", managerSecret: "m", members: [:])), index: 1).get()
        try state.apply(.createNetwork(network: Network(id: "a", createdAt: t0, spec: NetworkSpec(name: "a"))), index: 2).get()
        var checker = ControlPlaneInvariants()
        for (index, networks) in [(3, [NetworkAttachmentConfig]()), (6, [NetworkAttachmentConfig(target: "a")])] {
            let serviceID = "s\(index)"
            let template = TaskTemplate(containerSpec: ContainerSpec(image: "busybox"), networks: networks)
            try state.apply(.createService(service: Service(id: serviceID, createdAt: t0, spec: ServiceSpec(name: serviceID, taskTemplate: template))),
                            index: UInt64(index)).get()
            let task = SwarmTask(id: "t\(index)", createdAt: t0, serviceID: serviceID, slot: 1, nodeID: nil, spec: template,
                                 status: TaskStatus(timestamp: t0, state: .pending, message: ""))
            let create = ClusterCommand.createTasks(tasks: [task])
            try state.apply(create, index: UInt64(index + 1)).get()
            checker.observeCommitted(create, result: .success(()), state: state)
            let assign = ClusterCommand.assignTask(id: task.id, nodeID: "n1", at: t0)
            let result = state.apply(assign, index: UInt64(index + 2))
            checker.observeCommitted(assign, result: result, state: state)
            if networks.isEmpty { XCTAssertNil(checker.violation, "a task without attachments may go there") }
        }
        XCTAssertEqual(checker.violation, "task t6 with network attachments was placed on n1, which runs no task networking")
    }
}
