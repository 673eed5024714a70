import Foundation
import Glibc
import XCTest

/// Services on real node processes (process executor): placement and spread, worker loss and
/// return, drain, global services, constraints with their pending reason, rolling updates.
/// The breadth of these rules lives in the orchestration and control-plane simulation tests.
final class OrchestrationEndToEndTests: XCTestCase {
    private var cluster: TestCluster!

    override func setUpWithError() throws {
        cluster = try TestCluster()
    }

    override func tearDown() {
        cluster?.tearDown()
    }

    // MARK: Helpers

    private func form(managers: [String], workers: [String]) throws {
        try cluster.initialize(managers[0])
        for name in managers.dropFirst() { try cluster.join(name, as: "manager", via: managers[0]) }
        for name in workers { try cluster.join(name, as: "worker", via: managers[0]) }
        let total = managers.count + workers.count
        try cluster.waitUntil("\(total) nodes ready", timeoutSeconds: 40) {
            let nodes = try self.cluster.nodes(via: managers[0])
            return nodes.count == total && nodes.allSatisfy { $0[path: "Status", "State"] as? String == "ready" }
        }
    }

    private func tasks(_ service: String, via name: String = "m1") throws -> [[String: Any]] {
        let result = try cluster.cli(name, ["service", "ps", service, "--format", "json"])
        guard result.status == 0, let data = result.output.data(using: .utf8),
              let tasks = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else { return [] }
        return tasks
    }

    private func running(_ tasks: [[String: Any]]) -> [[String: Any]] {
        tasks.filter { $0[path: "Status", "State"] as? String == "running" && $0["DesiredState"] as? String == "running" }
    }

    private func nodeID(_ name: String) throws -> String {
        let info = try cluster.cli(name, ["info", "--format", "json"])
        let object = try JSONSerialization.jsonObject(with: Data(info.output.utf8)) as? [String: Any]
        return try XCTUnwrap(object?[path: "Swarm", "NodeID"] as? String)
    }

    /// Slots with more than one running task (the partition-heal invariant).
    private func doubledSlots(_ tasks: [[String: Any]]) -> [Int] {
        var counts: [Int: Int] = [:]
        for task in running(tasks) { if let slot = task["Slot"] as? Int { counts[slot, default: 0] += 1 } }
        return counts.filter { $0.value > 1 }.map(\.key).sorted()
    }

    private func create(_ arguments: [String]) throws {
        let result = try cluster.cli("m1", ["service", "create", "--detach"] + arguments)
        XCTAssertEqual(result.status, 0, result.output)
    }

    // MARK: Scenarios

    func testReplicasSpreadSurviveWorkerLossAndReturnAndLeaveADrainedNode() throws {
        try form(managers: ["m1", "m2", "m3"], workers: ["w1", "w2"])
        try create(["--name", "web", "--replicas", "12", "--update-parallelism", "3", "--update-monitor", "500ms",
                    "--update-order", "start-first", "busybox", "sleep", "3600"])
        try cluster.waitUntil("12/12 running", timeoutSeconds: 30) { self.running(try self.tasks("web")).count == 12 }
        var perNode: [String: Int] = [:]
        for task in running(try tasks("web")) { perNode[task["NodeID"] as? String ?? "", default: 0] += 1 }
        XCTAssertEqual(perNode.count, 5, "every node runs some of the replicas: \(perNode)")
        XCTAssertLessThanOrEqual(perNode.values.max()! - perNode.values.min()!, 3, "spread: \(perNode)")

        let w1 = try nodeID("w1")
        let lost = running(try tasks("web")).filter { $0["NodeID"] as? String == w1 }.count
        XCTAssertGreaterThan(lost, 0)
        let killedAt = Date()
        cluster.kill("w1")
        // Heartbeat grace (5 × 1 s) + 2 s, plus polling slack.
        try cluster.waitUntil("w1's tasks run elsewhere", timeoutSeconds: 12) {
            let live = self.running(try self.tasks("web"))
            return live.count == 12 && !live.contains { $0["NodeID"] as? String == w1 }
        }
        let recovery = Date().timeIntervalSince(killedAt)
        XCTAssertLessThan(recovery, 9, "replacement took \(recovery)s")

        try cluster.restart("w1")
        try cluster.waitUntil("w1 is ready again", timeoutSeconds: 20) {
            try self.cluster.nodes(via: "m1").first { $0["ID"] as? String == w1 }?[path: "Status", "State"] as? String == "ready"
        }
        // The returning worker must not keep running replaced tasks (its old tasks were lost
        // with its process; the agent reports them and nothing runs twice).
        for _ in 0..<20 {
            XCTAssertEqual(doubledSlots(try tasks("web")), [], "a slot runs twice after w1 returned")
            usleep(100_000)
        }

        // The returned worker is empty until a rebalance spreads the service again.
        let rebalance = try cluster.cli("m1", ["service", "rebalance", "web"])
        XCTAssertEqual(rebalance.status, 0, rebalance.output)
        try cluster.waitUntil("web spread over all 5 nodes again", timeoutSeconds: 30) {
            var counts: [String: Int] = [:]
            for task in self.running(try self.tasks("web")) { counts[task["NodeID"] as? String ?? "", default: 0] += 1 }
            return counts.count == 5 && counts.values.reduce(0, +) == 12 && counts.values.max()! - counts.values.min()! <= 1
        }

        let w2 = try nodeID("w2")
        XCTAssertEqual(try cluster.cli("m1", ["node", "update", "--availability", "drain", w2]).status, 0)
        try cluster.waitUntil("w2 drained", timeoutSeconds: 15) {
            let live = self.running(try self.tasks("web"))
            return live.count == 12 && !live.contains { $0["NodeID"] as? String == w2 }
        }
    }

    func testGlobalServiceFollowsNodesAndAConstraintWaitsForItsLabel() throws {
        try form(managers: ["m1"], workers: ["w1"])
        try create(["--name", "agent", "--mode", "global", "busybox", "sleep", "3600"])
        try cluster.waitUntil("one global task per node", timeoutSeconds: 20) { self.running(try self.tasks("agent")).count == 2 }
        try cluster.join("w2", as: "worker", via: "m1")
        try cluster.waitUntil("the new node gets its global task", timeoutSeconds: 30) {
            Set(self.running(try self.tasks("agent")).compactMap { $0["NodeID"] as? String }).count == 3
        }

        try create(["--name", "zoned", "--constraint", "node.labels.zone==b", "busybox", "sleep", "3600"])
        try cluster.waitUntil("the pending reason shows in service ps", timeoutSeconds: 15) {
            let table = try self.cluster.cli("m1", ["service", "ps", "zoned", "--no-trunc"]).output
            return table.contains("Pending") && table.contains("no suitable node")
        }
        let w2 = try nodeID("w2")
        XCTAssertEqual(try cluster.cli("m1", ["node", "update", "--label-add", "zone=b", w2]).status, 0)
        try cluster.waitUntil("the task is placed once a node has the label", timeoutSeconds: 15) {
            self.running(try self.tasks("zoned")).first?["NodeID"] as? String == w2
        }
    }

    func testStartFirstRollingUpdateKeepsCapacityAndAFailingUpdateRollsBack() throws {
        try form(managers: ["m1"], workers: ["w1"])
        try create(["--name", "api", "--replicas", "6", "--update-parallelism", "2", "--update-order", "start-first",
                    "--update-monitor", "1s", "--update-failure-action", "rollback", "busybox", "sleep", "3600"])
        try cluster.waitUntil("6/6 running", timeoutSeconds: 20) { self.running(try self.tasks("api")).count == 6 }

        let update = try cluster.spawnCLI("m1", ["service", "update", "--env-add", "VERSION=2", "api"])
        var lowest = Int.max
        let deadline = Date().addingTimeInterval(60)
        while update.isRunning && Date() < deadline {
            lowest = min(lowest, running(try tasks("api")).count)
            usleep(100_000)
        }
        let outcome = try update.finish()
        XCTAssertEqual(outcome.status, 0, outcome.output)
        XCTAssertGreaterThanOrEqual(lowest, 6, "start-first must never run fewer than 6 replicas")
        XCTAssertTrue(running(try tasks("api")).allSatisfy { (($0[path: "Spec", "ContainerSpec", "Env"] as? [String]) ?? []).contains("VERSION=2") })

        let failing = try cluster.cli("m1", ["service", "update", "--args", "sh -c exit", "api"])
        XCTAssertEqual(failing.status, 1, "a failing update reports failure: \(failing.output)")
        try cluster.waitUntil("the service rolled back to sleep 3600", timeoutSeconds: 40) {
            let inspect = try self.cluster.cli("m1", ["service", "inspect", "api"]).output
            let live = self.running(try self.tasks("api"))
            return inspect.contains("rollback_completed") && live.count == 6
        }
        let args = running(try tasks("api")).map { $0[path: "Spec", "ContainerSpec", "Args"] as? [String] }
        XCTAssertTrue(args.allSatisfy { $0 == ["sleep", "3600"] }, "\(args)")
    }
}
