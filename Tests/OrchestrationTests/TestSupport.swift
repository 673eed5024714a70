import XCTest
import ClusterState
@testable import Orchestration

let t0 = Timestamp(millisecondsSinceEpoch: 1_764_000_000_000)
let gigabyte: Int64 = 1 << 30
let cpu: Int64 = 1_000_000_000

/// A cluster driven only through `ClusterCommand`s: the orchestrator's commands are applied as
/// the shell would, and `agents()` plays every agent (assigned → running next step, desired
/// shutdown/remove → shutdown). Nodes that are down report nothing.
struct Harness {
    var state = ClusterState()
    var orchestrator: Orchestrator
    var now = t0
    /// Commands of the last round and the ones the state refused.
    var lastCommands: [ClusterCommand] = []
    var refused: [(ClusterCommand, ClusterError)] = []
    private var transport: UInt64 = 1

    init(nodes: [String] = ["n1", "n2", "n3"], seed: UInt64 = 1, memory: Int64 = 8 * gigabyte, cpus: Int64 = 4,
         historyLimit: Int64? = nil) {
        orchestrator = Orchestrator(seed: seed)
        var spec = ClusterSpec()
        if let historyLimit { spec.orchestration.taskHistoryRetentionLimit = historyLimit }
        let cluster = Cluster(id: "c1", version: ObjectVersion(index: 0), createdAt: t0, spec: spec,
                              joinTokens: JoinTokens(worker: "W", manager: "M"))
        let secrets = ClusterSecrets(workerSecret: "ws", managerSecret: "ms", members: [:])
        let first = Self.node(nodes[0], role: .manager, memory: memory, cpus: cpus)
        mustApply(.initialize(cluster: cluster, firstNode: first, secrets: secrets))
        for id in nodes.dropFirst() { addNode(id, memory: memory, cpus: cpus) }
    }

    static func node(_ id: String, role: NodeRole = .worker, labels: [String: String] = [:], memory: Int64 = 8 * gigabyte,
                     cpus: Int64 = 4) -> Node {
        Node(id: id, version: ObjectVersion(index: 0), createdAt: t0, spec: NodeSpec(labels: labels, role: role),
             description: NodeDescription(hostname: "host-\(id)", platform: .init(architecture: "x86_64", os: "linux"),
                                          resources: .init(nanoCPUs: cpus * cpu, memoryBytes: memory),
                                          engine: .init(engineVersion: "test")),
             status: NodeStatus(state: .ready, addr: "192.0.2.1:4242"), managerStatus: nil)
    }

    mutating func addNode(_ id: String, labels: [String: String] = [:], memory: Int64 = 8 * gigabyte, cpus: Int64 = 4) {
        transport += 1
        mustApply(.addNode(node: Self.node(id, labels: labels, memory: memory, cpus: cpus), transportID: transport))
    }

    static func spec(name: String = "web", image: String = "busybox:1", replicas: UInt64 = 3,
                     restart: RestartPolicy? = nil) -> ServiceSpec {
        ServiceSpec(name: name,
                    taskTemplate: TaskTemplate(containerSpec: ContainerSpec(image: image), restartPolicy: restart),
                    mode: .replicated(replicas: replicas))
    }

    mutating func createService(_ spec: ServiceSpec, id: String = "s1") {
        mustApply(.createService(service: Service(id: id, createdAt: now, spec: spec)))
    }

    mutating func updateService(_ id: String = "s1", _ change: (inout ServiceSpec) -> Void) {
        var spec = state.services[id]!.spec
        change(&spec)
        mustApply(.updateService(id: id, version: state.services[id]!.version, spec: spec, at: now))
    }

    mutating func updateNode(_ id: String, _ change: (inout NodeSpec) -> Void) {
        var spec = state.nodes[id]!.spec
        change(&spec)
        mustApply(.updateNodeSpec(id: id, version: state.nodes[id]!.version, spec: spec, at: now))
    }

    mutating func setNodeState(_ id: String, _ nodeState: NodeState) {
        mustApply(.setNodeStatus(id: id, state: nodeState, message: nil, at: now))
    }

    mutating func mustApply(_ command: ClusterCommand, file: StaticString = #filePath, line: UInt = #line) {
        if case let .failure(error) = state.apply(command, index: state.appliedIndex + 1) {
            XCTFail("refused: \(error)", file: file, line: line)
        }
    }

    /// One orchestrator round, its commands applied in order.
    @discardableResult
    mutating func reconcile() -> [ClusterCommand] {
        lastCommands = orchestrator.reconcile(state, now: now)
        for command in lastCommands {
            if case let .failure(error) = state.apply(command, index: state.appliedIndex + 1) { refused.append((command, error)) }
        }
        return lastCommands
    }

    /// Every reachable agent makes one step: assigned → running, stop requests → shutdown.
    @discardableResult
    mutating func agents(failing failingImage: String? = nil) -> Int {
        var updates: [TaskStatusUpdate] = []
        for task in state.sortedTasks {
            guard let nodeID = task.nodeID, let node = state.nodes[nodeID], node.status.state != .down else { continue }
            if task.desiredState > .running {
                if task.status.state >= .assigned && !task.status.state.isTerminal {
                    updates.append(TaskStatusUpdate(taskID: task.id, status: TaskStatus(timestamp: now, state: .shutdown, message: "shutdown")))
                }
            } else if task.status.state >= .assigned && task.status.state < .running {
                if task.spec.containerSpec.image == failingImage {
                    updates.append(TaskStatusUpdate(taskID: task.id, status: TaskStatus(
                        timestamp: now, state: .failed, message: "started", err: "exit 1", containerStatus: ContainerStatus(exitCode: 1))))
                } else {
                    updates.append(TaskStatusUpdate(taskID: task.id, status: TaskStatus(timestamp: now, state: .running, message: "started")))
                }
            }
        }
        if !updates.isEmpty { mustApply(.updateTaskStatuses(updates: updates)) }
        return updates.count
    }

    /// Rounds of orchestrator + agents until nothing changes (or `rounds` pass), 100 ms apart.
    mutating func converge(rounds: Int = 50, failing: String? = nil, each: ((Harness) -> Void)? = nil) {
        for _ in 0..<rounds {
            let commands = reconcile().count
            each?(self)
            let reports = agents(failing: failing)
            each?(self)
            advance(millis: 100)
            if commands == 0 && reports == 0 { return }
        }
    }

    mutating func advance(millis: UInt64) { now = Timestamp(millisecondsSinceEpoch: now.millisecondsSinceEpoch + millis) }
    mutating func advance(seconds: UInt64) { advance(millis: seconds * 1000) }

    mutating func report(_ taskID: String, _ taskState: TaskState, exitCode: Int64? = nil) {
        mustApply(.updateTaskStatus(id: taskID, status: TaskStatus(timestamp: now, state: taskState, message: taskState.rawValue,
                                                                     containerStatus: exitCode.map { ContainerStatus(exitCode: $0) })))
    }

    func tasks(_ service: String = "s1") -> [SwarmTask] { state.tasks(ofService: service) }

    /// Tasks wanted and running.
    func running(_ service: String = "s1") -> [SwarmTask] {
        tasks(service).filter { $0.status.state == .running && $0.desiredState == .running }
    }

    /// Tasks that hold their slot.
    func live(_ service: String = "s1") -> [SwarmTask] {
        tasks(service).filter { $0.desiredState <= .running && !$0.status.state.isTerminal }
    }

    func runningPerNode(_ service: String = "s1") -> [String: Int] {
        var counts: [String: Int] = [:]
        for task in running(service) { counts[task.nodeID!, default: 0] += 1 }
        return counts
    }
}
