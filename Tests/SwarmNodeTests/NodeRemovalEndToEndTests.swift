import Foundation
import Glibc
import Platform
import XCTest

/// A worker force-removed (`node rm --force`) while it runs stops its tasks and exits with a
/// message saying what happened, instead of retrying its refused connections forever.
final class NodeRemovalEndToEndTests: XCTestCase {
    private var cluster: TestCluster!

    override func setUpWithError() throws {
        cluster = try TestCluster()
        try cluster.initialize("m1")
    }

    override func tearDown() {
        cluster?.tearDown()
    }

    private func nodeID(_ name: String) throws -> String {
        let info = try cluster.cli(name, ["info", "--format", "json"])
        let object = try JSONSerialization.jsonObject(with: Data(info.output.utf8)) as? [String: Any]
        return try XCTUnwrap(object?[path: "Swarm", "NodeID"] as? String)
    }

    /// Running or sleeping, not gone and not a zombie waiting to be reaped.
    private static func isAlive(_ pid: Int) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(close, offsetBy: 2)] != "Z"
    }

    private func joinWorker() throws {
        XCTAssertEqual(try cluster.cli("m1", ["node", "update", "--availability", "drain", try nodeID("m1")]).status, 0)
        try cluster.join("w1", as: "worker", via: "m1")
        try cluster.waitUntil("w1 is ready", timeoutSeconds: 30) {
            let nodes = try self.cluster.nodes(via: "m1")
            return nodes.count == 2 && nodes.allSatisfy { $0[path: "Status", "State"] as? String == "ready" }
        }
    }

    /// Waits until NAME's process has exited by itself (its stdout reached end of file).
    private func waitUntilExited(_ name: String, _ process: ChildProcess) throws {
        try cluster.waitUntil("\(name) exits", timeoutSeconds: 15) {
            // nil: end of file (the process is gone); empty: nothing within the timeout.
            while let chunk = try process.readOutput(timeoutMilliseconds: 100) { if chunk.isEmpty { return false } }
            return true
        }
        XCTAssertEqual(try process.wait().exitCode, 0)
    }

    func testAWorkerRemovedWhileItWasDownStopsWhenItComesBack() throws {
        try joinWorker()
        let id = try nodeID("w1")
        cluster.kill("w1", signal: SIGTERM)
        XCTAssertEqual(try cluster.cli("m1", ["node", "rm", "--force", id]).status, 0)
        try cluster.restart("w1")
        let worker = try XCTUnwrap(cluster.members["w1"]?.process)
        try cluster.waitUntil("w1 is told it was removed", timeoutSeconds: 15) { self.cluster.log("w1").contains("was removed from the swarm") }
        try waitUntilExited("w1", worker)
    }

    func testAForceRemovedWorkerStopsItsTasksAndExits() throws {
        try joinWorker()
        XCTAssertEqual(try cluster.cli("m1", ["service", "create", "--detach", "--name", "sleeper", "busybox", "sleep", "3600"]).status, 0)
        var pid = 0
        try cluster.waitUntil("the task runs on w1", timeoutSeconds: 30) {
            let response = try self.cluster.apiClient("m1").send("GET", "/tasks")
            let tasks = try JSONSerialization.jsonObject(with: Data(response.body)) as? [[String: Any]] ?? []
            pid = tasks.first?[path: "Status", "ContainerStatus", "PID"] as? Int ?? 0
            return tasks.first?[path: "Status", "State"] as? String == "running" && pid > 0
        }
        let worker = try XCTUnwrap(cluster.members["w1"]?.process)
        XCTAssertEqual(try cluster.cli("m1", ["node", "rm", "--force", try nodeID("w1")]).status, 0)
        try cluster.waitUntil("w1 says it was removed", timeoutSeconds: 15) { self.cluster.log("w1").contains("was removed from the swarm") }
        // The node process exits by itself, having stopped its task.
        try waitUntilExited("w1", worker)
        XCTAssertFalse(Self.isAlive(pid), "the removed node's task was stopped")
        XCTAssertTrue(cluster.log("w1").contains("run 'swarmctl join' with a join token"), cluster.log("w1"))
    }
}
