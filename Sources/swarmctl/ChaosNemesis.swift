import Foundation
import Raft

/// One step of a nemesis schedule: at `at` seconds into the run, do `command` (a `swarmctl chaos`
/// subcommand line such as `partition --nodes manager-1`, or `restart NODE`).
struct NemesisStep: Equatable {
    var at: Double
    var command: [String]

    var isHeal: Bool { command.first == "heal" || command.first == "restart" }
}

/// The fault schedule of `chaos run`: read from a file (`SECONDS COMMAND ARGS…` per line, `#`
/// comments) or drawn from a seed. Every fault is healed before the run ends.
///
/// It exists so a run is reproducible: the same seed on the same testbed injects the same
/// faults at the same times, and a schedule file pins a failure someone found.
enum NemesisSchedule {
    static func parse(_ text: String) throws -> [NemesisStep] {
        var steps: [NemesisStep] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = content.split(separator: " ").map(String.init)
            guard let first = words.first else { continue }
            guard let at = Double(first), at >= 0, words.count >= 2 else {
                throw UsageError(message: "schedule line \(number + 1): expected SECONDS COMMAND [ARGS…], e.g. '5 partition --nodes manager-1'")
            }
            steps.append(NemesisStep(at: at, command: Array(words.dropFirst())))
        }
        return steps.sorted { $0.at < $1.at }
    }

    /// A random schedule over `duration` seconds: a fault every 6–12 s lasting 3–6 s, healed
    /// (killed nodes restarted) before the next; nothing in the last 5 s.
    static func random(seed: UInt64, duration: Double, managers: [String], workers: [String], service: String?) -> [NemesisStep] {
        var random = SplitMix64(seed: seed)
        func pick<T>(_ items: [T]) -> T { items[Int(random.next() % UInt64(items.count))] }
        func uniform(_ low: Double, _ high: Double) -> Double { low + Double(random.next() % 10_000) / 10_000 * (high - low) }
        let nodes = managers + workers
        var steps: [NemesisStep] = []
        var time = uniform(3, 6)
        while time + 8 < duration {
            let length = uniform(3, 6)
            var kinds = ["partition-one", "partition-leaderish", "kill-node", "pause-node", "delay", "loss", "fsync-slow"]
            if service != nil { kinds.append("kill-task") }
            switch pick(kinds) {
            case "partition-one":
                steps.append(NemesisStep(at: time, command: ["partition", "--nodes", pick(nodes)]))
                steps.append(NemesisStep(at: time + length, command: ["heal"]))
            case "partition-leaderish":
                // A manager and a worker on the minority side: the manager may be the leader.
                let side = [pick(managers)] + (workers.isEmpty ? [] : [pick(workers)])
                steps.append(NemesisStep(at: time, command: ["partition", "--nodes", side.joined(separator: ",")]))
                steps.append(NemesisStep(at: time + length, command: ["heal"]))
            case "kill-node":
                let node = pick(nodes)
                steps.append(NemesisStep(at: time, command: ["kill-node", node]))
                steps.append(NemesisStep(at: time + length, command: ["restart", node]))
            case "pause-node":
                steps.append(NemesisStep(at: time, command: ["pause-node", pick(nodes), "--for", "\(Int(length * 1000))ms"]))
            case "delay":
                let from = pick(managers)
                steps.append(NemesisStep(at: time, command: ["delay", "--from", from, "--to", nodes.filter { $0 != from }.joined(separator: ","), "150ms", "--jitter", "50ms"]))
                steps.append(NemesisStep(at: time + length, command: ["heal"]))
            case "loss":
                let from = pick(nodes)
                steps.append(NemesisStep(at: time, command: ["loss", "--from", from, "--to", nodes.filter { $0 != from }.joined(separator: ","), "30%"]))
                steps.append(NemesisStep(at: time + length, command: ["heal"]))
            case "fsync-slow":
                steps.append(NemesisStep(at: time, command: ["fsync-slow", pick(managers), "--for", "\(Int(length * 1000))ms", "--by", "200ms"]))
            default:
                steps.append(NemesisStep(at: time, command: ["kill-task", service!, "--count", "2"]))
            }
            time += length + uniform(3, 6)
        }
        return steps
    }
}
