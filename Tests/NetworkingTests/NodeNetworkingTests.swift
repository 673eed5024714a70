import Networking
import XCTest

/// The runner-facing object against the recording plumbing and a fake DNS: tables in, rules and
/// one DNS listener per local task namespace out.
final class NodeNetworkingTests: XCTestCase {
    final class FakeDNS: DNSEndpoints {
        var views: [String: DNSView] = [:]
        var paths: [String: String] = [:]
        var listenerIDs: Set<String> { Set(views.keys) }
        func listen(id: String, namespacePath: String, view: DNSView) throws {
            views[id] = view
            paths[id] = namespacePath
        }
        func update(id: String, view: DNSView) { views[id] = view }
        func remove(id: String) { views[id] = nil }
    }

    func testTablesBecomeRulesAndDNSListenersThatFollowTheTasks() throws {
        let fake = RecordingPlumbing(), dns = FakeDNS()
        let gateway = GatewayBridge(subnet: IPv4Subnet("172.30.0.0/16")!, nodeAddress: IPv4Address(172, 30, 0, 1))
        let networking = NodeNetworking(nodeID: "n1", names: try NetworkNames(prefix: "sw"), gateway: gateway, plumbing: fake, dns: dns)
        let tables = NodePlanBuilderTests.tables()
        try networking.update(tables: tables)
        XCTAssertEqual(dns.listenerIDs, ["t1", "t3"])
        XCTAssertEqual(dns.paths["t1"], "/run/netns/sw-t-t1")
        XCTAssertEqual(networking.namespacePath(forTask: "t1"), "/run/netns/sw-t-t1")
        XCTAssertNil(networking.namespacePath(forTask: "t2"), "t2 runs on another node")
        XCTAssertEqual(dns.views["t1"]?.entries["tasks.web"]?.addresses.count, 4, "t1 and t2 on two networks; t3 is draining")
        XCTAssertEqual(fake.state.namespaces, ["sw-t-t1", "sw-t-t3"])

        var drained = tables
        for index in drained.indices {
            for service in drained[index].services.indices { drained[index].services[service].tasks.removeAll { $0.taskID == "t3" } }
        }
        try networking.update(tables: drained)
        XCTAssertEqual(dns.listenerIDs, ["t1"])
        XCTAssertEqual(fake.state.namespaces, ["sw-t-t1"])

        try networking.shutdown()
        XCTAssertEqual(dns.listenerIDs, [])
        XCTAssertEqual(fake.state.namespaces, [])
        XCTAssertEqual(fake.state.links, [])
    }
}
