import API
import Foundation
import Glibc
import Platform

/// One benchmark client: its own connection to one member; counts successful writes and their
/// latencies.
final class LoadClient: @unchecked Sendable {
    let writer: Writer
    var latenciesMicros: [Double] = []
    var failures = 0
    var lastFailure = ""

    init(writer: Writer) { self.writer = writer }

    func run(until deadline: UInt64) {
        latenciesMicros.reserveCapacity(20_000)
        var sequence = 0
        while monotonicNanoseconds() < deadline {
            sequence += 1
            let started = monotonicNanoseconds()
            if let failure = writer.write(sequence) {
                failures += 1
                lastFailure = failure
                usleep(1000)
            } else {
                latenciesMicros.append(Double(monotonicNanoseconds() - started) / 1000)
            }
        }
    }
}

struct WriteCase {
    var system: String
    var clients: Int
    var writesPerSecond: Double
    var p50Millis: Double
    var p99Millis: Double
    var failures: Int
    /// The load generator's CPU over the case, in cores (1.0 = one core busy all the time).
    var loadgenCores: Double
    /// The three servers' CPU over the case, in cores.
    var serverCores: Double
    /// The leader's CPU over the case, in cores (the member that was leader when it started).
    var leaderCores: Double
}

func measureWrites(_ system: ReplicatedSystem, clients count: Int, seconds: Double, valueSize: Int, tag: String,
                   trace: Bool = false) throws -> WriteCase {
    // Clients spread over the three members: two thirds of the writes are forwarded to the leader.
    let clients = try (0..<count).map { index in
        LoadClient(writer: try system.makeWriter(member: index % 3, name: "\(tag)c\(index)", valueSize: valueSize, timeoutMillis: 10_000))
    }
    let leaderIndex = system.leaderIndex()
    let leaderPID = leaderIndex.map { system.members[$0].pid } ?? 0
    let traceBefore = trace ? WriteTrace.take(system) : nil
    let cpuBefore = selfCPUSeconds()
    let serverBefore = system.cpuSeconds()
    let leaderBefore = leaderPID > 0 ? processCPUSeconds(leaderPID) : 0
    let started = monotonicNanoseconds()
    let deadline = started + UInt64(seconds * 1e9)
    let done = DispatchGroup()
    for client in clients {
        done.enter()
        Thread.detachNewThread {
            client.run(until: deadline)
            done.leave()
        }
    }
    done.wait()
    let wall = Double(monotonicNanoseconds() - started) / 1e9
    let loadgen = (selfCPUSeconds() - cpuBefore) / wall
    let server = (system.cpuSeconds() - serverBefore) / wall
    let leader = leaderPID > 0 ? (processCPUSeconds(leaderPID) - leaderBefore) / wall : 0
    let traceAfter = trace ? WriteTrace.take(system) : nil
    let latencies = clients.flatMap(\.latenciesMicros).sorted()
    let failures = clients.reduce(0) { $0 + $1.failures }
    if failures > 0, let sample = clients.first(where: { $0.failures > 0 })?.lastFailure {
        note("  \(system.label) \(count) clients: \(failures) failed writes, e.g. \(sample)")
    }
    if let traceBefore, let traceAfter { traceAfter.report(since: traceBefore, system: system, wall: wall, leader: leaderIndex) }
    return WriteCase(system: system.label, clients: count, writesPerSecond: Double(latencies.count) / seconds,
                     p50Millis: percentile(latencies, 0.5) / 1000, p99Millis: percentile(latencies, 0.99) / 1000,
                     failures: failures, loadgenCores: loadgen, serverCores: server, leaderCores: leader)
}

func runWrites(_ options: Options) throws {
    let swarm = try SwarmCluster(binary: options.swarmctl, base: options.tempBase)
    let etcd = try EtcdCluster(base: options.tempBase)
    // `--baseline BINARY`: another swarmctl build measured in the same runs (before/after).
    let baseline = try options.baseline.map { try SwarmCluster(binary: $0, base: options.tempBase, label: "baseline") }
    defer { swarm.stop(); etcd.stop(); baseline?.stop() }
    try swarm.start()
    try etcd.start()
    try baseline?.start()
    let systems: [ReplicatedSystem] = [swarm, etcd] + (baseline.map { [$0] } ?? [])
    print("swarmctl write: \(swarm.writeMode); etcd write: PUT of a new key via /v3/kv/put; value \(options.valueSize) bytes; \(options.seconds) s per case; \(options.runs) runs")
    // Warm-up: connections, page cache, the first WAL segment.
    for system in systems { _ = try measureWrites(system, clients: 16, seconds: 1, valueSize: options.valueSize, tag: "warm") }

    var results: [String: [Int: [WriteCase]]] = [:]
    for run in 1...options.runs {
        for (position, count) in options.clients.enumerated() {
            // Alternate who goes first, so drift in the machine's load hits both alike.
            let order = systems.count == 2 ? ((run + position) % 2 == 0 ? systems : systems.reversed())
                : Array(systems[((run + position) % systems.count)...] + systems[..<((run + position) % systems.count)])
            for system in order {
                let measured = try measureWrites(system, clients: count, seconds: options.seconds, valueSize: options.valueSize,
                                                 tag: "r\(run)n\(count)", trace: options.trace)
                results[system.label, default: [:]][count, default: []].append(measured)
                print(String(format: "run %d  %-8@ clients %3d  %7.0f writes/s  p50 %6.2f ms  p99 %7.2f ms  loadgen %.2f cores  servers %.2f cores  leader %.2f cores",
                             run, system.label as NSString, count, measured.writesPerSecond, measured.p50Millis, measured.p99Millis,
                             measured.loadgenCores, measured.serverCores, measured.leaderCores))
                sleepMillis(300)
            }
        }
    }

    print("")
    print("| clients | swarmctl writes/s (median, min–max) | etcd writes/s (median, min–max) | ratio | swarmctl p50 / p99 ms | etcd p50 / p99 ms | p50 ratio | load generator cores (ours / etcd) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    var rows: [[String: Any]] = []
    for count in options.clients {
        let ours = results["swarmctl"]![count]!
        let theirs = results["etcd"]![count]!
        func rates(_ cases: [WriteCase]) -> [Double] { cases.map(\.writesPerSecond) }
        let oursRate = median(rates(ours)), theirsRate = median(rates(theirs))
        let oursP50 = median(ours.map(\.p50Millis)), theirsP50 = median(theirs.map(\.p50Millis))
        let oursP99 = median(ours.map(\.p99Millis)), theirsP99 = median(theirs.map(\.p99Millis))
        print("| \(count) | \(format(oursRate)) (\(format(rates(ours).min()!))–\(format(rates(ours).max()!))) | \(format(theirsRate)) (\(format(rates(theirs).min()!))–\(format(rates(theirs).max()!))) | \(format(ratio(oursRate, theirsRate), 2))× | \(format(oursP50, 2)) / \(format(oursP99, 2)) | \(format(theirsP50, 2)) / \(format(theirsP99, 2)) | \(format(ratio(oursP50, theirsP50), 2))× | \(format(median(ours.map(\.loadgenCores)), 2)) / \(format(median(theirs.map(\.loadgenCores)), 2)) |")
        func side(_ cases: [WriteCase]) -> [String: Any] {
            ["writes_per_second": summary(rates(cases)), "p50_ms": summary(cases.map(\.p50Millis)), "p99_ms": summary(cases.map(\.p99Millis)),
             "failed_writes": cases.map(\.failures), "load_generator_cores": summary(cases.map(\.loadgenCores)),
             "server_cores": summary(cases.map(\.serverCores)),
             "server_cpu_us_per_write": summary(cases.map { $0.writesPerSecond > 0 ? $0.serverCores * 1e6 / $0.writesPerSecond : 0 }),
             "leader_cpu_us_per_write": summary(cases.map { $0.writesPerSecond > 0 ? $0.leaderCores * 1e6 / $0.writesPerSecond : 0 })]
        }
        rows.append(["clients": count, "swarmctl": side(ours), "etcd": side(theirs),
                     "ratio_writes_per_second": ratio(oursRate, theirsRate), "ratio_p50": ratio(oursP50, theirsP50),
                     "ratio_p99": ratio(oursP99, theirsP99)])
    }
    for count in options.clients {
        for label in ["swarmctl", "etcd", "baseline"] {
            guard let cases = results[label]?[count] else { continue }
            let server = median(cases.map { $0.writesPerSecond > 0 ? $0.serverCores * 1e6 / $0.writesPerSecond : 0 })
            let leader = median(cases.map { $0.writesPerSecond > 0 ? $0.leaderCores * 1e6 / $0.writesPerSecond : 0 })
            let rates = cases.map(\.writesPerSecond)
            print("\(count) clients \(label): \(format(median(rates))) writes/s, p99 \(format(median(cases.map(\.p99Millis)), 2)) ms, "
                + "CPU µs per write: servers \(format(server)), leader \(format(leader)); last/first run \(format(ratio(rates.last!, rates.first!), 2))")
        }
        if let base = results["baseline"]?[count], let ours = results["swarmctl"]?[count], let theirs = results["etcd"]?[count] {
            let baseRate = median(base.map(\.writesPerSecond))
            print("\(count) clients: baseline / etcd \(format(ratio(baseRate, median(theirs.map(\.writesPerSecond))), 2))×, "
                + "swarmctl / baseline \(format(ratio(median(ours.map(\.writesPerSecond)), baseRate), 2))× (baseline: \(options.baseline ?? ""))")
        }
    }
    let at64 = rows.first { $0["clients"] as? Int == 64 }?["ratio_writes_per_second"] as? Double
    if let at64 { print("\ngoal: swarmctl ≥ 3× etcd writes/s at 64 clients: \(format(at64, 2))× — \(at64 >= 3 ? "met" : "MISSED")") }
    let document: [String: Any] = [
        "benchmark": "replicated-writes",
        "command": "bash Benchmarks/compare/run.sh writes",
        "setup": [
            "swarmctl": "3 managers (swarmctl init/join), 127.0.0.1, WAL with fsync, API over TCP loopback; one write = \(swarm.writeMode == "service-create" ? "POST /v1.41/services/create of a new replicas-0 service" : "GET node + POST /nodes/ID/update at that version (fallback: services not served)")",
            "etcd": "etcd \(etcdVersion()) 3 members, 127.0.0.1, defaults (fsync on); one write = POST /v3/kv/put of a new key (JSON gateway)",
            "value_bytes": options.valueSize, "seconds_per_case": options.seconds, "runs": options.runs,
            "clients_spread": "client i talks to member i mod 3 (both systems)",
            "interleaving": "within each run, for each client count, swarmctl and etcd back to back, order alternating",
        ] as [String: Any],
        "swarmctl_write_mode": swarm.writeMode,
        "results": rows,
        "goal": ["ratio_writes_per_second_at_64_clients": 3.0, "measured": at64 ?? 0, "met": (at64 ?? 0) >= 3],
        "peer_reference_from_issue": ["etcd_writes_per_second_at_64_clients": "2110–2660", "etcd_p50_ms_one_client": "1.2–1.5"],
        "machine": machine(),
    ]
    try writeJSON(document, to: options.output ?? "Benchmarks/results/writes.json")
}

func etcdVersion() -> String {
    let text = (try? run(["/usr/bin/etcd", "--version"])) ?? ""
    return text.split(separator: "\n").first.map { String($0.replacingOccurrences(of: "etcd Version: ", with: "")) } ?? "?"
}
