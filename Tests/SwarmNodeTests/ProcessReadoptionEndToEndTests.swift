import Foundation
import Glibc
import Platform
import XCTest

/// The swarmctl process of a worker running the process executor restarts (SIGTERM, then
/// kill -9) while its tasks run: the restarted agent re-adopts them through their shims. Every
/// task keeps its pid, no task is replaced, `service logs` goes on with every line once, health
/// checks go on, and a task scaled away while the node was down is ended when it comes back.
/// Needs no root: the process executor runs plain host processes.
final class ProcessReadoptionEndToEndTests: XCTestCase {
    private var cluster: TestCluster!
    /// The last `service logs` output, for failure messages.
    private var lastLogs = ""

    override func setUpWithError() throws {
        cluster = try TestCluster()
        try cluster.initialize("m1")
        XCTAssertEqual(try cluster.cli("m1", ["node", "update", "--availability", "drain", try nodeID("m1")]).status, 0)
        try cluster.join("w1", as: "worker", via: "m1")
        try cluster.waitUntil("w1 is ready", timeoutSeconds: 30) {
            let nodes = try self.cluster.nodes(via: "m1")
            return nodes.count == 2 && nodes.allSatisfy { $0[path: "Status", "State"] as? String == "ready" }
        }
    }

    override func tearDown() {
        // The shims of a killed node are this process's orphans: tearDown ends them.
        cluster?.tearDown()
    }

    private func nodeID(_ name: String) throws -> String {
        let info = try cluster.cli(name, ["info", "--format", "json"])
        let object = try JSONSerialization.jsonObject(with: Data(info.output.utf8)) as? [String: Any]
        return try XCTUnwrap(object?[path: "Swarm", "NodeID"] as? String)
    }

    /// The service's tasks as the managers record them: id → (state, desired state, pid).
    private func tasks() throws -> [String: (state: String, desired: String, pid: Int)] {
        let response = try cluster.apiClient("m1").send("GET", "/tasks")
        let list = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(response.body)) as? [[String: Any]])
        var result: [String: (String, String, Int)] = [:]
        for task in list {
            let status = task["Status"] as? [String: Any] ?? [:]
            let container = status["ContainerStatus"] as? [String: Any] ?? [:]
            result[task["ID"] as! String] = (status["State"] as? String ?? "", task["DesiredState"] as? String ?? "",
                                             container["PID"] as? Int ?? 0)
        }
        return result
    }

    /// The numbers each task printed so far, by the pid its shell printed (lines
    /// `ticker.SLOT.TASK@NODE | tick PID N`): the task's own pid, so a restarted task shows.
    private func ticks() throws -> [Int: [Int]] {
        let logs = try cluster.cli("m1", ["service", "logs", "ticker"]).output
        lastLogs = logs
        var result: [Int: [Int]] = [:]
        for line in logs.split(separator: "\n") {
            guard let bar = line.range(of: "| ") else { continue }
            let fields = line[bar.upperBound...].split(separator: " ")
            guard fields.count == 3, fields[0] == "tick", let pid = Int(fields[1]), let number = Int(fields[2]) else { continue }
            result[pid, default: []].append(number)
        }
        return result
    }

    private var probeFile: String { cluster.directory + "/probes" }

    /// Health probes run so far (each appends a line to a file of the test's).
    private func probes() -> Int {
        ((try? String(contentsOfFile: probeFile, encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    private static func isAlive(_ pid: Int) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(close, offsetBy: 2)] != "Z"
    }

    func testRestartedWorkerReadoptsItsProcessesAfterSIGTERMAndKill9() throws {
        let created = try cluster.cli("m1", ["service", "create", "--detach", "--name", "ticker", "--replicas", "2",
                                             "--health-cmd", "echo probe >> '\(probeFile)'", "--health-interval", "200ms",
                                             "--stop-grace-period", "1s",
                                             "busybox", "sh", "-c", "i=0; while true; do echo tick $$ $i; i=$((i+1)); sleep 0.1; done"])
        XCTAssertEqual(created.status, 0, created.output)
        var before: [String: (state: String, desired: String, pid: Int)] = [:]
        try cluster.waitUntil("both tasks run", timeoutSeconds: 60) {
            before = try tasks()
            return before.count == 2 && before.values.allSatisfy { $0.state == "running" && $0.pid > 0 }
        }
        let pids = Set(before.values.map(\.pid))
        for signal in [SIGTERM, SIGKILL] {
            let ticksBefore = try ticks()
            let probesBefore = probes()
            cluster.kill("w1", signal: signal)
            for (id, task) in before { XCTAssertTrue(Self.isAlive(task.pid), "task \(id) (pid \(task.pid)) outlived signal \(signal) to its node") }
            try cluster.restart("w1")
            try cluster.waitUntil("w1 re-adopted its tasks after signal \(signal)", timeoutSeconds: 30) {
                cluster.log("w1").components(separatedBy: "re-adopted container").count - 1 >= (signal == SIGTERM ? 2 : 4)
            }
            do {
                try cluster.waitUntil("the logs go on after signal \(signal)", timeoutSeconds: 30) {
                    let now = try ticks()
                    return Set(now.keys) == pids && now.allSatisfy { pid, numbers in numbers.max()! > (ticksBefore[pid]?.max() ?? 0) + 10 }
                }
            } catch {
                XCTFail("service logs: \(lastLogs.suffix(600))")
                throw error
            }
            for (pid, numbers) in try ticks() {
                XCTAssertEqual(numbers, Array(0...numbers.max()!), "task pid \(pid): every line from before, during and after the restart, once")
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

        // Scaled down while the node is down: the task no longer assigned is ended when it comes
        // back; the other is re-adopted.
        cluster.kill("w1", signal: SIGKILL)
        let scaled = try cluster.cli("m1", ["service", "scale", "--detach", "ticker=1"])
        XCTAssertEqual(scaled.status, 0, scaled.output)
        try cluster.restart("w1")
        var kept = 0
        try cluster.waitUntil("one task ended, the other still runs with its pid", timeoutSeconds: 30) {
            let alive = pids.filter(Self.isAlive)
            let now = try tasks().values.filter { $0.desired == "running" }
            kept = alive.first ?? 0
            return alive.count == 1 && now.count == 1 && now.first?.pid == kept && now.first?.state == "running"
        }
        // Leaving the swarm, unlike a restart, stops the node's tasks.
        let left = try cluster.cli("w1", ["leave"])
        XCTAssertEqual(left.status, 0, left.output)
        try cluster.waitUntil("w1's tasks stopped after leave", timeoutSeconds: 30) { !Self.isAlive(kept) }
    }
}
