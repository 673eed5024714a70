import API
import Foundation
import Glibc
import Platform
import XCTest

/// Issue 19 on real node processes: tasks the leader assigns to a follower manager while that
/// manager is cut off must reach it once the link heals. The partition is healed the way
/// `swarmctl chaos heal` heals it, node by node: for a moment the manager hears the leader
/// while the leader still drops what the manager sends, so the manager receives a later change
/// without the one it missed. It must notice the hole and get the full set.
final class AssignmentStreamEndToEndTests: XCTestCase {
    private var cluster: TestCluster!

    override func setUpWithError() throws {
        cluster = try TestCluster()
        // A long acknowledgement guard: this test is about the assignment stream itself, not the
        // backstop that would fail and replace the tasks after two bounds.
        cluster.nodeFlags += ["--enable-chaos", "--dispatcher-ack-timeout", "120s"]
    }

    override func tearDown() {
        cluster?.tearDown()
    }

    private func setChaos(_ name: String, dropTo: [UInt64], dropFrom: [UInt64]) throws {
        let settings = #"{"DropTo":[\#(dropTo.map(String.init).joined(separator: ","))],"DropFrom":[\#(dropFrom.map(String.init).joined(separator: ","))]}"#
        try cluster.setChaos(name, settings)
    }

    private func tasks(_ service: String) throws -> [[String: Any]] {
        let result = try cluster.cli("m1", ["service", "ps", service, "--format", "json"])
        guard result.status == 0, let data = result.output.data(using: .utf8),
              let tasks = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else { return [] }
        return tasks
    }

    private func states(_ service: String) throws -> [String] {
        try tasks(service).filter { $0["DesiredState"] as? String == "running" }.map { $0[path: "Status", "State"] as? String ?? "?" }.sorted()
    }

    /// The task ids the agent of `name` has recorded (its `worker/tasks.json`).
    private func agentTaskIDs(_ name: String) -> Set<String> {
        let path = cluster.members[name]!.dataDirectory + "/worker/tasks.json"
        guard let data = FileManager.default.contents(atPath: path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [] }
        return Set(object.keys)
    }

    func testTasksAssignedToAPartitionedFollowerManagerRunAfterTheHeal() throws {
        try cluster.initialize("m1")
        try cluster.join("m2", as: "manager", via: "m1")
        try cluster.join("m3", as: "manager", via: "m1")
        try cluster.waitUntil("3 voting managers, all ready", timeoutSeconds: 40) {
            let info = try self.cluster.cli("m1", ["info", "--format", "json"])
            let object = try? JSONSerialization.jsonObject(with: Data(info.output.utf8)) as? [String: Any]
            let nodes = try self.cluster.nodes(via: "m1")
            return (object?[path: "Swarm", "Raft", "Voters"] as? [Any])?.count == 3
                && nodes.count == 3 && nodes.allSatisfy { $0[path: "Status", "State"] as? String == "ready" }
        }
        let ids = try ["m1", "m2", "m3"].map { try XCTUnwrap(try cluster.chaosStatus($0)["TransportID"] as? UInt64) }
        let m3 = try XCTUnwrap(try cluster.chaosStatus("m3")["NodeID"] as? String)

        // m3 alone on one side (a follower: m1 leads). The leader assigns it three tasks it never hears of.
        try setChaos("m3", dropTo: [ids[0], ids[1]], dropFrom: [ids[0], ids[1]])
        try setChaos("m1", dropTo: [ids[2]], dropFrom: [ids[2]])
        try setChaos("m2", dropTo: [ids[2]], dropFrom: [ids[2]])
        let created = try cluster.cli("m1", ["service", "create", "--detach", "--name", "cut-off", "--replicas", "3",
                                             "--constraint", "node.id==\(m3)", "busybox", "sleep", "3600"])
        XCTAssertEqual(created.status, 0, created.output)
        try cluster.waitUntil("the leader assigned cut-off's 3 tasks to m3", timeoutSeconds: 10) {
            try self.states("cut-off") == ["assigned", "assigned", "assigned"]
        }

        // The heal reaches m3 first: it hears everyone, the others still drop what it sends.
        try setChaos("m3", dropTo: [], dropFrom: [])
        try setChaos("m1", dropTo: [], dropFrom: [ids[2]])
        try setChaos("m2", dropTo: [], dropFrom: [ids[2]])
        let later = try cluster.cli("m1", ["service", "create", "--detach", "--name", "later", "--replicas", "1",
                                           "--constraint", "node.id==\(m3)", "busybox", "sleep", "3600"])
        XCTAssertEqual(later.status, 0, later.output)
        var laterTask = ""
        try cluster.waitUntil("later's task exists", timeoutSeconds: 10) {
            laterTask = try self.tasks("later").first?["ID"] as? String ?? ""
            return !laterTask.isEmpty
        }
        // The change reached m3: before the fix its agent took it (acknowledging a version whose
        // predecessor it never got); now m3 refuses it and asks for the full set.
        try cluster.waitUntil("m3 received the later change", timeoutSeconds: 10) {
            self.agentTaskIDs("m3").contains(laterTask) || self.cluster.log("m3").contains("asking for the full set")
        }

        try setChaos("m1", dropTo: [], dropFrom: [])
        try setChaos("m2", dropTo: [], dropFrom: [])
        let healed = Date()
        var last: [String] = []
        do {
            try cluster.waitUntil("cut-off's 3 tasks run on m3", timeoutSeconds: 20) {
                last = try self.states("cut-off")
                return last == ["running", "running", "running"]
            }
        } catch {
            XCTFail("cut-off's tasks after the heal: \(last)")
            throw error
        }
        let seconds = Date().timeIntervalSince(healed)
        XCTAssertLessThan(seconds, 10, "within a few heartbeats of the heal")
        XCTAssertTrue(cluster.log("m3").contains("asking for the full set"), "m3 noticed the hole itself")
    }
}
