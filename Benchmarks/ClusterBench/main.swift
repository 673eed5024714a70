// cluster-bench: service convergence and worker-loss recovery on real node processes (issue 6/9).
//
//   swift build -c release --product swarmctl --product cluster-bench
//   .build/release/cluster-bench converge [--replicas 1,10,50,100] [--runs 5] [--executor process|oci] [--runtime runc|crun] [--poll-ms 10] [--trace FILE]
//   .build/release/cluster-bench node-failure [--tasks 20] [--runs 5]
//
// With --executor oci (root, runc or crun in PATH) each node's image store gets `busybox`,
// imported with `swarmctl image import` from a root file system made of /bin/busybox (a static
// build: apt-get install busybox-static) and `sleep`/`sh` links to it; --busybox PATH picks another.
//
// converge: one node (a manager, as docker's one-node swarm); time from `POST /services/create`
// to every replica RUNNING, polling the API every 10 ms (--poll-ms); the service is removed (and its tasks
// gone) before the next run. node-failure: a manager and two workers; a service's tasks all run
// on one worker, which is killed with SIGKILL; time until every task runs on the other worker.
// Each prints a table and writes Benchmarks/results/{converge,node-failure}-EXECUTOR.json (the
// side-by-side scripts in Benchmarks/compare write converge.json and node-failure.json).
import API
import Foundation
import Glibc
import Platform

struct BenchError: Error, CustomStringConvertible {
    var description: String
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("cluster-bench: \(message)\n".utf8))
    exit(1)
}

func option(_ name: String, _ fallback: String) -> String {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return fallback }
    return arguments[index + 1]
}

/// Node processes in a temporary directory; ended by pid (with their tasks) and removed at the end.
final class BenchCluster {
    struct Member {
        var name: String
        var process: ChildProcess?
        var api: String
        var address: String
    }

    let binary: String
    let directory: String
    let executor: String
    /// `--runtime runc|crun` for every node (empty: the node's default).
    let runtime = option("--runtime", "")
    var members: [Member] = []

    init(executor: String) throws {
        binary = FileSystem.parentDirectory(of: try FileSystem.readLink("/proc/self/exe")) + "/swarmctl"
        guard FileSystem.exists(binary) else { throw BenchError(description: "build swarmctl next to cluster-bench first") }
        directory = try FileSystem.makeTemporaryDirectory(prefix: "swarmctl-cluster-bench-")
        self.executor = executor
        try OrphanReaper.adoptOrphans()
    }

    func start(managers: Int, workers: Int) throws {
        for index in 0..<(managers + workers) {
            let name = index < managers ? "m\(index + 1)" : "w\(index - managers + 1)"
            let socket = try Socket.listen(on: try SocketAddress(parsing: "127.0.0.1:0"))
            let address = "127.0.0.1:\(try socket.localAddress().port ?? 0)"
            socket.close()
            var arguments = ["--data-dir", "\(directory)/\(name)", "--listen-addr", address, "--api-addr", "unix:\(directory)/\(name).sock",
                             "--executor", executor] + (runtime.isEmpty ? [] : ["--runtime", runtime])
            if index == 0 {
                arguments = ["init"] + arguments
            } else {
                let role = index < managers ? "manager" : "worker"
                let token = try cli(members[0].api, ["join-token", role, "-q"]).trimmingCharacters(in: .whitespacesAndNewlines)
                arguments = ["join", "--token", token] + arguments + [members[0].address]
            }
            members.append(Member(name: name, process: try spawn(name, arguments), api: "unix:\(directory)/\(name).sock", address: address))
            try waitUntil("\(name) answers", seconds: 30) { (try? self.cli(self.members.last!.api, ["info"])) != nil }
            if executor == "oci" { try importBusybox(into: "\(directory)/\(name)") }
        }
        let total = managers + workers
        try waitUntil("\(total) nodes ready", seconds: 60) {
            let nodes = (try? self.json("GET", "/nodes") as? [[String: Any]]) ?? []
            return nodes.count == total && nodes.allSatisfy { ($0["Status"] as? [String: Any])?["State"] as? String == "ready" }
        }
    }

    /// The OCI executor runs images from the node's own store: `busybox` made of a static busybox.
    func importBusybox(into dataDirectory: String) throws {
        let rootfs = "\(directory)/busybox-rootfs"
        if !FileSystem.exists(rootfs + "/bin/busybox") {
            let busybox = option("--busybox", "/bin/busybox")
            guard FileSystem.exists(busybox) else {
                throw BenchError(description: "--executor oci needs a static busybox at \(busybox) (apt-get install busybox-static)")
            }
            let script = "mkdir -p '\(rootfs)/bin' && cp '\(busybox)' '\(rootfs)/bin/busybox' && ln -s busybox '\(rootfs)/bin/sleep' && ln -s busybox '\(rootfs)/bin/sh'"
            let process = try ChildProcess.spawn("/bin/sh", arguments: ["-c", script])
            guard try process.wait().exitCode == 0 else { throw BenchError(description: "cannot make the busybox root file system in \(rootfs)") }
        }
        let quoted = [binary, "image", "import", "busybox", rootfs, "--data-dir", dataDirectory].map { "'\($0)'" }.joined(separator: " ")
        let process = try ChildProcess.spawn("/bin/sh", arguments: ["-c", "exec \(quoted) >/dev/null 2>>'\(directory)/image-import.log'"])
        guard try process.wait().exitCode == 0 else { throw BenchError(description: "swarmctl image import busybox failed; see \(directory)/image-import.log") }
    }

    func spawn(_ name: String, _ arguments: [String]) throws -> ChildProcess {
        let quoted = ([binary] + arguments).map { "'\($0)'" }.joined(separator: " ")
        return try ChildProcess.spawn("/bin/sh", arguments: ["-c", "exec \(quoted) >/dev/null 2>>'\(directory)/\(name).log'"])
    }

    func restart(_ index: Int) throws {
        members[index].process = try spawn(members[index].name, ["run", "--data-dir", "\(directory)/\(members[index].name)", "--executor", executor]
                                           + (runtime.isEmpty ? [] : ["--runtime", runtime]))
    }

    func kill(_ index: Int) {
        guard let process = members[index].process else { return }
        try? process.kill(SIGKILL)
        _ = try? process.wait()
        members[index].process = nil
        // A machine that dies takes its tasks with it.
        OrphanReaper.endAdoptedChildren(keep: Set(members.compactMap { $0.process?.pid }))
    }

    func stop() {
        for index in members.indices { kill(index) }
        OrphanReaper.endAdoptedChildren()
        // rm, not FileSystem.removeTree: that follows links (stat), so the busybox root file
        // system's `sleep`/`sh` links (dangling once busybox is gone) would keep the tree.
        if let process = try? ChildProcess.spawn("/bin/rm", arguments: ["-rf", "--one-file-system", directory]) { _ = try? process.wait() }
    }

    func cli(_ api: String, _ arguments: [String]) throws -> String {
        let quoted = ([binary, "-H", api] + arguments).map { "'\($0)'" }.joined(separator: " ")
        let process = try ChildProcess.spawn("/bin/sh", arguments: ["-c", "exec \(quoted) 2>/dev/null"])
        var output: [UInt8] = []
        while let chunk = try process.readOutput(timeoutMilliseconds: 30_000), !chunk.isEmpty { output += chunk }
        guard try process.wait().exitCode == 0 else { throw BenchError(description: "swarmctl \(arguments.joined(separator: " ")) failed") }
        return String(decoding: output, as: UTF8.self)
    }

    lazy var client = HTTPClient(address: try! SocketAddress(parsing: members[0].api), timeoutMillis: 10_000)

    func request(_ method: String, _ path: String, query: [(String, String)] = [], body: String? = nil) throws -> HTTPResponse {
        try client.send(method, "/v1.41" + path, query: QueryParameters(query), body: body.map { Array($0.utf8) },
                        headers: HTTPHeaders(body == nil ? [] : [("Content-Type", "application/json")]))
    }

    func json(_ method: String, _ path: String, query: [(String, String)] = []) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(try request(method, path, query: query).body))
    }

    func nodeID(_ index: Int) throws -> String {
        let info = try cli(members[index].api, ["info", "--format", "json"])
        let object = try JSONSerialization.jsonObject(with: Data(info.utf8)) as? [String: Any]
        return ((object?["Swarm"] as? [String: Any])?["NodeID"] as? String) ?? ""
    }

    func setAvailability(_ nodeID: String, _ availability: String) throws {
        _ = try cli(members[0].api, ["node", "update", "--availability", availability, nodeID])
    }

    /// Running tasks of `service` per node id.
    func running(_ service: String) throws -> [String: Int] {
        let filter = "{\"service\":{\"\(service)\":true},\"desired-state\":{\"running\":true}}"
        let tasks = try json("GET", "/tasks", query: [("filters", filter)]) as? [[String: Any]] ?? []
        var counts: [String: Int] = [:]
        for task in tasks where (task["Status"] as? [String: Any])?["State"] as? String == "running" {
            counts[task["NodeID"] as? String ?? "", default: 0] += 1
        }
        return counts
    }

    func createService(_ name: String, replicas: Int) throws -> String {
        // No stop grace (docker's side uses --stop-signal KILL): `sleep` as a container's pid 1
        // ignores TERM, so every removal would wait out 10 s. Only the untimed removal is affected.
        let body = #"{"Name":"\#(name)","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Args":["sleep","3600"],"StopGracePeriod":0}},"Mode":{"Replicated":{"Replicas":\#(replicas)}}}"#
        let response = try request("POST", "/services/create", body: body)
        guard response.status == 201, let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
              let id = object["ID"] as? String else { throw BenchError(description: "create \(name): \(response.status)") }
        return id
    }

    func removeService(_ id: String) throws {
        _ = try request("DELETE", "/services/\(id)")
        try waitUntil("the service's tasks are gone", seconds: 60) {
            // The `service` filter refuses a removed service: list all tasks and pick its own.
            guard let all = try? self.json("GET", "/tasks") as? [[String: Any]] else { return false }
            let tasks = all.filter { $0["ServiceID"] as? String == id }
            return tasks.allSatisfy { (($0["Status"] as? [String: Any])?["State"] as? String).map { ["shutdown", "complete", "failed", "rejected", "remove", "orphaned"].contains($0) } ?? false }
        }
    }

    func waitUntil(_ what: String, seconds: Double, pollMillis: UInt32 = 100, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return }
            usleep(pollMillis * 1000)
        }
        throw BenchError(description: "timed out waiting until \(what); logs in \(directory)")
    }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
}

func machine() -> [String: Any] {
    var uts = utsname()
    uname(&uts)
    let kernel = withUnsafeBytes(of: uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    return ["nproc": ProcessInfo.processInfo.activeProcessorCount, "memory_bytes": ProcessInfo.processInfo.physicalMemory,
            "kernel": kernel, "date": ISO8601DateFormatter().string(from: Date())]
}

func write(_ document: [String: Any], to path: String) throws {
    try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: path))
    print("wrote \(path)")
}

func converge(_ cluster: BenchCluster) throws {
    let counts = option("--replicas", "1,10,50,100").split(separator: ",").compactMap { Int($0) }
    let runs = Int(option("--runs", "5")) ?? 5
    let pollMillis = UInt32(option("--poll-ms", "10")) ?? 10
    // --trace FILE: the node writes its per-task start phases there (SWARMCTL_START_TRACE), and
    // the benchmark adds when it sent each create and saw it converged (start-phases.py reads it).
    let trace = option("--trace", "")
    if !trace.isEmpty { setenv("SWARMCTL_START_TRACE", trace, 1) }
    func mark(_ what: String, _ service: String) {
        guard !trace.isEmpty, let file = FileHandle(forWritingAtPath: trace) ?? {
            FileManager.default.createFile(atPath: trace, contents: nil)
            return FileHandle(forWritingAtPath: trace)
        }() else { return }
        file.seekToEndOfFile()
        file.write(Data("\(monotonicNanoseconds()) \(service) \(what)\n".utf8))
        file.closeFile()
    }
    try cluster.start(managers: 1, workers: 0)
    var seconds: [Int: [Double]] = [:]
    for run in 1...runs {
        for count in counts {
            mark("create", "service-converge-\(run)-\(count)")
            let started = monotonicNanoseconds()
            let id = try cluster.createService("converge-\(run)-\(count)", replicas: count)
            try cluster.waitUntil("\(count) replicas running", seconds: 120, pollMillis: pollMillis) { try cluster.running(id).values.reduce(0, +) == count }
            let elapsed = Double(monotonicNanoseconds() - started) / 1e9
            mark("converged", "service-converge-\(run)-\(count)")
            seconds[count, default: []].append(elapsed)
            print(String(format: "run %d  %4d replicas  %.3f s", run, count, elapsed))
            try cluster.removeService(id)
        }
    }
    print("\nreplicas  to N/N running, s (median, min–max)   docker 20.10 swarm here (issue 6, separate run)")
    let docker: [Int: String] = [1: "0.34–0.45", 10: "0.80–0.93", 50: "3.1–3.3"]
    var rows: [[String: Any]] = []
    for count in counts {
        let values = seconds[count]!
        print(String(format: "%8d  %.3f (%.3f–%.3f)                  %@", count, median(values), values.min()!, values.max()!, docker[count] ?? "-"))
        rows.append(["replicas": count, "seconds_median": median(values), "seconds_min": values.min()!, "seconds_max": values.max()!,
                     "docker_20_10_seconds_reported": docker[count] ?? NSNull()])
    }
    try write(["benchmark": "converge: service create to N/N running on one node (\(cluster.executor) executor\(cluster.runtime.isEmpty ? "" : ", " + cluster.runtime))", "runs": runs,
               "results": rows, "machine": machine()], to: option("--json", "Benchmarks/results/converge-\(cluster.executor)\(cluster.runtime.isEmpty ? "" : "-" + cluster.runtime).json"))
}

func nodeFailure(_ cluster: BenchCluster) throws {
    let taskCount = Int(option("--tasks", "20")) ?? 20
    let runs = Int(option("--runs", "5")) ?? 5
    try cluster.start(managers: 1, workers: 2)
    let manager = try cluster.nodeID(0)
    try cluster.setAvailability(manager, "drain")
    var seconds: [Double] = []
    for run in 1...runs {
        // Alternate which worker dies; the other one is drained while the service is placed.
        let victim = run % 2 == 1 ? 1 : 2
        let survivor = victim == 1 ? 2 : 1
        let victimID = try cluster.nodeID(victim)
        let survivorID = try cluster.nodeID(survivor)
        try cluster.setAvailability(survivorID, "drain")
        let id = try cluster.createService("failover-\(run)", replicas: taskCount)
        try cluster.waitUntil("\(taskCount) tasks on the victim", seconds: 60) { try cluster.running(id)[victimID] == taskCount }
        try cluster.setAvailability(survivorID, "active")
        let killed = monotonicNanoseconds()
        cluster.kill(victim)
        try cluster.waitUntil("\(taskCount) tasks on the survivor", seconds: 60, pollMillis: 20) { try cluster.running(id)[survivorID] == taskCount }
        let elapsed = Double(monotonicNanoseconds() - killed) / 1e9
        seconds.append(elapsed)
        print(String(format: "run %d  %d tasks back after %.2f s", run, taskCount, elapsed))
        // The victim comes back first: its agent reports the lost tasks, so they end too.
        try cluster.restart(victim)
        try cluster.waitUntil("the victim is ready again", seconds: 60) {
            let nodes = try cluster.json("GET", "/nodes") as? [[String: Any]] ?? []
            return nodes.first { $0["ID"] as? String == victimID }.map { ($0["Status"] as? [String: Any])?["State"] as? String == "ready" } ?? false
        }
        try cluster.removeService(id)
    }
    print(String(format: "\nworker loss → all %d tasks running elsewhere: median %.2f s (%.2f–%.2f), heartbeat 1 s, down after 5 missed",
                 taskCount, median(seconds), seconds.min()!, seconds.max()!))
    try write(["benchmark": "node-failure: SIGKILL a worker running \(taskCount) tasks, time until all run on the other worker",
               "runs": runs, "seconds": seconds, "seconds_median": median(seconds), "machine": machine()],
              to: option("--json", "Benchmarks/results/node-failure-\(cluster.executor).json"))
}

let mode = CommandLine.arguments.dropFirst().first ?? ""
guard ["converge", "node-failure"].contains(mode) else { fail("usage: cluster-bench converge|node-failure [options]") }
let cluster: BenchCluster
do {
    cluster = try BenchCluster(executor: option("--executor", "process"))
} catch {
    fail("\(error)")
}
do {
    if mode == "converge" { try converge(cluster) } else { try nodeFailure(cluster) }
    cluster.stop()
} catch {
    // The nodes' logs outlive the temporary directory, to read why.
    let kept = cluster.directory + "-logs"
    if let process = try? ChildProcess.spawn("/bin/sh", arguments: ["-c", "mkdir -p '\(kept)' && cp '\(cluster.directory)'/*.log '\(kept)/'"]) {
        _ = try? process.wait()
    }
    cluster.stop()
    fail("\(error) (node logs kept in \(kept))")
}
