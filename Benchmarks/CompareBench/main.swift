// compare-bench: swarmctl side by side with a 3-member etcd 3.4 cluster on this machine (issue 9).
//
//   bash Benchmarks/compare/run.sh writes|failover|memory      (installs etcd, builds, runs)
//   .build/release/compare-bench writes   [--clients 1,16,64] [--seconds 5] [--runs 5] [--value-size 128]
//   .build/release/compare-bench failover [--kills 20] [--stops 10] [--attempt-timeout 250]
//   .build/release/compare-bench memory   [--idle 15] [--samples 5] [--services 100] [--replicas 100]
//   .build/release/compare-bench encryption [--clients 64] [--seconds 5] [--runs 5]   (no etcd: swarmctl
//       with encryption at rest against the same binary with it off, SWARMCTL_BENCHMARK_PLAINTEXT_RAFT=1)
//   .build/release/compare-bench writes-tls [--clients 16,64] [--seconds 5] [--runs 5]   (TLS vs the
//       benchmark-only SWARMCTL_BENCH_INSECURE_CLUSTER=1, same binary; no etcd)
//   common: [--json PATH] [--tmp DIR]; writes: [--trace 1] (CPU by thread and write-path stages per member)
//       [--baseline BINARY] (another swarmctl build measured in the same runs, e.g. main's, for before/after)
//
// Every cluster runs on 127.0.0.1 only, in a temporary directory that is removed at the end; its
// processes are ended by pid.
import Foundation
import Glibc
import Platform

struct Options {
    var command = ""
    var clients = [1, 16, 64]
    var seconds = 5.0
    var runs = 5
    var valueSize = 128
    var kills = 20
    var stops = 10
    var attemptTimeoutMillis = 250
    var idleSeconds = 15.0
    var samples = 5
    var services = 100
    var replicas = 100
    var output: String?
    var tempBase = "/tmp"
    var swarmctl = ""
    /// `--trace 1`: after each case, each member's CPU by thread and swarmctl's write-path stages.
    var trace = false
    /// `--baseline BINARY`: another swarmctl build measured in the same runs (`writes`).
    var baseline: String?

    init(_ arguments: [String]) {
        guard let first = arguments.first, ["writes", "failover", "memory", "encryption", "writes-tls"].contains(first) else {
            fail("usage: compare-bench writes|failover|memory|encryption|writes-tls [options] (see Benchmarks/README.md)")
        }
        command = first
        if command == "writes-tls" { clients = [16, 64] }
        var index = 1
        while index + 1 < arguments.count {
            let value = arguments[index + 1]
            switch arguments[index] {
            case "--clients": clients = value.split(separator: ",").compactMap { Int($0) }
            case "--seconds": seconds = Double(value) ?? seconds
            case "--runs": runs = Int(value) ?? runs
            case "--value-size": valueSize = Int(value) ?? valueSize
            case "--kills": kills = Int(value) ?? kills
            case "--stops": stops = Int(value) ?? stops
            case "--attempt-timeout": attemptTimeoutMillis = Int(value) ?? attemptTimeoutMillis
            case "--idle": idleSeconds = Double(value) ?? idleSeconds
            case "--samples": samples = Int(value) ?? samples
            case "--services": services = Int(value) ?? services
            case "--replicas": replicas = Int(value) ?? replicas
            case "--json": output = value
            case "--trace": trace = value == "1"
            case "--baseline": baseline = value
            case "--tmp": tempBase = value
            default: fail("unknown option \(arguments[index])")
            }
            index += 2
        }
        if index < arguments.count { fail("option \(arguments[index]) needs a value") }
        let executable = (try? FileSystem.readLink("/proc/self/exe")) ?? ""
        swarmctl = FileSystem.parentDirectory(of: executable) + "/swarmctl"
        guard FileSystem.exists(swarmctl) else { fail("build swarmctl next to compare-bench: swift build -c release --product swarmctl") }
    }
}

// Members are started under `setpriv --pdeathsig KILL`: if this process dies (Ctrl-C), they die
// too; the temporary directories are then removed by Benchmarks/compare/run.sh's trap.
let options = Options(Array(CommandLine.arguments.dropFirst()))
do {
    switch options.command {
    case "writes": try runWrites(options)
    case "failover": try runFailover(options)
    case "encryption": try runEncryptionWrites(options)
    case "writes-tls": try runWritesTLS(options)
    default: try runMemory(options)
    }
} catch {
    fail("\(error)")
}
