import API
import Foundation
import Glibc
import Platform
import XCTest

/// Issue 16 on real node processes: the leader streams each node the tables of the networks it
/// has tasks on, and the worker's `/info` shows what it holds (`Swarm.NetworkTables`). A scale
/// down removes the task from the worker's table; a partition (every node dropping what it
/// sends to and receives from the other, as `swarmctl chaos partition` composes it) and its heal
/// leave the worker on exactly the version the leader last sent it. The tasks run (OCI executor,
/// each node in its own network namespace: `NetnsNodes`), as a node without task networking
/// rejects tasks on networks.
final class NetworkTableStreamEndToEndTests: XCTestCase {
    private var cluster: TestCluster!
    private var netns: NetnsNodes?

    override func setUpWithError() throws {
        try NetnsNodes.requirements()
        cluster = try TestCluster()
        netns = try NetnsNodes(cluster: cluster, nodes: ["m1", "w1"], images: ["busybox"])
        // A long acknowledgement guard: the partition must not fail and replace the tasks.
        cluster.nodeFlags += ["--enable-chaos", "--dispatcher-ack-timeout", "120s"]
    }

    override func tearDown() {
        if let netns, let cluster { XCTAssertEqual(netns.tearDown(cluster: cluster), [], "network namespaces left behind") }
        cluster?.tearDown()
    }

    private func json(_ name: String, _ path: String) throws -> Any? {
        let response = try cluster.apiClient(name).send("GET", path)
        guard response.status == 200 else { return nil }
        return try JSONSerialization.jsonObject(with: Data(response.body))
    }

    /// NAME's `Swarm.NetworkTables` from its own `/info`.
    private func tablesStatus(_ name: String) throws -> [String: Any] {
        let info = try json(name, "/info") as? [String: Any]
        return try XCTUnwrap(info?[path: "Swarm", "NetworkTables"] as? [String: Any], "no Swarm.NetworkTables in \(name)'s /info")
    }

    /// NAME's table of network NETWORK: service name → (VIP, task addresses).
    private func table(_ name: String, network: String) throws -> [String: (vip: String?, tasks: Set<String>)]? {
        let tables = try tablesStatus(name)["Tables"] as? [[String: Any]] ?? []
        guard let table = tables.first(where: { $0["Name"] as? String == network }) else { return nil }
        var services: [String: (vip: String?, tasks: Set<String>)] = [:]
        for service in table["Services"] as? [[String: Any]] ?? [] {
            services[service["Name"] as? String ?? "?"] = (service["VIP"] as? String, Set(service["TaskAddresses"] as? [String] ?? []))
        }
        return services
    }

    /// The leader's view: SERVICE's VIP on NETWORK and the addresses of its running tasks there.
    private func leaderView(service: String, networkID: String) throws -> (vip: String?, tasks: Set<String>) {
        let inspected = try json("m1", "/services/\(service)") as? [String: Any]
        let vips = inspected?[path: "Endpoint", "VirtualIPs"] as? [[String: Any]] ?? []
        let vip = vips.first { $0["NetworkID"] as? String == networkID }?["Addr"] as? String
        let tasks = try json("m1", "/tasks") as? [[String: Any]] ?? []
        var addresses = Set<String>()
        for task in tasks where task["ServiceID"] as? String == inspected?["ID"] as? String && task["DesiredState"] as? String == "running" {
            for attachment in task["NetworksAttachments"] as? [[String: Any]] ?? []
            where attachment[path: "Network", "ID"] as? String == networkID {
                addresses.formUnion(attachment["Addresses"] as? [String] ?? [])
            }
        }
        return (vip, addresses)
    }

    private func position(_ status: [String: Any]?) -> String {
        "\(status?["Session"] as? UInt64 ?? 0):\(status?["Version"] as? UInt64 ?? 0)"
    }

    func testTheWorkerHoldsItsNetworksTablesFollowsAScaleDownAndCatchesUpAfterAPartition() throws {
        try cluster.initialize("m1", extraFlags: netns!.flags("m1"))
        try cluster.join("w1", as: "worker", via: "m1", extraFlags: netns!.flags("w1"))
        try cluster.waitUntil("2 nodes ready", timeoutSeconds: 30) {
            let nodes = try self.cluster.nodes(via: "m1")
            return nodes.count == 2 && nodes.allSatisfy { $0[path: "Status", "State"] as? String == "ready" }
        }
        let created = try cluster.cli("m1", ["network", "create", "-d", "overlay", "--subnet", "198.51.100.0/25", "front"])
        XCTAssertEqual(created.status, 0, created.output)
        let networkID = created.output.trimmingCharacters(in: .whitespacesAndNewlines)
        // `anchor` keeps the worker on `front` whatever happens to `web`'s tasks.
        for arguments in [["--name", "anchor", "--constraint", "node.role==worker"],
                          ["--name", "web", "--replicas", "2", "--replicas-max-per-node", "1"]] {
            let service = try cluster.cli("m1", ["service", "create", "--detach", "--network", "front"] + arguments + ["busybox", "sleep", "3600"])
            XCTAssertEqual(service.status, 0, service.output)
        }

        // The worker's table of `front` shows web's VIP and both task addresses, as the leader allocated them.
        var expected = (vip: String?.none, tasks: Set<String>())
        try cluster.waitUntil("w1's table of front shows web's VIP and its 2 task addresses", timeoutSeconds: 30) {
            expected = try self.leaderView(service: "web", networkID: networkID)
            guard expected.vip != nil, expected.tasks.count == 2, let web = try self.table("w1", network: "front")?["web"] else { return false }
            return web.vip == expected.vip && web.tasks == expected.tasks
        }
        XCTAssertEqual(try table("w1", network: "front")?["anchor"]?.tasks.count, 1)
        let metrics = String(decoding: try cluster.apiClient("w1").send("GET", "/metrics").body, as: UTF8.self)
        XCTAssertTrue(metrics.contains("swarmctl_network_tables "), metrics)
        XCTAssertTrue(metrics.contains("swarmctl_network_tables_version "), metrics)

        // Scale down: the removed task's address leaves the worker's table.
        XCTAssertEqual(try cluster.cli("m1", ["service", "scale", "--detach", "web=1"]).status, 0)
        var remaining = Set<String>()
        try cluster.waitUntil("w1's table of front lists exactly web's 1 remaining task", timeoutSeconds: 30) {
            remaining = try self.leaderView(service: "web", networkID: networkID).tasks
            return try remaining.count == 1 && (self.table("w1", network: "front")?["web"]?.tasks) == remaining
        }
        XCTAssertTrue(try XCTUnwrap(try table("w1", network: "front")?["web"]).tasks.isDisjoint(with: expected.tasks.subtracting(remaining)),
                      "the removed task's address is gone from the worker's table")

        // Partition the worker; the leader changes front's table meanwhile.
        let ids = try ["m1", "w1"].map { try XCTUnwrap(try cluster.chaosStatus($0)["TransportID"] as? UInt64) }
        let w1 = try XCTUnwrap(try cluster.chaosStatus("w1")["NodeID"] as? String)
        try cluster.setChaos("m1", #"{"DropTo":[\#(ids[1])],"DropFrom":[\#(ids[1])]}"#)
        try cluster.setChaos("w1", #"{"DropTo":[\#(ids[0])],"DropFrom":[\#(ids[0])]}"#)
        let during = try cluster.cli("m1", ["service", "create", "--detach", "--network", "front", "--name", "api",
                                            "--constraint", "node.role==manager", "busybox", "sleep", "3600"])
        XCTAssertEqual(during.status, 0, during.output)
        try cluster.waitUntil("the leader sent w1 a change it did not receive", timeoutSeconds: 30) {
            let leader = try self.tablesStatus("m1")["Sent"] as? [String: Any]
            let sent = leader?[w1] as? [String: Any]
            return try self.position(sent) != self.position(self.tablesStatus("w1")) && self.table("m1", network: "front")?["api"] != nil
        }
        XCTAssertNil(try table("w1", network: "front")?["api"], "the partitioned worker has not heard of api")

        // Heal: the worker ends on the leader's version and holds api's VIP.
        try cluster.setChaos("w1", #"{"DropTo":[],"DropFrom":[]}"#)
        try cluster.setChaos("m1", #"{"DropTo":[],"DropFrom":[]}"#)
        let api = try XCTUnwrap(try leaderView(service: "api", networkID: networkID).vip)
        try cluster.waitUntil("w1 is on the version the leader sent it and holds api's VIP", timeoutSeconds: 30) {
            let sent = (try self.tablesStatus("m1")["Sent"] as? [String: Any])?[w1] as? [String: Any]
            return try self.position(sent) == self.position(self.tablesStatus("w1"))
                && self.table("w1", network: "front")?["api"]?.vip == api
        }
        let status = try tablesStatus("w1")
        XCTAssertEqual(status["NeedsFullSet"] as? Bool, false)
        XCTAssertEqual(try table("w1", network: "front")?["web"]?.tasks, try leaderView(service: "web", networkID: networkID).tasks)
    }
}
