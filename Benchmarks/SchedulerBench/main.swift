import ClusterState
import BenchResults
import Foundation
import Orchestration

// Scheduler benchmark: 1,000 ready nodes, one service with 100,000 replicas. Measures the wall
// time from `service create` (applied) until every task is created, assigned and applied to the
// state — orchestrator rounds and `ClusterState.apply` of every command included, as the leader
// would run them — and reports placements per second (median of 5 runs, min–max).
// Run: swift build -c release --product scheduler-bench && .build/release/scheduler-bench
// Writes Benchmarks/results/scheduler.json.

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let nodeCount = arguments.count > 0 ? arguments[0] : 1_000
let replicas = arguments.count > 1 ? arguments[1] : 100_000
let verbose = CommandLine.arguments.contains("-v")
let start = Timestamp(millisecondsSinceEpoch: 1_764_000_000_000)

func node(_ number: Int) -> Node {
    let id = "node\(String(number + 100_000).dropFirst())"
    return Node(id: id, version: ObjectVersion(index: 0), createdAt: start, spec: NodeSpec(role: number == 0 ? .manager : .worker),
                description: NodeDescription(hostname: "host-\(number)", platform: .init(architecture: "x86_64", os: "linux"),
                                             resources: .init(nanoCPUs: 64_000_000_000, memoryBytes: 256 << 30),
                                             engine: .init(engineVersion: "bench")),
                status: NodeStatus(state: .ready, addr: "10.0.\(number / 256).\(number % 256):4242"), managerStatus: nil)
}

func clusterWithService() -> ClusterState {
    var state = ClusterState()
    let cluster = Cluster(id: "bench", version: ObjectVersion(index: 0), createdAt: start, spec: ClusterSpec(),
                          joinTokens: JoinTokens(worker: "W", manager: "M"))
    var index: UInt64 = 0
    func apply(_ command: ClusterCommand) {
        index += 1
        if case let .failure(error) = state.apply(command, index: index) { fatalError("setup refused: \(error)") }
    }
    apply(.initialize(cluster: cluster, firstNode: node(0),
                      secrets: ClusterSecrets(workerSecret: "w", managerSecret: "m", members: [:])))
    for number in 1..<nodeCount { apply(.addNode(node: node(number), transportID: UInt64(number + 1))) }
    let spec = ServiceSpec(name: "bench",
                           taskTemplate: TaskTemplate(containerSpec: ContainerSpec(image: "busybox:1", args: ["sleep", "inf"]),
                                                      resources: ResourceRequirements(reservations: ResourceAmounts(
                                                          nanoCPUs: 10_000_000, memoryBytes: 16 << 20))),
                           mode: .replicated(replicas: UInt64(replicas)))
    apply(.createService(service: Service(id: "svc", createdAt: start, spec: spec)))
    return state
}

struct Run {
    var seconds: Double
    var rounds: Int
    var commands: Int
    var maxPerNode: Int
    var minPerNode: Int
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func run(seed: UInt64) -> Run {
    var state = clusterWithService()
    var orchestrator = Orchestrator(seed: seed)
    var now = start
    var rounds = 0
    var commandCount = 0
    let clock = ContinuousClock()
    let began = clock.now
    while true {
        let t1 = clock.now
        let commands = orchestrator.reconcile(state, now: now)
        let t2 = clock.now
        rounds += 1
        if commands.isEmpty {
            if verbose { print("  round \(rounds): reconcile \(seconds(t2 - t1)) s, nothing to do") }
            break
        }
        commandCount += commands.count
        for command in commands {
            if case let .failure(error) = state.apply(command, index: state.appliedIndex + 1) { fatalError("refused: \(error)") }
        }
        if verbose { print("  round \(rounds): reconcile \(seconds(t2 - t1)) s, apply \(seconds(clock.now - t2)) s, \(commands.count) commands") }
        now = Timestamp(millisecondsSinceEpoch: now.millisecondsSinceEpoch + 100)
        precondition(rounds < 10, "the scheduler did not converge")
    }
    let elapsed = seconds(clock.now - began)
    if CommandLine.arguments.contains("--steady") {
        // Profiling aid: the cost of a round that finds nothing to do.
        for _ in 0..<5 {
            let before = clock.now
            precondition(orchestrator.reconcile(state, now: now).isEmpty)
            print("  steady round: \(seconds(clock.now - before)) s")
        }
    }
    var perNode: [String: Int] = [:]
    for task in state.tasks.values {
        guard task.status.state == .assigned, let nodeID = task.nodeID else { fatalError("task \(task.id) not assigned") }
        perNode[nodeID, default: 0] += 1
    }
    precondition(state.tasks.count == replicas && perNode.count == nodeCount)
    return Run(seconds: elapsed, rounds: rounds, commands: commandCount, maxPerNode: perNode.values.max()!,
               minPerNode: perNode.values.min()!)
}

if verbose {
    print("sizes: ClusterCommand \(MemoryLayout<ClusterCommand>.size) B, SwarmTask \(MemoryLayout<SwarmTask>.size) B, TaskTemplate \(MemoryLayout<TaskTemplate>.size) B")
}
var runs: [Run] = []
for attempt in 1...5 {
    let result = run(seed: UInt64(attempt))
    runs.append(result)
    print("run \(attempt): \(Int(Double(replicas) / result.seconds)) placements/s (\(String(format: "%.3f", result.seconds)) s, \(result.rounds) rounds, \(result.commands) commands, tasks per node \(result.minPerNode)–\(result.maxPerNode))")
}
let rates = runs.map { Double(replicas) / $0.seconds }.sorted()
let median = rates[rates.count / 2]
let target = 10_000.0
print("")
print("| benchmark | median of 5 | min–max | target |")
print("|---|---|---|---|")
print("| \(nodeCount) nodes, 1 service × \(replicas) replicas: create + assign + apply | \(Int(median)) placements/s | \(Int(rates.first!))–\(Int(rates.last!)) | ≥ 10,000 |")

let result: [String: Any] = [
    "benchmark": "scheduler",
    "nodes": nodeCount,
    "replicas": replicas,
    "placements_per_second_median": Int(median),
    "placements_per_second_min": Int(rates.first!),
    "placements_per_second_max": Int(rates.last!),
    "placements_per_second_runs": runs.map { Int(Double(replicas) / $0.seconds) },
    "seconds_runs": runs.map { ($0.seconds * 1000).rounded() / 1000 },
    "rounds": runs[0].rounds,
    "tasks_per_node_min_max": [runs[0].minPerNode, runs[0].maxPerNode],
    "target_placements_per_second": Int(target),
    "ratio_to_target": (median / target * 100).rounded() / 100,
    "machine": BenchResults.machine(),
]
try BenchResults.write(result, name: "scheduler.json")
