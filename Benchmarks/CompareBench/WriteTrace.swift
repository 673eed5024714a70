import API
import Foundation
import Glibc
import Platform

/// Where a write's time and CPU go, member by member (`compare-bench writes --trace`): each
/// member's CPU by thread, and for swarmctl the write-path stages of its `/metrics` (storage
/// saves, entries per save, proposal → commit on the leader, forward round trips on followers,
/// API request latency), as deltas over one case.
///
/// It exists because the write rate was latency-bound (the managers far from busy) and the
/// stage that serialises writes can only be found with figures per stage.
struct WriteTrace {
    struct MemberSample {
        var threads: [String: Double]
        var metrics: [String: Double]
    }

    var samples: [MemberSample]

    /// The stages printed, as `/metrics` histogram names (their `_sum` and `_count`).
    static let stages: [(name: String, label: String, unit: Double, suffix: String)] = [
        ("swarmctl_raft_storage_save_seconds", "save", 1000, "ms"),
        ("swarmctl_raft_entries_per_save", "entries/save", 1, ""),
        ("swarmctl_raft_save_completion_delay_seconds", "save→loop", 1000, "ms"),
        ("swarmctl_raft_proposal_commit_seconds", "propose→commit", 1000, "ms"),
        ("swarmctl_forwarded_write_seconds", "forward", 1000, "ms"),
        ("swarmctl_api_request_duration_seconds{method=\"POST\"}", "api POST", 1000, "ms"),
    ]

    static func take(_ system: ReplicatedSystem) -> WriteTrace {
        WriteTrace(samples: system.members.map { member in
            MemberSample(threads: threadCPUSeconds(member.pid),
                         metrics: system is SwarmCluster ? scrapeMetrics(member.api) : [:])
        })
    }

    /// One line per member: CPU cores by thread over the case, then each stage's mean and count.
    func report(since before: WriteTrace, system: ReplicatedSystem, wall: Double, leader: Int?) {
        for (index, (now, then)) in zip(samples, before.samples).enumerated() {
            let role = index == leader ? "leader  " : "follower"
            let threads = now.threads.keys.sorted().compactMap { name -> String? in
                let cores = ((now.threads[name] ?? 0) - (then.threads[name] ?? 0)) / wall
                return cores >= 0.01 ? "\(name) \(format(cores, 2))" : nil
            }.joined(separator: ", ")
            var stages: [String] = []
            for stage in Self.stages {
                let count = (now.metrics[stage.name.withSeries("_count")] ?? 0) - (then.metrics[stage.name.withSeries("_count")] ?? 0)
                let sum = (now.metrics[stage.name.withSeries("_sum")] ?? 0) - (then.metrics[stage.name.withSeries("_sum")] ?? 0)
                guard count > 0 else { continue }
                stages.append("\(stage.label) \(format(sum / count * stage.unit, 2))\(stage.suffix) ×\(format(count))")
            }
            let lateTicks = "swarmctl_raft_tick_lateness_seconds_bucket"
            let late = ((now.metrics[lateTicks + "{le=\"+Inf\"}"] ?? 0) - (now.metrics[lateTicks + "{le=\"0.128\"}"] ?? 0))
                - ((then.metrics[lateTicks + "{le=\"+Inf\"}"] ?? 0) - (then.metrics[lateTicks + "{le=\"0.128\"}"] ?? 0))
            if late > 0 { stages.append("ticks >128ms late ×\(format(late))") }
            print("    \(system.label) \(system.members[index].name) \(role) cores: \(threads)")
            if !stages.isEmpty { print("      " + stages.joined(separator: "  ")) }
        }
    }
}

private extension String {
    /// `name{labels}` + `_sum` → `name_sum{labels}`.
    func withSeries(_ suffix: String) -> String {
        guard let brace = firstIndex(of: "{") else { return self + suffix }
        return String(self[..<brace]) + suffix + String(self[brace...])
    }
}

/// CPU seconds of each thread of `pid`, summed by thread name (`/proc/PID/task/*/comm`).
func threadCPUSeconds(_ pid: pid_t) -> [String: Double] {
    guard pid > 0, let tasks = try? FileSystem.list("/proc/\(pid)/task") else { return [:] }
    var byName: [String: Double] = [:]
    for task in tasks {
        guard let name = readText("/proc/\(pid)/task/\(task)/comm")?.trimmingCharacters(in: .whitespacesAndNewlines),
              let text = readText("/proc/\(pid)/task/\(task)/stat"), let close = text.lastIndex(of: ")") else { continue }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
        byName[name, default: 0] += (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
    return byName
}

/// The unlabelled-or-labelled sample values of a node's `/metrics` by series name (comments skipped).
func scrapeMetrics(_ address: SocketAddress) -> [String: Double] {
    let client = HTTPClient(address: address, timeoutMillis: 5000)
    guard let answer = try? client.send("GET", "/metrics"), answer.status == 200 else { return [:] }
    var values: [String: Double] = [:]
    for line in String(decoding: answer.body, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
        values[String(line[..<space])] = value
    }
    return values
}
