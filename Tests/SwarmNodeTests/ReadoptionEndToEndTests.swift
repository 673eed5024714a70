import Foundation
import Glibc
import Platform
import XCTest

/// The swarmctl process of a worker restarts (SIGTERM, then kill -9) while its OCI containers
/// run: the restarted agent re-adopts them. Every container keeps its pid, no task is replaced,
/// `service logs` goes on without a gap, and health checks go on (the probes the restarted node
/// runs are counted inside the container). Skipped without root, runc or a static busybox.
final class ReadoptionEndToEndTests: XCTestCase {
    private var cluster: TestCluster!
    /// The last `service logs` output, for failure messages.
    private var lastLogs = ""

    override func setUpWithError() throws {
        guard getuid() == 0 else { throw XCTSkip("the OCI executor needs root") }
        guard ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc"].contains(where: FileSystem.exists) else {
            throw XCTSkip("the OCI executor needs runc: apt-get install -y runc")
        }
        guard FileSystem.exists("/bin/busybox") else { throw XCTSkip("needs a static busybox: apt-get install -y busybox-static") }
        cluster = try TestCluster()
        cluster.nodeFlags = ["--raft-tick", "50ms", "--executor", "oci"]
        let rootfs = cluster.directory + "/rootfs"
        try shell("mkdir -p '\(rootfs)/bin' '\(rootfs)/etc' '\(rootfs)/tmp' && cp /bin/busybox '\(rootfs)/bin/' && "
            + "for a in $(/bin/busybox --list); do [ $a = busybox ] || ln -s busybox '\(rootfs)/bin/'$a; done && "
            + "printf 'root:x:0:0::/:/bin/sh\\n' > '\(rootfs)/etc/passwd' && printf 'root:x:0:\\n' > '\(rootfs)/etc/group'")
        for node in ["m1", "w1"] {
            let imported = try cluster.runOnce(["image", "import", "bb:1", rootfs, "--data-dir", cluster.directory + "/" + node])
            XCTAssertEqual(imported.status, 0, imported.output)
        }
        try cluster.initialize("m1")
        XCTAssertEqual(try cluster.cli("m1", ["node", "update", "--availability", "drain", try nodeID("m1")]).status, 0)
        try cluster.join("w1", as: "worker", via: "m1")
        try cluster.waitUntil("w1 is ready", timeoutSeconds: 30) {
            let nodes = try self.cluster.nodes(via: "m1")
            return nodes.count == 2 && nodes.allSatisfy { $0[path: "Status", "State"] as? String == "ready" }
        }
    }

    override func tearDown() {
        guard let cluster else { return }
        for node in ["m1", "w1"] { cluster.kill(node) }
        for node in ["m1", "w1"] {
            let state = cluster.directory + "/\(node)/runc"
            try? shell("for id in $(runc --root '\(state)' list -q); do runc --root '\(state)' delete --force $id; done")
        }
        try? shell("grep '\(cluster.directory)' /proc/self/mountinfo | cut -d' ' -f5 | sort -r | xargs -r -n1 umount -l")
        cluster.tearDown()
    }

    private func shell(_ script: String) throws {
        let process = try ChildProcess.spawn("/bin/sh", arguments: ["-c", "{ \(script); } >/dev/null 2>&1"])
        XCTAssertEqual(try process.wait().exitCode, 0, script)
    }

    private func nodeID(_ name: String) throws -> String {
        let info = try cluster.cli(name, ["info", "--format", "json"])
        let object = try JSONSerialization.jsonObject(with: Data(info.output.utf8)) as? [String: Any]
        return try XCTUnwrap(object?[path: "Swarm", "NodeID"] as? String)
    }

    /// The service's tasks as the managers record them: id → (state, container pid).
    private func tasks() throws -> [String: (state: String, pid: Int)] {
        let response = try cluster.apiClient("m1").send("GET", "/tasks")
        let list = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(response.body)) as? [[String: Any]])
        var result: [String: (String, Int)] = [:]
        for task in list {
            let status = task["Status"] as? [String: Any] ?? [:]
            let container = status["ContainerStatus"] as? [String: Any] ?? [:]
            result[task["ID"] as! String] = (status["State"] as? String ?? "", container["PID"] as? Int ?? 0)
        }
        return result
    }

    /// The numbers the service's tasks printed so far, per container hostname (lines
    /// `ticker.SLOT.TASK@NODE | tick HOST N`).
    private func ticks() throws -> [String: [Int]] {
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

    /// Health probes run so far in each container (the probe appends to a file in its /tmp,
    /// which is the overlay's upper directory on the worker).
    private func probes() -> Int {
        let containers = cluster.directory + "/w1/containers"
        return ((try? FileSystem.list(containers)) ?? []).reduce(0) { total, id in
            let text = (try? String(contentsOfFile: "\(containers)/\(id)/bundle/upper/tmp/probes", encoding: .utf8)) ?? ""
            return total + text.split(separator: "\n").count
        }
    }

    private static func isAlive(_ pid: Int) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(close, offsetBy: 2)] != "Z"
    }

    func testRestartedWorkerReadoptsItsContainersAfterSIGTERMAndKill9() throws {
        let created = try cluster.cli("m1", ["service", "create", "--detach", "--name", "ticker", "--replicas", "2",
                                             "--health-cmd", "echo probe >> /tmp/probes", "--health-interval", "200ms",
                                             "--stop-grace-period", "1s",
                                             "bb:1", "sh", "-c", "i=0; while true; do echo tick $(hostname) $i; i=$((i+1)); sleep 0.1; done"])
        XCTAssertEqual(created.status, 0, created.output)
        var before: [String: (state: String, pid: Int)] = [:]
        try cluster.waitUntil("both tasks run", timeoutSeconds: 60) {
            before = try tasks()
            return before.count == 2 && before.values.allSatisfy { $0.state == "running" && $0.pid > 0 }
        }
        for signal in [SIGTERM, SIGKILL] {
            let ticksBefore = try ticks()
            let probesBefore = probes()
            cluster.kill("w1", signal: signal)
            for (id, task) in before { XCTAssertTrue(Self.isAlive(task.pid), "task \(id)'s container (pid \(task.pid)) outlived signal \(signal) to its node") }
            try cluster.restart("w1")
            try cluster.waitUntil("w1 re-adopted its containers", timeoutSeconds: 30) { cluster.log("w1").contains("re-adopted container") }
            do {
                try cluster.waitUntil("the logs go on after signal \(signal)", timeoutSeconds: 30) {
                    let now = try ticks()
                    return now.count == 2 && now.allSatisfy { host, numbers in numbers.max()! > (ticksBefore[host]?.max() ?? 0) + 10 }
                }
            } catch {
                XCTFail("service logs: \(lastLogs.suffix(600))")
                throw error
            }
            for (host, numbers) in try ticks() {
                XCTAssertEqual(numbers, Array(0...numbers.max()!), "container \(host): every line from before, during and after the restart, once")
            }
            try cluster.waitUntil("health probes go on after signal \(signal)", timeoutSeconds: 30) { probes() > probesBefore + 4 }
            let after = try tasks()
            XCTAssertEqual(Set(after.keys), Set(before.keys), "no task was replaced")
            for (id, task) in before {
                XCTAssertEqual(after[id]?.state, "running", "task \(id)")
                XCTAssertEqual(after[id]?.pid, task.pid, "task \(id) kept its container's pid")
                XCTAssertTrue(Self.isAlive(task.pid))
            }
        }
        XCTAssertFalse(cluster.log("w1").contains("removed"), "no container was removed: \(cluster.log("w1"))")
        // Leaving the swarm, unlike a restart, stops the node's tasks.
        let left = try cluster.cli("w1", ["leave"])
        XCTAssertEqual(left.status, 0, left.output)
        try cluster.waitUntil("w1's containers stopped after leave", timeoutSeconds: 30) {
            before.values.allSatisfy { !Self.isAlive($0.pid) }
        }
    }
}
