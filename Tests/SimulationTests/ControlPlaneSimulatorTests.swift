import XCTest
import ClusterState
import Orchestration
@testable import Simulation

final class ControlPlaneSimulatorTests: XCTestCase {
    private func options(seed: UInt64, workers: Int = 5, durationMillis: Int = 20_000) -> ControlPlaneOptions {
        var options = ControlPlaneOptions(seed: seed)
        options.workers = workers
        options.durationMillis = durationMillis
        return options
    }

    /// Every worker runs task networking here: the reference loops are a plain model of the
    /// control loops, and with a worker fewer for networked services their start-first update of
    /// a service capped at one replica per node can wait forever for room (the real orchestrator's
    /// runs keep the default worker without networking).
    private func runReference(seed: UInt64, workers: Int = 5, bug: ReferenceControlLoops.Bug? = nil) -> ControlPlaneReport {
        var options = options(seed: seed, workers: workers)
        options.workersWithoutNetworking = 0
        return ControlPlaneSimulator(options: options, loops: { ReferenceControlLoops(seed: $0, bug: bug) }).run()
    }

    // MARK: The simulator against a plainly correct control loop

    /// Seeds 1...6 inject every fault kind and check rolling updates for availability
    /// (`ControlPlaneSweep` and `swarmctl simulate --control-plane --seeds N` run more).
    func testReferenceLoopsConvergeUnderFaults() {
        var total = ControlPlaneReport()
        for seed in UInt64(1)...6 {
            let report = runReference(seed: seed, workers: seed % 2 == 0 ? 7 : 3)
            XCTAssertNil(report.violation?.message, "seed \(seed)")
            total.merge(report)
        }
        XCTAssertEqual(total.servicesConverged, total.servicesCreated)
        XCTAssertEqual(total.convergenceMillis.count, 6)
        XCTAssertGreaterThan(total.tasksStarted, 100)
        XCTAssertGreaterThan(total.rollingUpdates, 0)
        XCTAssertGreaterThan(total.updatesCheckedForAvailability, 0, "no rolling update was checked for availability")
        for fault in ControlPlaneFault.allCases {
            XCTAssertGreaterThan(total.faultsInjected[fault] ?? 0, 0, "\(fault) never injected")
        }
    }

    func testTheSameSeedReplaysTheSameReport() {
        let first = runReference(seed: 7)
        let second = runReference(seed: 7)
        XCTAssertEqual(first.lines(), second.lines())
        XCTAssertEqual(first, second)
        XCTAssertNotEqual(first.lines(), runReference(seed: 8).lines(), "different seeds should differ")
        let real = ControlPlaneSimulator(options: options(seed: 3)).run()
        XCTAssertEqual(real, ControlPlaneSimulator(options: options(seed: 3)).run())
    }

    // MARK: The invariants catch broken orchestration

    /// The violations of seeds 1...10 with `bug` (`first` tried first), up to the first one
    /// `caught` accepts (the seeds after it could not change the verdict).
    private func violations(bug: ReferenceControlLoops.Bug, first: UInt64 = 1, until caught: (String) -> Bool) -> [String] {
        var failures: [String] = []
        for seed in [first] + (UInt64(1)...10).filter({ $0 != first }) {
            guard let message = runReference(seed: seed, bug: bug).violation?.message else { continue }
            failures.append(message)
            if caught(message) { break }
        }
        return failures
    }

    func testAnOrchestratorThatKeepsTasksOfDownNodesRunsSlotsTwice() {
        let caught = { (message: String) in message.hasPrefix("slot running twice") || message.hasPrefix("convergence") }
        // Seed 21 shows it (after a change to the simulator's draws another of 1...10 may; once
        // the draws changed none of 1...14 did).
        let failures = violations(bug: .keepTasksOfDownNodes, first: 21, until: caught)
        XCTAssertFalse(failures.isEmpty, "no seed caught the slot running twice")
        XCTAssertTrue(failures.contains(where: caught), "\(failures)")
    }

    func testAnOrchestratorThatIgnoresRestartConditionNoneIsCaught() {
        let failures = violations(bug: .ignoreRestartConditionNone) { $0.hasPrefix("restart policy") }
        XCTAssertTrue(failures.contains { $0.hasPrefix("restart policy") }, "\(failures)")
    }

    func testCheckerFindsTwoRunningTasksInOneSlot() {
        let cluster = OneWorkerCluster()
        let at = cluster.at
        var state: ClusterState { cluster.state }
        func apply(_ command: ClusterCommand) { cluster.apply(command) }
        let template = TaskTemplate(containerSpec: ContainerSpec(image: "web:v1"))
        apply(.createService(service: Service(id: "s1", createdAt: at, spec: ServiceSpec(name: "web", taskTemplate: template,
                                                                                            mode: .replicated(replicas: 2)))))
        let tasks = ["a", "b", "c"].enumerated().map { position, id in
            SwarmTask(id: id, createdAt: at, serviceID: "s1", slot: position == 2 ? 2 : 1, nodeID: "worker-01", spec: template,
                      status: TaskStatus(timestamp: at, state: .assigned, message: ""))
        }
        apply(.createTasks(tasks: tasks))
        apply(.updateTaskStatuses(updates: tasks.map { TaskStatusUpdate(taskID: $0.id, status: TaskStatus(timestamp: at, state: .running, message: "")) }))

        let duplicates = ControlPlaneInvariants.slotsRunningTwice(in: state)
        XCTAssertEqual(duplicates, ["service web slot 1 runs 2 tasks: a@worker-01, b@worker-01"])
        let running = state.sortedTasks.map {
            ObservedRunningTask(taskID: $0.id, serviceID: $0.serviceID, slot: $0.slot, nodeID: $0.nodeID!, spec: $0.spec)
        }
        XCTAssertEqual(ControlPlaneInvariants.convergenceProblem(state: state, running: running), "service web (2 replicas): 2 tasks run in slot 1")

        var checker = ControlPlaneInvariants(heartbeatPeriodMillis: 1_000)
        checker.checkDuplicates(running, state: state, now: 10_000, enforceFrom: 10_000)
        XCTAssertNil(checker.violation, "within one heartbeat period")
        checker.checkDuplicates(running, state: state, now: 11_600, enforceFrom: 10_000)
        XCTAssertEqual(checker.violation?.hasPrefix("slot running twice: service web slot 1"), true, checker.violation ?? "no violation")

        // One task per slot, all reported running: converged.
        let healthy = running.filter { $0.taskID != "b" }
        apply(.setTaskDesiredState(id: "b", state: .shutdown, at: at))
        apply(.updateTaskStatuses(updates: [TaskStatusUpdate(taskID: "b", status: TaskStatus(timestamp: at, state: .shutdown, message: ""))]))
        XCTAssertEqual(ControlPlaneInvariants.slotsRunningTwice(in: state), [])
        XCTAssertNil(ControlPlaneInvariants.convergenceProblem(state: state, running: healthy))
    }

    func testCheckerFindsTooManyReplicasOnOneNode() {
        let cluster = OneWorkerCluster()
        let at = cluster.at
        var state: ClusterState { cluster.state }
        func apply(_ command: ClusterCommand) { cluster.apply(command) }
        let template = TaskTemplate(containerSpec: ContainerSpec(image: "api:v1"), placement: Placement(maxReplicas: 2))
        apply(.createService(service: Service(id: "s1", createdAt: at, spec: ServiceSpec(name: "api", taskTemplate: template,
                                                                                            mode: .replicated(replicas: 3)))))
        var checker = ControlPlaneInvariants()
        for slot in UInt64(1)...3 {
            let task = SwarmTask(id: "t\(slot)", createdAt: at, serviceID: "s1", slot: slot, spec: template,
                                 status: TaskStatus(timestamp: at, state: .pending, message: ""))
            apply(.createTasks(tasks: [task]))
            let assign = ClusterCommand.assignTask(id: task.id, nodeID: "worker-01", at: at)
            apply(assign)
            checker.observeCommitted(assign, result: .success(()), state: state)
            XCTAssertEqual(checker.violation == nil, slot <= 2, "slot \(slot): \(checker.violation ?? "no violation")")
        }
        XCTAssertEqual(checker.violation, "max replicas per node: service api has 3 active tasks on worker-01, max 2")
    }

    /// Restart condition on-failure: a task that completed (exit 0) gets no successor — unless its
    /// node was declared down before the completion was recorded (seed 1827 of 2000): then the
    /// managers rightly replaced it as lost with its node.
    func testCheckerFindsARestartAfterCompletionUnlessTheNodeWasDownFirst() {
        for nodeDownFirst in [false, true] {
            let cluster = OneWorkerCluster()
            let at = cluster.at
            var checker = ControlPlaneInvariants()
            func apply(_ command: ClusterCommand) {
                cluster.apply(command)
                checker.observeCommitted(command, result: .success(()), state: cluster.state)
            }
            let template = TaskTemplate(containerSpec: ContainerSpec(image: "batch:v1"), restartPolicy: RestartPolicy(condition: .onFailure))
            apply(.createService(service: Service(id: "s1", createdAt: at, spec: ServiceSpec(name: "batch", taskTemplate: template,
                                                                                                mode: .replicated(replicas: 1)))))
            apply(.createTasks(tasks: [SwarmTask(id: "a", createdAt: at, serviceID: "s1", slot: 1, nodeID: "worker-01", spec: template,
                                                 status: TaskStatus(timestamp: at, state: .running, message: ""))]))
            checker.recordSelfExit(taskID: "a", exitCode: 0)
            if nodeDownFirst { apply(.setNodeStatus(id: "worker-01", state: .down, message: nil, at: at)) }
            apply(.updateTaskStatuses(updates: [TaskStatusUpdate(taskID: "a", status: TaskStatus(timestamp: at, state: .complete, message: ""))]))
            apply(.createTasks(tasks: [SwarmTask(id: "b", createdAt: at, serviceID: "s1", slot: 1, spec: template,
                                                 status: TaskStatus(timestamp: at, state: .pending, message: ""))]))
            if nodeDownFirst {
                XCTAssertNil(checker.violation)
            } else {
                XCTAssertEqual(checker.violation, "restart policy: service batch slot 1 got task b after task a completed (exit code 0) under restart condition on-failure")
            }
        }
    }

    // MARK: The production control loops

    /// Until the orchestrator lands it proposes nothing: nothing to check then.
    private var orchestratorIsStub: Bool {
        let report = ControlPlaneSimulator(options: options(seed: 1, durationMillis: 3_000)).run()
        return report.tasksCreated == 0
    }

    func testRealOrchestratorConvergesOnAFewSeeds() throws {
        try XCTSkipIf(orchestratorIsStub, "the Orchestrator is still a stub")
        for seed in UInt64(1)...4 {
            let report = ControlPlaneSimulator(options: options(seed: seed, workers: 7)).run()
            XCTAssertNil(report.violation?.message, "seed \(seed): replay with swarmctl simulate --control-plane --seed \(seed) --workers 7 --duration 20s")
            XCTAssertEqual(report.convergenceMillis.count, 1, "seed \(seed)")
        }
    }
}

import Foundation

/// `CONTROL_PLANE_SWEEP=N swift test --filter ControlPlaneSweep` runs N seeds against the
/// reference loops and prints the summary (a check of the simulator itself; off by default).
final class ControlPlaneSweep: XCTestCase {
    func testSweepReferenceLoops() throws {
        guard let text = ProcessInfo.processInfo.environment["CONTROL_PLANE_SWEEP"], let seeds = UInt64(text) else {
            throw XCTSkip("set CONTROL_PLANE_SWEEP=N to run")
        }
        let workers = Int(ProcessInfo.processInfo.environment["CONTROL_PLANE_WORKERS"] ?? "") ?? 7
        var total = ControlPlaneReport()
        for seed in 1...seeds {
            var options = ControlPlaneOptions(seed: seed)
            options.workers = workers
            let report = ControlPlaneSimulator(options: options, loops: { ReferenceControlLoops(seed: $0) }).run()
            if let violation = report.violation { print("FAILED seed \(seed): \(violation.message)") }
            total.merge(report)
        }
        for line in total.lines() { print(line) }
        XCTAssertEqual(total.violations.count, 0)
    }
}

/// A cluster state with one ready worker ("worker-01"), for checking the invariants on states
/// built command by command.
private final class OneWorkerCluster {
    let at = Timestamp(millisecondsSinceEpoch: 1_767_225_600_000)
    private(set) var state = ClusterState()
    private var index: UInt64 = 0

    init() {
        let node = Node(id: "worker-01", version: ObjectVersion(index: 0), createdAt: at, spec: NodeSpec(role: .worker),
                        description: NodeDescription(hostname: "worker-01", platform: .init(architecture: "x86_64", os: "linux"),
                                                     resources: .init(nanoCPUs: 1, memoryBytes: 1), engine: .init(engineVersion: "test")),
                        status: NodeStatus(state: .ready, addr: "192.0.2.1"), managerStatus: nil)
        apply(.initialize(cluster: Cluster(id: "c", version: ObjectVersion(index: 0), createdAt: at, spec: ClusterSpec(),
                                           joinTokens: JoinTokens(worker: "w", manager: "m")),
                          firstNode: node, secrets: ClusterSecrets(workerSecret: "w", managerSecret: "m", members: [:])))
    }

    func apply(_ command: ClusterCommand, file: StaticString = #filePath, line: UInt = #line) {
        index += 1
        if case let .failure(error) = state.apply(command, index: index) { XCTFail("\(command): \(error)", file: file, line: line) }
    }
}
