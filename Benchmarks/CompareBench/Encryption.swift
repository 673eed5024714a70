import Foundation

/// `compare-bench encryption`: replicated writes/s of two 3-manager swarmctl clusters from the same
/// binary, one with encryption at rest (the default) and one started with the benchmark-only
/// `SWARMCTL_BENCHMARK_PLAINTEXT_RAFT=1` (plaintext WAL and snapshots), measured in alternating
/// order within each run so the machine's load drift hits both alike (issue 17: within 10%).
func runEncryptionWrites(_ options: Options) throws {
    let clients = options.clients == [1, 16, 64] ? [64] : options.clients
    let encrypted = try SwarmCluster(binary: options.swarmctl, base: options.tempBase, label: "encrypted")
    let plaintext = try SwarmCluster(binary: options.swarmctl, base: options.tempBase, label: "plaintext",
                                     environment: ["SWARMCTL_BENCHMARK_PLAINTEXT_RAFT": "1"])
    defer { encrypted.stop(); plaintext.stop() }
    try encrypted.start()
    try plaintext.start()
    let plainLog = (try? String(contentsOfFile: plaintext.members[0].log, encoding: .utf8)) ?? ""
    guard plainLog.contains("NOT encrypted at rest") else { throw BenchError("the plaintext cluster did not take the benchmark switch") }
    let systems: [ReplicatedSystem] = [encrypted, plaintext]
    print("one write = POST /services/create of a replicas-0 service; \(options.seconds) s per case; \(options.runs) runs; clients \(clients)")
    for system in systems { _ = try measureWrites(system, clients: 16, seconds: 1, valueSize: options.valueSize, tag: "warm") }
    var results: [String: [Int: [WriteCase]]] = [:]
    var ratios: [Int: [Double]] = [:]
    for run in 1...options.runs {
        for count in clients {
            let order = run % 2 == 0 ? systems : systems.reversed()
            var pair: [String: Double] = [:]
            for system in order {
                let measured = try measureWrites(system, clients: count, seconds: options.seconds, valueSize: options.valueSize,
                                                 tag: "r\(run)n\(count)")
                results[system.label, default: [:]][count, default: []].append(measured)
                pair[system.label] = measured.writesPerSecond
                print(String(format: "run %d  %-9@ clients %3d  %7.0f writes/s  p50 %6.2f ms  p99 %7.2f ms  failed %d",
                             run, system.label as NSString, count, measured.writesPerSecond, measured.p50Millis, measured.p99Millis,
                             measured.failures))
                sleepMillis(300)
            }
            ratios[count, default: []].append(ratio(pair["encrypted"]!, pair["plaintext"]!))
        }
    }
    print("")
    print("| clients | encrypted writes/s (median, min–max) | plaintext writes/s (median, min–max) | encrypted / plaintext (median of per-run ratios) |")
    print("|---:|---:|---:|---:|")
    var rows: [[String: Any]] = []
    for count in clients {
        let ours = results["encrypted"]![count]!.map(\.writesPerSecond)
        let plain = results["plaintext"]![count]!.map(\.writesPerSecond)
        let perRun = ratios[count]!
        print("| \(count) | \(format(median(ours))) (\(format(ours.min()!))–\(format(ours.max()!))) | \(format(median(plain))) (\(format(plain.min()!))–\(format(plain.max()!))) | \(format(median(perRun), 3)) (runs: \(perRun.map { format($0, 3) }.joined(separator: ", "))) |")
        rows.append(["clients": count, "encrypted_writes_per_second": summary(ours), "plaintext_writes_per_second": summary(plain),
                     "ratio_per_run": perRun, "ratio_median": median(perRun)])
    }
    let document: [String: Any] = [
        "benchmark": "replicated-writes-encryption-at-rest",
        "command": ".build/release/compare-bench encryption --runs \(options.runs) --seconds \(options.seconds)",
        "setup": "two 3-manager swarmctl clusters from one binary, 127.0.0.1, WAL with fsync; plaintext = SWARMCTL_BENCHMARK_PLAINTEXT_RAFT=1 "
            + "(benchmark-only); each run measures both back to back, order alternating",
        "results": rows,
        "goal": "encrypted within 10% of plaintext at 64 clients (ratio >= 0.90)",
        "machine": machine(),
    ]
    try writeJSON(document, to: options.output ?? "Benchmarks/results/writes-encryption.json")
}
