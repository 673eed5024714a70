import ClusterState
import Dispatcher
import Networking
import XCTest

@testable import SwarmNode

/// The dispatcher's network table reaches the worker-side networking field for field, with the
/// task states turned into readiness facts and unsupported ports refused by name.
final class NetworkTableInputTests: XCTestCase {
    func table(ports: [PortConfig]) -> NetworkTable {
        NetworkTable(networkID: "ing", name: "ingress", vxlanID: 4096, subnet: "10.255.0.0/16", gateway: "10.255.0.1", ingress: true,
                     peers: [NetworkTable.Peer(nodeID: "n1", address: "10.255.0.2/16", underlayAddress: "192.0.2.1"),
                             NetworkTable.Peer(nodeID: "n2", address: "10.255.0.3/16", underlayAddress: "192.0.2.2")],
                     services: [NetworkTable.ServiceEntry(serviceID: "s1", name: "web", aliases: [], endpointMode: "vip", vip: "10.255.0.5/16",
                                                          ports: ports, tasks: [
            NetworkTable.TaskEndpoint(taskID: "t1", name: "web.1.t1", nodeID: "n1", address: "10.255.0.6/16", state: .running, desiredState: .running),
            NetworkTable.TaskEndpoint(taskID: "t2", name: "web.2.t2", nodeID: "n2", address: "10.255.0.7/16", state: .running, desiredState: .shutdown),
            NetworkTable.TaskEndpoint(taskID: "t3", name: "web.3.t3", nodeID: "n1", address: "10.255.0.8/16", state: .starting, desiredState: .running),
        ])])
    }

    func testTableBecomesAPlanWithReadinessFromTaskStates() throws {
        let input = try NetworkTableInput(table(ports: [PortConfig(targetPort: 80, publishedPort: 8080, publishMode: "ingress", publishPolicy: "local")]))
        XCTAssertEqual(input.services[0].ports, [PublishedPort(published: 8080, target: 80, mode: .ingress, policy: .local)])
        let plan = try NodePlanBuilder.plan(nodeID: "n1", gateway: GatewayBridge(subnet: IPv4Subnet("172.30.0.0/16")!, nodeAddress: IPv4Address(172, 30, 0, 1)),
                                            tables: [input])
        XCTAssertEqual(plan.services[0].readyBackends.map(\.taskID), ["t1"], "t2 is asked to stop, t3 is not running yet")
        XCTAssertEqual(plan.tasks.map(\.id), ["t1", "t3"], "local tasks get namespaces before they run")
        XCTAssertEqual(plan.underlayAddress, IPv4Address(192, 0, 2, 1))
    }

    func testUnsupportedPortsAreRefusedByName() {
        XCTAssertThrowsError(try NetworkTableInput(table(ports: [PortConfig(protocol: "sctp", targetPort: 80, publishedPort: 8080)]))) {
            XCTAssertTrue("\($0)".contains("protocol sctp"), "\($0)")
        }
    }
}
