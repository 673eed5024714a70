// api-bench: service updates per second through the Docker API of 3 managers with fsync (issue 5).
//
//   swift build -c release --product swarmctl --product api-bench
//   .build/release/api-bench [--clients 1,16,64] [--seconds 5] [--runs 5] [--json PATH]
//   .build/release/api-bench decode [--iterations 20000] [--runs 7]   (ns per ServiceSpec body decode, no cluster)
//
// Starts 3 managers on 127.0.0.1 (real processes, WAL with fsync), gives every client its own
// service, and has each client loop: GET the service (a linearizable ReadIndex read), POST
// /services/ID/update with that version. Clients are spread over the three managers, so two
// thirds of the writes are forwarded to the leader. Reports updates/s and the POST's p50/p99,
// median over the runs with min–max, interleaving the client counts within each run.
import API
import Foundation
import Glibc
import Platform

struct Options {
    var clients = [1, 16, 64]
    var seconds = 5.0
    var runs = 5
    var jsonPath = "Benchmarks/results/api.json"

    init(_ arguments: [String]) {
        var index = 0
        while index + 1 < arguments.count {
            let value = arguments[index + 1]
            switch arguments[index] {
            case "--clients": clients = value.split(separator: ",").compactMap { Int($0) }
            case "--seconds": seconds = Double(value) ?? seconds
            case "--runs": runs = Int(value) ?? runs
            case "--json": jsonPath = value
            default: fail("unknown option \(arguments[index])")
            }
            index += 2
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("api-bench: \(message)\n".utf8))
    exit(1)
}

/// Three manager processes in a temporary directory, ended (by pid) and removed at the end.
final class LocalCluster {
    let binary: String
    let directory: String
    var processes: [ChildProcess] = []
    var apis: [String] = []

    init() throws {
        let executable = try FileSystem.readLink("/proc/self/exe")
        binary = FileSystem.parentDirectory(of: executable) + "/swarmctl"
        guard FileSystem.exists(binary) else { fail("build swarmctl next to api-bench: swift build -c release --product swarmctl") }
        directory = try FileSystem.makeTemporaryDirectory(prefix: "swarmctl-api-bench-")
    }

    func start() throws {
        var firstAddress = ""
        for index in 1...3 {
            let name = "m\(index)"
            let port = try freePort()
            let api = "unix:\(directory)/\(name).sock"
            var arguments = ["--data-dir", "\(directory)/\(name)", "--listen-addr", "127.0.0.1:\(port)", "--api-addr", api,
                             "--executor", "process"]
            if index == 1 {
                arguments = ["init"] + arguments
                firstAddress = "127.0.0.1:\(port)"
            } else {
                arguments = ["join", "--token", try cli(apis[0], ["join-token", "manager", "-q"]).trimmingCharacters(in: .whitespacesAndNewlines)]
                    + arguments + [firstAddress]
            }
            let quoted = ([binary] + arguments).map { "'\($0)'" }.joined(separator: " ")
            processes.append(try ChildProcess.spawn("/bin/sh", arguments: ["-c", "exec \(quoted) >/dev/null 2>>'\(directory)/\(name).log'"]))
            apis.append(api)
            try waitUntil("\(name) answers") { (try? self.cli(api, ["info"])) != nil }
        }
        try waitUntil("3 reachable managers") {
            let output = (try? self.cli(self.apis[0], ["node", "ls"])) ?? ""
            return output.components(separatedBy: "Reachable").count + output.components(separatedBy: "Leader").count - 2 == 3
        }
    }

    func stop() {
        for process in processes {
            try? process.kill(SIGKILL)
            _ = try? process.wait()
        }
        try? FileSystem.removeTree(directory)
    }

    func cli(_ api: String, _ arguments: [String]) throws -> String {
        let quoted = ([binary, "-H", api] + arguments).map { "'\($0)'" }.joined(separator: " ")
        let process = try ChildProcess.spawn("/bin/sh", arguments: ["-c", "exec \(quoted) 2>/dev/null"])
        var output: [UInt8] = []
        while let chunk = try process.readOutput(timeoutMilliseconds: 10_000), !chunk.isEmpty { output += chunk }
        let status = try process.wait()
        guard status.exitCode == 0 else { throw CocoaError(.fileReadUnknown) }
        return String(decoding: output, as: UTF8.self)
    }

    private func freePort() throws -> Int {
        let socket = try Socket.listen(on: try SocketAddress(parsing: "127.0.0.1:0"))
        defer { socket.close() }
        return Int(try socket.localAddress().port ?? 0)
    }

    private func waitUntil(_ what: String, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if condition() { return }
            usleep(100_000)
        }
        throw BenchError(message: "timed out waiting until \(what); logs in \(directory)")
    }
}

/// One client: its own service and connection; counts successful updates and their latencies.
final class UpdateClient: @unchecked Sendable {
    let client: HTTPClient
    let service: String
    var latenciesMicros: [Double] = []
    var conflicts = 0
    var errors = 0

    init(api: String, service: String) throws {
        client = HTTPClient(address: try SocketAddress(parsing: api), timeoutMillis: 10_000)
        self.service = service
    }

    static func spec(_ name: String, counter: Int) -> [UInt8] {
        Array(#"{"Name":"\#(name)","Labels":{"counter":"\#(counter)"},"TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"Mode":{"Replicated":{"Replicas":0}}}"#.utf8)
    }

    func create() throws {
        let response = try client.send("POST", "/v1.41/services/create", body: Self.spec(service, counter: 0),
                                       headers: HTTPHeaders([("Content-Type", "application/json")]))
        guard response.status == 201 || response.status == 409 else {
            throw BenchError(message: "create \(service) answered \(response.status): \(String(decoding: response.body, as: UTF8.self))")
        }
    }

    /// Updates until `deadline` (monotonic ns).
    func run(until deadline: UInt64) {
        latenciesMicros = []
        var counter = 0
        while monotonicNanoseconds() < deadline {
            guard let read = try? client.send("GET", "/v1.41/services/\(service)"), read.status == 200,
                  let object = try? JSONSerialization.jsonObject(with: Data(read.body)) as? [String: Any],
                  let version = (object["Version"] as? [String: Any])?["Index"] as? Int else { errors += 1; continue }
            counter += 1
            let started = monotonicNanoseconds()
            guard let write = try? client.send("POST", "/v1.41/services/\(service)/update",
                                               query: QueryParameters([("version", String(version))]),
                                               body: Self.spec(service, counter: counter),
                                               headers: HTTPHeaders([("Content-Type", "application/json")])) else { errors += 1; continue }
            if write.status == 200 {
                latenciesMicros.append(Double(monotonicNanoseconds() - started) / 1000)
            } else {
                conflicts += 1
            }
        }
    }
}

struct Measurement {
    var clients: Int
    var updatesPerSecond: Double
    var p50Millis: Double
    var p99Millis: Double
}

func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * fraction))]
}

func measure(_ clients: [UpdateClient], seconds: Double) -> Measurement {
    let deadline = monotonicNanoseconds() + UInt64(seconds * 1e9)
    let done = DispatchGroup()
    for client in clients {
        done.enter()
        Thread.detachNewThread {
            client.run(until: deadline)
            done.leave()
        }
    }
    done.wait()
    let latencies = clients.flatMap(\.latenciesMicros).sorted()
    return Measurement(clients: clients.count, updatesPerSecond: Double(latencies.count) / seconds,
                       p50Millis: percentile(latencies, 0.5) / 1000, p99Millis: percentile(latencies, 0.99) / 1000)
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
}

if CommandLine.arguments.dropFirst().first == "decode" { DecodeBench.run(Array(CommandLine.arguments.dropFirst(2))) }
let options = Options(Array(CommandLine.arguments.dropFirst()))
let cluster = try LocalCluster()
do {
    try cluster.start()
    let maximum = options.clients.max() ?? 1
    let pool = try (0..<maximum).map { index in try UpdateClient(api: cluster.apis[index % 3], service: "bench-\(index)") }
    for client in pool { try client.create() }
    var results: [Int: [Measurement]] = [:]
    for run in 1...options.runs {
        for count in options.clients {
            let measurement = measure(Array(pool.prefix(count)), seconds: options.seconds)
            results[count, default: []].append(measurement)
            print(String(format: "run %d  clients %3d  %8.0f updates/s  p50 %6.2f ms  p99 %7.2f ms", run, count,
                         measurement.updatesPerSecond, measurement.p50Millis, measurement.p99Millis))
        }
    }
    print("\nclients  updates/s (median, min–max)      p50 ms   p99 ms")
    var rows: [[String: Any]] = []
    for count in options.clients {
        let runs = results[count]!
        let rates = runs.map(\.updatesPerSecond)
        let p50 = median(runs.map(\.p50Millis))
        let p99 = median(runs.map(\.p99Millis))
        print(String(format: "%7d  %9.0f (%.0f–%.0f)  %12.2f %8.2f", count, median(rates), rates.min()!, rates.max()!, p50, p99))
        rows.append(["clients": count, "updates_per_second_median": median(rates), "updates_per_second_min": rates.min()!,
                     "updates_per_second_max": rates.max()!, "p50_ms": p50, "p99_ms": p99])
    }
    var uts = utsname()
    uname(&uts)
    let kernel = withUnsafeBytes(of: uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    let machine: [String: Any] = ["nproc": ProcessInfo.processInfo.activeProcessorCount,
                                  "memory_bytes": ProcessInfo.processInfo.physicalMemory, "kernel": kernel,
                                  "date": ISO8601DateFormatter().string(from: Date())]
    let document: [String: Any] = ["benchmark": "api service updates (3 managers, fsync, GET+versioned POST per update)",
                                   "seconds_per_case": options.seconds, "runs": options.runs, "results": rows, "machine": machine]
    let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
    try data.write(to: URL(fileURLWithPath: options.jsonPath))
    print("wrote \(options.jsonPath)")
    cluster.stop()
} catch {
    cluster.stop()
    fail("\(error)")
}
