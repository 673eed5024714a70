import Foundation
import Glibc
import Platform

/// `compare-bench writes-tls`: what TLS on the cluster port costs, measured with the same binary.
/// Two 3-manager clusters run side by side; one has every member started with the
/// BENCHMARK-ONLY switch `SWARMCTL_BENCH_INSECURE_CLUSTER=1` (the mutual TLS handshake still
/// happens, then frames between members go unencrypted), the other is the normal TLS cluster.
/// Rounds alternate which cluster goes first, as `writes` does against etcd. Goal (issue 14):
/// TLS within 10% of plaintext at 64 clients.
func runWritesTLS(_ options: Options) throws {
    let tls = try SwarmCluster(binary: options.swarmctl, base: options.tempBase, label: "tls")
    let plain = try SwarmCluster(binary: options.swarmctl, base: options.tempBase, label: "plaintext",
                                 environment: ["SWARMCTL_BENCH_INSECURE_CLUSTER": "1"])
    defer { tls.stop(); plain.stop() }
    try tls.start()
    try plain.start()
    try requirePlaintextLinks(plain, expected: true)
    try requirePlaintextLinks(tls, expected: false)
    let systems: [ReplicatedSystem] = [tls, plain]
    print("swarmctl write: \(tls.writeMode); value \(options.valueSize) bytes; \(options.seconds) s per case; \(options.runs) runs; "
        + "'plaintext' = same binary with SWARMCTL_BENCH_INSECURE_CLUSTER=1 (benchmark only)")
    for system in systems { _ = try measureWrites(system, clients: 16, seconds: 1, valueSize: options.valueSize, tag: "warm") }

    var results: [String: [Int: [WriteCase]]] = [:]
    for run in 1...options.runs {
        for (position, count) in options.clients.enumerated() {
            let order = (run + position) % 2 == 0 ? systems : systems.reversed()
            for system in order {
                let measured = try measureWrites(system, clients: count, seconds: options.seconds, valueSize: options.valueSize,
                                                 tag: "r\(run)n\(count)")
                results[system.label, default: [:]][count, default: []].append(measured)
                print(String(format: "run %d  %-9@ clients %3d  %7.0f writes/s  p50 %6.2f ms  p99 %7.2f ms  servers %.2f cores",
                             run, system.label as NSString, count, measured.writesPerSecond, measured.p50Millis, measured.p99Millis,
                             measured.serverCores))
                sleepMillis(300)
            }
        }
    }

    print("")
    print("| clients | TLS writes/s (median, min–max) | plaintext writes/s (median, min–max) | TLS / plaintext | TLS p50 / p99 ms | plaintext p50 / p99 ms | server CPU µs/write TLS / plaintext |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    var rows: [[String: Any]] = []
    for count in options.clients {
        let ours = results["tls"]![count]!, theirs = results["plaintext"]![count]!
        func rates(_ cases: [WriteCase]) -> [Double] { cases.map(\.writesPerSecond) }
        func cpu(_ cases: [WriteCase]) -> [Double] { cases.map { $0.writesPerSecond > 0 ? $0.serverCores * 1e6 / $0.writesPerSecond : 0 } }
        let oursRate = median(rates(ours)), theirsRate = median(rates(theirs))
        print("| \(count) | \(format(oursRate)) (\(format(rates(ours).min()!))–\(format(rates(ours).max()!))) | \(format(theirsRate)) (\(format(rates(theirs).min()!))–\(format(rates(theirs).max()!))) | \(format(ratio(oursRate, theirsRate), 3))× | \(format(median(ours.map(\.p50Millis)), 2)) / \(format(median(ours.map(\.p99Millis)), 2)) | \(format(median(theirs.map(\.p50Millis)), 2)) / \(format(median(theirs.map(\.p99Millis)), 2)) | \(format(median(cpu(ours)))) / \(format(median(cpu(theirs)))) |")
        // Per-run ratios (each run measured both back to back): their median is less exposed to drift.
        let paired = zip(rates(ours), rates(theirs)).map { ratio($0, $1) }
        func side(_ cases: [WriteCase]) -> [String: Any] {
            ["writes_per_second": summary(rates(cases)), "p50_ms": summary(cases.map(\.p50Millis)), "p99_ms": summary(cases.map(\.p99Millis)),
             "failed_writes": cases.map(\.failures), "server_cores": summary(cases.map(\.serverCores)), "server_cpu_us_per_write": summary(cpu(cases))]
        }
        rows.append(["clients": count, "tls": side(ours), "plaintext": side(theirs), "ratio_tls_to_plaintext": ratio(oursRate, theirsRate),
                     "per_run_ratios": paired, "median_per_run_ratio": median(paired)])
    }
    let at64 = rows.first { $0["clients"] as? Int == 64 }?["ratio_tls_to_plaintext"] as? Double
    if let at64 { print("\ngoal: TLS ≥ 0.90× plaintext writes/s at 64 clients: \(format(at64, 3))× — \(at64 >= 0.9 ? "met" : "MISSED")") }
    let document: [String: Any] = [
        "benchmark": "replicated-writes-tls-cost",
        "command": "bash Benchmarks/compare/run.sh writes-tls",
        "setup": [
            "tls": "3 managers, 127.0.0.1, mutual TLS 1.3 on the cluster port (default)",
            "plaintext": "the same binary, every member started with SWARMCTL_BENCH_INSECURE_CLUSTER=1 (benchmark only: TLS handshake, then unencrypted frames)",
            "write": tls.writeMode, "value_bytes": options.valueSize, "seconds_per_case": options.seconds, "runs": options.runs,
            "interleaving": "within each run, for each client count, both clusters back to back, order alternating",
        ] as [String: Any],
        "results": rows,
        "goal": ["tls_to_plaintext_at_64_clients_at_least": 0.9, "measured": at64 ?? 0, "met": (at64 ?? 0) >= 0.9],
        "machine": machine(),
    ]
    try writeJSON(document, to: options.output ?? "Benchmarks/results/writes-tls.json")
}

/// The members' logs show whether their links negotiated the benchmark plaintext mode: refuse to
/// report a comparison that did not compare anything.
private func requirePlaintextLinks(_ cluster: SwarmCluster, expected: Bool) throws {
    let marker = "NOT ENCRYPTED]"
    let seen = cluster.members.contains { member in
        ((try? String(contentsOfFile: member.log, encoding: .utf8)) ?? "").contains(marker)
    }
    guard seen == expected else {
        throw BenchError("\(cluster.label): links \(expected ? "did not negotiate" : "negotiated") the benchmark plaintext mode "
            + "(logs in \(cluster.directory))")
    }
}
