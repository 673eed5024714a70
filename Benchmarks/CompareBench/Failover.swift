import API
import Foundation
import Glibc
import Platform
import Synchronization

struct FailoverRound {
    var system: String
    var signal: String
    var newLeaderMillis: Double?
    var firstWriteMillis: Double?
}

/// One round: wait until healthy, signal the leader, then measure (a) when a survivor first reports
/// a new leader (one polling thread per survivor) and (b) when a write through a survivor first
/// succeeds (retried in a loop, 1 ms apart after a failure, each attempt abandoned after
/// `attemptTimeoutMillis`: etcd drops a proposal forwarded to a dead leader and the request then
/// hangs until its own timeout, while swarmctl fails it when the leader changes); then restart or
/// continue the victim.
func failoverRound(_ system: ReplicatedSystem, signal: Int32, round: Int, valueSize: Int, attemptTimeoutMillis: Int) throws -> FailoverRound {
    let leader = try system.waitHealthy(timeoutSeconds: 60)
    guard let oldLeader = system.status(leader, timeoutMillis: 2000)?.id else { throw BenchError("\(system.label): leader did not answer") }
    let survivors = system.members.indices.filter { $0 != leader }
    let writer = try system.makeWriter(member: survivors[round % 2], name: "fo\(round)s\(signal)", valueSize: valueSize, timeoutMillis: attemptTimeoutMillis)
    var warmed: String? = "not tried"
    for _ in 0..<50 where warmed != nil { warmed = writer.write(0) }
    if let failure = warmed { throw BenchError("\(system.label): writes before the failure fail: \(failure)") }

    let newLeaderAt = Atomic<UInt64>(0)
    let stopWatching = Atomic<Bool>(false)
    let watchers = DispatchGroup()
    let started = monotonicNanoseconds()
    system.members[leader].signal(signal)
    for survivor in survivors {
        watchers.enter()
        Thread.detachNewThread {
            defer { watchers.leave() }
            let deadline = started + 30_000_000_000
            while !stopWatching.load(ordering: .relaxed) && newLeaderAt.load(ordering: .relaxed) == 0 && monotonicNanoseconds() < deadline {
                if let status = system.status(survivor, timeoutMillis: 3000), status.hasLeader, status.leader != oldLeader {
                    _ = newLeaderAt.compareExchange(expected: 0, desired: monotonicNanoseconds(), ordering: .relaxed)
                    return
                }
                usleep(2000)
            }
        }
    }
    var firstWrite: UInt64 = 0
    let deadline = started + 20_000_000_000
    var sequence = 1
    while monotonicNanoseconds() < deadline {
        if writer.write(sequence) == nil {
            firstWrite = monotonicNanoseconds()
            break
        }
        sequence += 1
        usleep(1000)
    }
    // A committed write implies a new leader; give the watchers a moment to see it, then stop them.
    let grace = monotonicNanoseconds() + 5_000_000_000
    while newLeaderAt.load(ordering: .relaxed) == 0 && monotonicNanoseconds() < grace { usleep(2000) }
    stopWatching.store(true, ordering: .relaxed)
    watchers.wait()

    let victim = system.members[leader]
    if signal == SIGKILL {
        victim.kill()
        try victim.start()
    } else {
        victim.signal(SIGCONT)
    }
    func millis(_ at: UInt64) -> Double? { at == 0 ? nil : Double(at - started) / 1e6 }
    return FailoverRound(system: system.label, signal: signal == SIGKILL ? "kill9" : "sigstop",
                         newLeaderMillis: millis(newLeaderAt.load(ordering: .relaxed)), firstWriteMillis: millis(firstWrite))
}

func runFailover(_ options: Options) throws {
    let swarm = try SwarmCluster(binary: options.swarmctl, base: options.tempBase)
    let etcd = try EtcdCluster(base: options.tempBase)
    defer { swarm.stop(); etcd.stop() }
    try swarm.start()
    try etcd.start()
    let systems: [ReplicatedSystem] = [swarm, etcd]
    print("swarmctl: tick 100 ms, election 5–10 ticks; etcd: heartbeat 100 ms, election timeout 1000 ms (defaults of both)")
    print("write through a survivor: swarmctl \(swarm.writeMode), etcd /v3/kv/put; each attempt abandoned after \(options.attemptTimeoutMillis) ms")
    var rounds: [FailoverRound] = []
    let plan = Array(repeating: SIGKILL, count: options.kills) + Array(repeating: SIGSTOP, count: options.stops)
    for (number, signal) in plan.enumerated() {
        let order = number % 2 == 0 ? systems : systems.reversed()
        for system in order {
            let result = try failoverRound(system, signal: signal, round: number, valueSize: options.valueSize,
                                         attemptTimeoutMillis: options.attemptTimeoutMillis)
            rounds.append(result)
            print(String(format: "%-8@ %-8@ #%-2d new leader %@ ms, first write %@ ms", system.label as NSString, result.signal as NSString,
                         number + 1, (result.newLeaderMillis.map { format($0) } ?? "-") as NSString,
                         (result.firstWriteMillis.map { format($0) } ?? "timeout") as NSString))
        }
    }

    print("")
    print("| failure | runs | swarmctl new leader ms median (min–max) | etcd new leader ms median (min–max) | swarmctl first write ms median (min–max), p99 | etcd first write ms median (min–max), p99 | first write ratio swarmctl/etcd |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    var sections: [String: Any] = [:]
    for kind in ["kill9", "sigstop"] {
        func values(_ system: String, _ key: KeyPath<FailoverRound, Double?>) -> [Double] {
            rounds.filter { $0.system == system && $0.signal == kind }.map { $0[keyPath: key] ?? 20_000 }
        }
        let ours = values("swarmctl", \.firstWriteMillis), theirs = values("etcd", \.firstWriteMillis)
        guard !ours.isEmpty else { continue }
        let oursLeader = values("swarmctl", \.newLeaderMillis), theirsLeader = values("etcd", \.newLeaderMillis)
        func cell(_ v: [Double], p99: Bool = false) -> String {
            "\(format(median(v))) (\(format(v.min()!))–\(format(v.max()!)))" + (p99 ? ", \(format(percentile(v.sorted(), 0.99)))" : "")
        }
        print("| \(kind == "kill9" ? "kill -9 leader" : "SIGSTOP leader") | \(ours.count) | \(cell(oursLeader)) | \(cell(theirsLeader)) | \(cell(ours, p99: true)) | \(cell(theirs, p99: true)) | \(format(ratio(median(ours), median(theirs)), 2))× |")
        func side(_ leader: [Double], _ write: [Double]) -> [String: Any] {
            ["new_leader_ms": summary(leader), "first_write_ms": summary(write).merging(["p99": percentile(write.sorted(), 0.99)]) { $1 }]
        }
        sections[kind] = ["swarmctl": side(oursLeader, ours), "etcd": side(theirsLeader, theirs),
                          "ratio_first_write_median": ratio(median(ours), median(theirs)),
                          "ratio_new_leader_median": ratio(median(oursLeader), median(theirsLeader))]
    }
    let killMedian = ((sections["kill9"] as? [String: Any])?[path: "swarmctl", "first_write_ms"] as? [String: Any])?["median"] as? Double
    if let killMedian { print("\ngoal: swarmctl median kill -9 → first write ≤ 250 ms: \(format(killMedian)) ms — \(killMedian <= 250 ? "met" : "MISSED")") }
    let document: [String: Any] = [
        "benchmark": "failover",
        "command": "bash Benchmarks/compare/run.sh failover",
        "setup": [
            "swarmctl": "3 managers on 127.0.0.1, WAL with fsync, tick 100 ms, election 5–10 ticks; write = \(swarm.writeMode) through a survivor",
            "etcd": "etcd \(etcdVersion()) 3 members on 127.0.0.1, defaults (heartbeat 100 ms, election 1000 ms); write = /v3/kv/put through a survivor",
            "measured_from": "the signal sent by the benchmark process; new leader = first survivor status naming another leader (polled every 2 ms per survivor); first write = first successful write, retried 1 ms after each failure, each attempt abandoned after \(options.attemptTimeoutMillis) ms (both systems)",
            "kills": options.kills, "stops": options.stops, "attempt_timeout_ms": options.attemptTimeoutMillis,
            "interleaving": "rounds alternate swarmctl and etcd (order alternating); a killed member is restarted, a stopped one continued, and the cluster waited healthy before the next round",
            "timeouts_counted_as_ms": 20_000,
        ] as [String: Any],
        "results": sections,
        "rounds": rounds.map { ["system": $0.system, "signal": $0.signal, "new_leader_ms": $0.newLeaderMillis ?? NSNull(),
                                "first_write_ms": $0.firstWriteMillis ?? NSNull()] as [String: Any] },
        "goal": ["swarmctl_kill9_first_write_median_ms_at_most": 250, "measured": killMedian ?? 0, "met": (killMedian ?? .infinity) <= 250],
        "peer_reference_from_issue": ["etcd_kill9_first_write_median_s": 1.39],
        "machine": machine(),
    ]
    try writeJSON(document, to: options.output ?? "Benchmarks/results/failover-etcd.json")
}
