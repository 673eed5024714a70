import Foundation
import Glibc
import Networking
import Platform
import XCTest

/// Issue 16 on real node processes with the OCI executor, each node in its own network namespace
/// on an underlay bridge (192.0.2.1 and .2, as `testbed up --netns` places them): an overlay
/// network (198.51.100.0/25), a web service of 2 replicas (busybox httpd, one per node) and a
/// client on the worker. From the client's namespace, `web` resolves to the VIP, `tasks.web` to
/// both task addresses, and requests to the VIP reach both replicas across the VXLAN. After a
/// kill -9 and restart of the worker, its containers are re-adopted, connectivity comes back and
/// its rulesets and links are exactly what they were (one copy of each rule).
/// Skipped without root, runc, ip, bridge, nft, nsenter, curl, a static busybox or VXLAN.
final class NetworkWiringEndToEndTests: XCTestCase {
    private var cluster: TestCluster!
    private var netns: NetnsNodes?

    private func prefix(_ node: String) -> String { netns!.prefix(node) }
    private func hostNamespace(_ node: String) -> String { netns!.hostNamespace(node) }

    override func setUpWithError() throws {
        try NetnsNodes.requirements(tools: ["curl"])
        cluster = try TestCluster()
        netns = try NetnsNodes(cluster: cluster, nodes: ["m1", "w1"], images: ["bb:1"])
        try cluster.initialize("m1", extraFlags: netns!.flags("m1"))
        try cluster.join("w1", as: "worker", via: "m1", extraFlags: netns!.flags("w1"))
        try cluster.waitUntil("2 nodes ready", timeoutSeconds: 60) {
            let nodes = try self.cluster.nodes(via: "m1")
            return nodes.count == 2 && nodes.allSatisfy { $0[path: "Status", "State"] as? String == "ready" }
        }
    }

    override func tearDown() {
        if let netns, let cluster { XCTAssertEqual(netns.tearDown(cluster: cluster), [], "network namespaces left behind") }
        cluster?.tearDown()
    }

    /// Runs `command` inside network namespace `namespace` (the host's mount namespace).
    private func inNamespace(_ namespace: String, _ command: String) throws -> (status: Int32, output: String) {
        try cluster.shell("ip netns exec '\(namespace)' \(command)")
    }

    private func json(_ path: String) throws -> Any? {
        let response = try cluster.apiClient("m1").send("GET", path)
        return response.status == 200 ? try JSONSerialization.jsonObject(with: Data(response.body)) : nil
    }

    /// The running tasks of SERVICE: id → (address on the network, container pid, node id).
    private func runningTasks(_ service: String) throws -> [String: (address: String, pid: Int, node: String)] {
        let tasks = try json("/tasks") as? [[String: Any]] ?? []
        let serviceID = (try json("/services/\(service)") as? [String: Any])?["ID"] as? String
        var result: [String: (String, Int, String)] = [:]
        for task in tasks where task["ServiceID"] as? String == serviceID && task["DesiredState"] as? String == "running"
            && task[path: "Status", "State"] as? String == "running" {
            let address = ((task["NetworksAttachments"] as? [[String: Any]])?.first?["Addresses"] as? [String])?.first ?? ""
            result[task["ID"] as! String] = (String(address.split(separator: "/").first ?? ""),
                                             task[path: "Status", "ContainerStatus", "PID"] as? Int ?? 0, task["NodeID"] as? String ?? "")
        }
        return result
    }

    /// The addresses `nslookup NAME 127.0.0.11` answers inside `namespace` (busybox's format:
    /// the lines after the server's own).
    private func lookup(_ namespace: String, _ name: String) throws -> Set<String> {
        let output = try inNamespace(namespace, "busybox nslookup -type=a '\(name)' 127.0.0.11").output
        let answers = output.components(separatedBy: "Name:").dropFirst().joined()
        return Set(answers.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("Address") else { return nil }
            let word = line.split(separator: " ").last.map(String.init) ?? ""
            return IPv4Address(word) != nil ? word : nil
        })
    }

    /// The bodies of `count` requests to http://ADDRESS/ from inside `namespace`.
    private func fetch(_ namespace: String, _ address: String, count: Int) throws -> [String] {
        try (0..<count).map { _ in
            // curl, not busybox wget: the static busybox's wget crashes on this machine's glibc.
            try inNamespace(namespace, "curl -s -m 3 http://\(address)/").output.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// What must not change across a restart of the worker: its node namespace's table and
    /// links, and the client namespace's table.
    private func workerNetworkState(clientNamespace: String) throws -> (node: String, links: [String], tables: [String], client: String) {
        let host = hostNamespace("w1"), table = prefix("w1")
        let node = try inNamespace(host, "nft list table ip \(table)").output
        let links = try inNamespace(host, "ip -br link show").output.split(separator: "\n")
            .compactMap { $0.split(separator: " ").first.map { String($0.split(separator: "@").first ?? $0) } }.sorted()
        let tables = try inNamespace(host, "nft list tables").output.split(separator: "\n").map(String.init).sorted()
        let client = try inNamespace(clientNamespace, "nft list table ip \(table)").output
        return (node, links, tables, client)
    }

    func testAClientOnTheOverlayResolvesAndReachesBothReplicasAndAKilledWorkerComesBackWithoutDuplicateRules() throws {
        let created = try cluster.cli("m1", ["network", "create", "-d", "overlay", "--subnet", "198.51.100.0/25", "front"])
        XCTAssertEqual(created.status, 0, created.output)
        let web = try cluster.cli("m1", ["service", "create", "--detach", "--name", "web", "--network", "front", "--replicas", "2",
                                         "--replicas-max-per-node", "1", "--stop-grace-period", "1s", "bb:1", "sh", "-c",
                                         "mkdir -p /tmp/www && hostname > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www"])
        XCTAssertEqual(web.status, 0, web.output)
        let client = try cluster.cli("m1", ["service", "create", "--detach", "--name", "client", "--network", "front",
                                            "--constraint", "node.role==worker", "bb:1", "sleep", "3600"])
        XCTAssertEqual(client.status, 0, client.output)
        try cluster.waitUntil("web runs 2 tasks on 2 nodes and client 1", timeoutSeconds: 90) {
            let tasks = try self.runningTasks("web")
            let clients = try self.runningTasks("client")
            return Set(tasks.values.map(\.node)).count == 2 && clients.count == 1
        }
        let webTasks = try runningTasks("web")
        let (clientID, clientTask) = try XCTUnwrap(try runningTasks("client").first)
        let clientNamespace = try NetworkNames(prefix: prefix("w1")).namespace(taskID: clientID)
        let inspected = try json("/services/web") as? [String: Any]
        let vip = try XCTUnwrap((inspected?[path: "Endpoint", "VirtualIPs"] as? [[String: Any]])?.first?["Addr"] as? String)
            .split(separator: "/").first.map(String.init) ?? ""

        // The client's container resolves through the node's DNS server in its own namespace.
        let resolvConf = try String(contentsOfFile: "/proc/\(clientTask.pid)/root/etc/resolv.conf", encoding: .utf8)
        XCTAssertTrue(resolvConf.contains("nameserver 127.0.0.11"), resolvConf)
        let inodes = try cluster.shell("stat -L -c %i /proc/\(clientTask.pid)/ns/net \(NetworkNamespace.path(clientNamespace))").output
            .split(separator: "\n").map(String.init)
        XCTAssertEqual(inodes.count, 2, inodes.joined(separator: "\n"))
        XCTAssertEqual(inodes.first, inodes.last, "the client's container runs in the namespace the node prepared for it")
        var answers = (web: Set<String>(), tasks: Set<String>())
        try cluster.waitUntil("the client resolves web to the VIP and tasks.web to both tasks", timeoutSeconds: 30) {
            answers = (try self.lookup(clientNamespace, "web"), try self.lookup(clientNamespace, "tasks.web"))
            return answers.web == [vip] && answers.tasks == Set(webTasks.values.map(\.address))
        }

        // Through the VIP (nftables round robin in the client's namespace), across the VXLAN to both replicas.
        var bodies = Set<String>()
        try cluster.waitUntil("requests to the VIP \(vip) reach both replicas", timeoutSeconds: 30) {
            bodies.formUnion(try self.fetch(clientNamespace, vip, count: 4))
            return bodies.filter { !$0.isEmpty }.count == 2
        }
        let before = try workerNetworkState(clientNamespace: clientNamespace)
        XCTAssertEqual(before.tables.filter { $0 == "table ip \(prefix("w1"))" }.count, 1, before.tables.joined(separator: "\n"))
        XCTAssertTrue(before.client.contains(vip), "the client's table has the VIP's DNAT:\n\(before.client)")

        // kill -9 of the worker's node process: the containers and the kernel state stay.
        cluster.kill("w1")
        try cluster.restart("w1")
        try cluster.waitUntil("w1 is ready again with its tasks re-adopted", timeoutSeconds: 60) {
            let nodes = try self.cluster.nodes(via: "m1")
            let clients = try self.runningTasks("client")
            return nodes.allSatisfy { $0[path: "Status", "State"] as? String == "ready" } && clients.keys.first == clientID
        }
        try cluster.waitUntil("the restarted worker answers DNS for the client again", timeoutSeconds: 30) {
            try self.lookup(clientNamespace, "tasks.web") == Set(webTasks.values.map(\.address))
        }
        var after = Set<String>()
        try cluster.waitUntil("requests to the VIP reach both replicas again", timeoutSeconds: 30) {
            after.formUnion(try self.fetch(clientNamespace, vip, count: 4))
            return after.filter { !$0.isEmpty } == bodies.filter { !$0.isEmpty }
        }
        XCTAssertEqual(try runningTasks("web").keys.sorted(), webTasks.keys.sorted(), "no web task was replaced")
        let restarted = try workerNetworkState(clientNamespace: clientNamespace)
        XCTAssertEqual(restarted.tables, before.tables, "one table per namespace, as before")
        XCTAssertEqual(restarted.links, before.links, "the same links, none twice")
        XCTAssertEqual(restarted.node, before.node, "the node's ruleset is rendered again, not appended to")
        XCTAssertEqual(restarted.client, before.client, "the client's ruleset is the same, one copy of each rule")

        // Drain: on scale-down the leaving task drops out of DNS (and the VIP) while it still
        // runs, and is stopped only after the drain delay (1 s here).
        let pids = try runningTasks("web")
        XCTAssertEqual(try cluster.cli("m1", ["service", "scale", "--detach", "web=1"]).status, 0)
        var remaining = Set<String>()
        try cluster.waitUntil("tasks.web answers one address", timeoutSeconds: 30) {
            remaining = try self.lookup(clientNamespace, "tasks.web")
            return remaining.count == 1
        }
        let leaving = try XCTUnwrap(pids.values.first { !remaining.contains($0.address) })
        XCTAssertTrue(FileSystem.exists("/proc/\(leaving.pid)"), "the leaving task still runs once it is out of DNS (drain)")
        try cluster.waitUntil("the leaving task is stopped after the drain delay", timeoutSeconds: 30) {
            !FileSystem.exists("/proc/\(leaving.pid)/ns")
        }

        // Leaving the swarm removes everything the worker created: links, its table, task namespaces.
        let left = try cluster.cli("w1", ["leave"])
        XCTAssertEqual(left.status, 0, left.output)
        let table = prefix("w1")
        try cluster.waitUntil("w1 removed its links, nftables table and task namespaces", timeoutSeconds: 30) {
            let state = try self.workerNetworkState(clientNamespace: clientNamespace)
            let namespaces = UnderlayNetwork.namespaces(prefix: table)
            return !state.links.contains { $0.hasPrefix(table) } && !state.tables.contains("table ip \(table)") && namespaces.isEmpty
        }
    }
}
