import Networking
import XCTest

/// From the dispatcher's service tables to a node's plan: networks present here, local task
/// namespaces, readiness, forwarding entries, gateway addresses.
final class NodePlanBuilderTests: XCTestCase {
    let gateway = GatewayBridge(subnet: IPv4Subnet("172.30.0.0/16")!, nodeAddress: IPv4Address(172, 30, 0, 1))

    func tables() -> [NetworkTableInput] { Self.tables() }

    static func tables() -> [NetworkTableInput] {
        let peers = [NetworkTableInput.Peer(nodeID: "n1", address: "10.255.0.2/16", underlayAddress: "192.0.2.1"),
                     NetworkTableInput.Peer(nodeID: "n2", address: "10.255.0.3/16", underlayAddress: "192.0.2.2")]
        let ingressWeb = NetworkTableInput.Service(
            serviceID: "s1", name: "web", vip: "10.255.0.5/16", ports: [PublishedPort(published: 8080, target: 80)],
            tasks: [.init(taskID: "t1", name: "web.1.t1", nodeID: "n1", address: "10.255.0.6/16", running: true),
                    .init(taskID: "t2", name: "web.2.t2", nodeID: "n2", address: "10.255.0.7/16", running: true),
                    .init(taskID: "t3", name: "web.3.t3", nodeID: "n1", address: "10.255.0.8/16", running: true, stopRequested: true)])
        let frontWeb = NetworkTableInput.Service(
            serviceID: "s1", name: "web", aliases: ["www"], vip: "10.0.1.2/24",
            tasks: [.init(taskID: "t1", name: "web.1.t1", nodeID: "n1", address: "10.0.1.3/24", running: true),
                    .init(taskID: "t2", name: "web.2.t2", nodeID: "n2", address: "10.0.1.4/24", running: true),
                    .init(taskID: "t3", name: "web.3.t3", nodeID: "n1", address: "10.0.1.5/24", running: true, stopRequested: true),
                    .init(taskID: "t4", name: "web.4.t4", nodeID: "n1", address: "10.0.1.6/24", running: false, terminated: true)])
        return [NetworkTableInput(networkID: "ingress", name: "ingress", vxlanID: 4096, subnet: "10.255.0.0/16", ingress: true,
                                  peers: peers, services: [ingressWeb]),
                NetworkTableInput(networkID: "front", name: "front", vxlanID: 4097, subnet: "10.0.1.0/24", ingress: false,
                                  peers: [NetworkTableInput.Peer(nodeID: "n1", address: "10.0.1.250/24", underlayAddress: "192.0.2.1"),
                                          NetworkTableInput.Peer(nodeID: "n2", address: "10.0.1.251/24", underlayAddress: "192.0.2.2")],
                                  services: [frontWeb]),
                NetworkTableInput(networkID: "other", name: "other", vxlanID: 4098, subnet: "10.0.2.0/24", ingress: false,
                                  peers: [NetworkTableInput.Peer(nodeID: "n2", address: "10.0.2.250/24", underlayAddress: "192.0.2.2")],
                                  services: [])]
    }

    func testPlanFromTables() throws {
        let plan = try NodePlanBuilder.plan(nodeID: "n1", gateway: gateway, tables: tables())
        XCTAssertEqual(plan.underlayAddress, IPv4Address(192, 0, 2, 1))
        XCTAssertEqual(plan.networks.map(\.id), ["front", "ingress"], "a network without this node's address is not here")
        XCTAssertEqual(plan.network("front")?.nodeAddress, IPv4Address("10.0.1.250"))
        XCTAssertEqual(plan.network("front")?.peers, [IPv4Address(192, 0, 2, 2)])
        XCTAssertEqual(plan.tasks.map(\.id), ["t1", "t3"], "local tasks not terminated get a namespace (t3 still drains)")
        XCTAssertEqual(plan.task("t1")?.attachments.map(\.networkID), ["front", "ingress"])
        let web = try XCTUnwrap(plan.services.first)
        XCTAssertEqual(web.readyBackends.map(\.taskID), ["t1", "t2"], "t3 was asked to stop: out of load balancing already")
        XCTAssertEqual(web.virtualIPs, ["front": IPv4Address("10.0.1.2")!, "ingress": IPv4Address("10.255.0.5")!])
        XCTAssertEqual(web.ingressNetworkID, "ingress")
        XCTAssertEqual(web.aliases, ["www"])
        XCTAssertEqual(web.ports, [PublishedPort(published: 8080, target: 80)])
        XCTAssertTrue(plan.remoteEndpoints.contains(RemoteEndpoint(networkID: "front", address: IPv4Address("10.0.1.4")!, host: IPv4Address(192, 0, 2, 2))))
        XCTAssertTrue(plan.remoteEndpoints.contains(RemoteEndpoint(networkID: "ingress", address: IPv4Address("10.255.0.3")!, host: IPv4Address(192, 0, 2, 2))))
        XCTAssertFalse(plan.remoteEndpoints.contains { $0.host == IPv4Address(192, 0, 2, 1) }, "nothing local is a remote endpoint")
    }

    func testLocalHealthGatesReadiness() throws {
        let unhealthy = try NodePlanBuilder.plan(nodeID: "n1", gateway: gateway, tables: tables(),
                                                 health: ["t1": .init(hasHealthCheck: true, healthy: false)])
        XCTAssertEqual(unhealthy.services[0].readyBackends.map(\.taskID), ["t2"])
        let healthy = try NodePlanBuilder.plan(nodeID: "n1", gateway: gateway, tables: tables(),
                                               health: ["t1": .init(hasHealthCheck: true, healthy: true)])
        XCTAssertEqual(healthy.services[0].readyBackends.map(\.taskID), ["t1", "t2"])
    }

    func testGatewayAddressesAreStableAndDistinct() {
        let ids = (0..<500).map { "task\($0)" }
        let first = GatewayAddresses.assign(ids, in: gateway)
        XCTAssertEqual(Set(first.values).count, 500)
        XCTAssertFalse(first.values.contains(gateway.nodeAddress))
        XCTAssertTrue(first.values.allSatisfy { gateway.subnet.contains($0) && $0 != gateway.subnet.network })
        XCTAssertEqual(GatewayAddresses.assign(ids.reversed(), in: gateway), first, "order of arrival does not matter")
        let later = GatewayAddresses.assign(Array(ids.dropFirst(10)) + ["new"], in: gateway)
        let moved = ids.dropFirst(10).filter { later[$0] != first[$0] }
        XCTAssertLessThanOrEqual(moved.count, 1, "only a task colliding with the newcomer can move: \(moved)")
    }

    func testMalformedTableIsRefusedWithTheField() {
        var broken = tables()
        broken[1].services[0].tasks[0].address = "10.0.1.x"
        XCTAssertThrowsError(try NodePlanBuilder.plan(nodeID: "n1", gateway: gateway, tables: broken)) {
            XCTAssertTrue("\($0)".contains("task t1's address '10.0.1.x'"), "\($0)")
        }
    }

    func testNodeWithoutTablesHasAnEmptyPlan() throws {
        let plan = try NodePlanBuilder.plan(nodeID: "n9", gateway: gateway, tables: tables())
        XCTAssertEqual(plan.networks, [])
        XCTAssertEqual(plan.tasks, [])
    }
}
