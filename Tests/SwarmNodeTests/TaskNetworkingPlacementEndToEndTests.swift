import Foundation
import XCTest

/// Issue 16 on real processes: a node with the process executor says in its description that it
/// runs no task networking (`Engine.Plugins` without the overlay network plugin), so a service on
/// a network is never placed there: its task waits pending, saying why, instead of being sent to
/// the node and rejected; a service without networks still runs there.
final class TaskNetworkingPlacementEndToEndTests: XCTestCase {
    private var cluster: TestCluster!

    override func setUpWithError() throws {
        cluster = try TestCluster()
    }

    override func tearDown() {
        cluster?.tearDown()
    }

    private func tasks(_ service: String) throws -> [[String: Any]] {
        let result = try cluster.cli("m1", ["service", "ps", service, "--format", "json"])
        guard result.status == 0 else { return [] }
        return (try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [[String: Any]]) ?? []
    }

    func testAProcessExecutorNodeReportsNoNetworkingAndGetsNoNetworkedTask() throws {
        try cluster.initialize("m1")
        try cluster.waitUntil("m1 reports its engine plugins", timeoutSeconds: 20) {
            let node = try self.cluster.nodes(via: "m1").first
            return ((node?["Description"] as? [String: Any])?["Engine"] as? [String: Any])?["Plugins"] != nil
        }
        let node = try XCTUnwrap(try cluster.nodes(via: "m1").first)
        let plugins = ((node["Description"] as? [String: Any])?["Engine"] as? [String: Any])?["Plugins"] as? [Any]
        XCTAssertEqual(plugins?.count, 0, "no Network overlay plugin: \(String(describing: plugins))")

        XCTAssertEqual(try cluster.cli("m1", ["network", "create", "-d", "overlay", "front"]).status, 0)
        let created = try cluster.cli("m1", ["service", "create", "--detach", "--name", "web", "--network", "front", "busybox", "sleep", "3600"])
        XCTAssertEqual(created.status, 0, created.output)
        let plain = try cluster.cli("m1", ["service", "create", "--detach", "--name", "plain", "busybox", "sleep", "3600"])
        XCTAssertEqual(plain.status, 0, plain.output)
        try cluster.waitUntil("plain runs and web's task waits saying why", timeoutSeconds: 30) {
            let web = try self.tasks("web")
            let running = try self.tasks("plain").filter { ($0["Status"] as? [String: Any])?["State"] as? String == "running" }
            guard running.count == 1, web.count == 1, let status = web[0]["Status"] as? [String: Any] else { return false }
            return status["State"] as? String == "pending"
                && (status["Err"] as? String ?? "").contains("task networking (--network, --publish) unavailable on 1 node")
        }
        let web = try XCTUnwrap(try tasks("web").first)
        XCTAssertNil(web["NodeID"], "the task was never sent to the node")
    }
}
