import Foundation
import Glibc
import Platform
import XCTest

/// The restart that both executors' re-adoption tests put a worker through: a service `ticker`
/// of tasks printing `tick KEY N` every 0.1 s (KEY names the task: its container's hostname, or
/// its pid) with a health check, on worker w1 of a cluster whose manager m1 is drained. The
/// worker's swarmctl is stopped with SIGTERM, then with kill -9, and restarted each time: every
/// task keeps its pid, none is replaced, `service logs` goes on with every line once, and the
/// health probes go on.
final class ReadoptionScenario {
    let cluster: TestCluster
    /// Health probes run so far (counted where the executor's probes write them).
    private let probes: () -> Int
    /// The last `service logs` output, for failure messages.
    private var lastLogs = ""

    init(cluster: TestCluster, probes: @escaping () -> Int) {
        self.cluster = cluster
        self.probes = probes
    }

    /// m1, drained, and w1 ready.
    static func start(_ cluster: TestCluster) throws {
        try cluster.initialize("m1")
        let info = try cluster.cli("m1", ["info", "--format", "json"])
        let object = try JSONSerialization.jsonObject(with: Data(info.output.utf8)) as? [String: Any]
        let id = try XCTUnwrap(object?[path: "Swarm", "NodeID"] as? String)
        XCTAssertEqual(try cluster.cli("m1", ["node", "update", "--availability", "drain", id]).status, 0)
        try cluster.join("w1", as: "worker", via: "m1")
        try cluster.waitUntil("w1 is ready", timeoutSeconds: 30) {
            let nodes = try cluster.nodes(via: "m1")
            return nodes.count == 2 && nodes.allSatisfy { $0[path: "Status", "State"] as? String == "ready" }
        }
    }

    /// One task as the managers record it.
    struct Task {
        var state: String
        var desired: String
        var pid: Int
    }

    /// The service's tasks as the managers record them, by id.
    func tasks() throws -> [String: Task] {
        let response = try cluster.apiClient("m1").send("GET", "/tasks")
        let list = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(response.body)) as? [[String: Any]])
        var result: [String: Task] = [:]
        for task in list {
            let status = task["Status"] as? [String: Any] ?? [:]
            let container = status["ContainerStatus"] as? [String: Any] ?? [:]
            result[task["ID"] as! String] = Task(state: status["State"] as? String ?? "", desired: task["DesiredState"] as? String ?? "",
                                                 pid: container["PID"] as? Int ?? 0)
        }
        return result
    }

    /// The numbers each task printed so far, by its KEY (lines `ticker.SLOT.TASK@NODE | tick KEY N`).
    func ticks() throws -> [String: [Int]] {
        let logs = try cluster.cli("m1", ["service", "logs", "ticker"]).output
        lastLogs = logs
        var result: [String: [Int]] = [:]
        for line in logs.split(separator: "\n") {
            guard let bar = line.range(of: "| ") else { continue }
            let fields = line[bar.upperBound...].split(separator: " ")
            guard fields.count == 3, fields[0] == "tick", let number = Int(fields[2]) else { continue }
            result[String(fields[1]), default: []].append(number)
        }
        return result
    }

    /// Running or sleeping, not gone and not a zombie waiting to be reaped.
    static func isAlive(_ pid: Int) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(close, offsetBy: 2)] != "Z"
    }

    /// Creates the service (`image` running `ticker`, a shell loop printing its KEY) and waits
    /// until its `replicas` tasks run; returns them.
    func createTicker(replicas: Int, healthCommand: String, image: String, ticker: String) throws -> [String: Task] {
        let created = try cluster.cli("m1", ["service", "create", "--detach", "--name", "ticker", "--replicas", "\(replicas)",
                                             "--health-cmd", healthCommand, "--health-interval", "200ms", "--stop-grace-period", "1s",
                                             image, "sh", "-c", "i=0; while true; do echo tick \(ticker) $i; i=$((i+1)); sleep 0.1; done"])
        XCTAssertEqual(created.status, 0, created.output)
        var before: [String: Task] = [:]
        try cluster.waitUntil("the tasks run", timeoutSeconds: 60) {
            before = try tasks()
            return before.count == replicas && before.values.allSatisfy { $0.state == "running" && $0.pid > 0 }
        }
        return before
    }

    /// SIGTERM, then kill -9, of w1's swarmctl, each followed by a restart: the checks above.
    func restartTwice(keeping before: [String: Task]) throws {
        var readopted = 0
        for signal in [SIGTERM, SIGKILL] {
            let ticksBefore = try ticks()
            let probesBefore = probes()
            cluster.kill("w1", signal: signal)
            for (id, task) in before { XCTAssertTrue(Self.isAlive(task.pid), "task \(id) (pid \(task.pid)) outlived signal \(signal) to its node") }
            try cluster.restart("w1")
            readopted += before.count
            try cluster.waitUntil("w1 re-adopted its tasks after signal \(signal)", timeoutSeconds: 30) {
                cluster.log("w1").components(separatedBy: "re-adopted container").count - 1 >= readopted
            }
            do {
                try cluster.waitUntil("the logs go on after signal \(signal)", timeoutSeconds: 30) {
                    let now = try ticks()
                    return now.count == before.count
                        && now.allSatisfy { key, numbers in numbers.max()! > (ticksBefore[key]?.max() ?? 0) + 10 }
                }
            } catch {
                XCTFail("service logs: \(lastLogs.suffix(600))")
                throw error
            }
            for (key, numbers) in try ticks() {
                XCTAssertEqual(numbers, Array(0...numbers.max()!), "task \(key): every line from before, during and after the restart, once")
            }
            try cluster.waitUntil("health probes go on after signal \(signal)", timeoutSeconds: 30) { probes() > probesBefore + 4 }
            let after = try tasks()
            XCTAssertEqual(Set(after.keys), Set(before.keys), "no task was replaced")
            for (id, task) in before {
                XCTAssertEqual(after[id]?.state, "running", "task \(id)")
                XCTAssertEqual(after[id]?.pid, task.pid, "task \(id) kept its pid")
                XCTAssertTrue(Self.isAlive(task.pid))
            }
        }
        XCTAssertFalse(cluster.log("w1").contains("removed"), "no task was removed: \(cluster.log("w1"))")
    }

    /// `leave` on w1: unlike a restart, it stops the node's tasks.
    func leaveStops(_ pids: [Int]) throws {
        let left = try cluster.cli("w1", ["leave"])
        XCTAssertEqual(left.status, 0, left.output)
        try cluster.waitUntil("w1's tasks stopped after leave", timeoutSeconds: 30) { pids.allSatisfy { !Self.isAlive($0) } }
    }
}
