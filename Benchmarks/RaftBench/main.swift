import BenchResults
import Foundation
import Raft
import Simulation

// Raft core benchmark: committed entries per second of an in-memory 3-node cluster driven
// through the core with 128-byte entries (median of 5 runs), and the simulator's speed in
// simulated seconds per wall second. Run: swift run -c release raft-bench
// Writes Benchmarks/results/raft.json.

/// Three in-memory nodes whose Ready batches are "persisted" instantly and whose messages are
/// delivered directly: the core's own cost, with no I/O at all.
struct InMemoryCluster {
    var nodes: [RaftNode]

    init() {
        let members: [NodeID] = [1, 2, 3]
        nodes = members.map { RaftNode(config: RaftConfig(id: $0), state: .bootstrap(voters: members)) }
        pump()
        while nodes[0].role != .leader {
            nodes[0].tick()
            pump()
        }
    }

    /// Carries out every Ready until the cluster is quiet; returns entries applied on node 1.
    @discardableResult
    mutating func pump() -> Int {
        var applied = 0
        var busy = true
        while busy {
            busy = false
            for position in nodes.indices where nodes[position].hasReady {
                busy = true
                let ready = nodes[position].ready()
                if position == 0 { applied += ready.committedEntries.count }
                nodes[position].advance(ready)
                for message in ready.messages { nodes[Int(message.to) - 1].step(message) }
            }
        }
        return applied
    }
}

func committedEntriesPerSecond(total: Int, batch: Int) -> Double {
    var cluster = InMemoryCluster()
    let payload = [UInt8](repeating: 0xAB, count: 128)
    let proposals = [[UInt8]](repeating: payload, count: batch)
    var committed = 0
    let clock = ContinuousClock()
    let start = clock.now
    while committed < total {
        try! cluster.nodes[0].propose(batch: proposals)
        committed += cluster.pump()
    }
    let elapsed = clock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return Double(committed) / seconds
}

func simulatorSpeed(seeds: Int) -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    var simulatedMillis = 0
    for seed in 1...seeds {
        var options = SimulationOptions(seed: UInt64(seed))
        options.nodes = 5
        let report = Simulator(options: options).run()
        precondition(report.violation == nil, "simulation violation in benchmark seed \(seed)")
        simulatedMillis += options.durationMillis
    }
    let elapsed = clock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return Double(simulatedMillis) / 1000 / seconds
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

let runs = 5
var throughput: [Double] = []
for run in 1...runs {
    let rate = committedEntriesPerSecond(total: 1_000_000, batch: 256) // 256 proposals per batch
    throughput.append(rate)
    print("run \(run): \(Int(rate)) committed entries/s")
}
var unbatched: [Double] = []
for _ in 1...runs { unbatched.append(committedEntriesPerSecond(total: 200_000, batch: 1)) }
var speeds: [Double] = []
for _ in 1...3 { speeds.append(simulatorSpeed(seeds: 10)) }

let target = 500_000.0
print("")
print("| benchmark | median of runs | runs | target |")
print("|---|---|---|---|")
print("| in-memory 3-node commit, 128 B entries | \(Int(median(throughput))) entries/s | \(throughput.map { String(Int($0)) }.joined(separator: ", ")) | ≥ 500,000 |")
print("| same, one proposal per round trip (no batching) | \(Int(median(unbatched))) entries/s | \(unbatched.map { String(Int($0)) }.joined(separator: ", ")) | — |")
print("| simulator, 5 nodes, all faults | \(Int(median(speeds))) simulated s / wall s | \(speeds.map { String(Int($0)) }.joined(separator: ", ")) | — |")

let result: [String: Any] = [
    "benchmark": "raft-core",
    "committed_entries_per_second_median": Int(median(throughput)),
    "committed_entries_per_second_runs": throughput.map { Int($0) },
    "target_entries_per_second": Int(target),
    "ratio_to_target": (median(throughput) / target * 100).rounded() / 100,
    "unbatched_entries_per_second_median": Int(median(unbatched)),
    "simulated_seconds_per_wall_second_median": Int(median(speeds)),
    "simulated_seconds_per_wall_second_runs": speeds.map { Int($0) },
    "machine": BenchResults.machine(),
]
try BenchResults.write(result, name: "raft.json")
