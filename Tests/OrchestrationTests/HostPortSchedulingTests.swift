import XCTest
import ClusterState
@testable import Orchestration

/// Host-mode published ports as a scheduling constraint: two tasks binding the same host port
/// never go to one node; the rest stay pending saying why.
final class HostPortSchedulingTests: XCTestCase {
    private func hostPort(_ published: UInt32, protocol name: String = "tcp") -> EndpointSpec {
        EndpointSpec(ports: [PortConfig(protocol: name, targetPort: 80, publishedPort: published, publishMode: "host")])
    }

    func testTasksPublishingTheSameHostPortNeverShareANode() {
        var harness = Harness(nodes: ["n1", "n2", "n3"])
        var spec = Harness.spec(name: "web", replicas: 4)
        spec.endpointSpec = hostPort(8080)
        harness.createService(spec)
        harness.converge()
        XCTAssertEqual(harness.runningPerNode().values.sorted(), [1, 1, 1], "one task per node: the fourth has nowhere to bind 8080")
        let pending = harness.tasks().filter { $0.status.state == .pending }
        XCTAssertEqual(pending.count, 1)
        XCTAssertEqual(pending.first?.status.err, "no suitable node (host-mode port tcp/8080 in use on 3 nodes)")

        // Another service on the same port waits too; one on udp 8080 does not.
        var other = Harness.spec(name: "api", replicas: 1)
        other.endpointSpec = hostPort(8080)
        harness.createService(other, id: "s2")
        var udp = Harness.spec(name: "dns", replicas: 3)
        udp.endpointSpec = hostPort(8080, protocol: "udp")
        harness.createService(udp, id: "s3")
        harness.converge()
        XCTAssertTrue(harness.running("s2").isEmpty)
        XCTAssertEqual(harness.running("s3").count, 3)

        // Scaling web down frees a node's port for api.
        harness.updateService("s1") { $0.mode = .replicated(replicas: 2) }
        harness.converge()
        XCTAssertEqual(harness.running("s2").count, 1)
        var nodes = harness.running("s1").compactMap(\.nodeID) + harness.running("s2").compactMap(\.nodeID)
        nodes.sort()
        XCTAssertEqual(Set(nodes).count, 3, "web and api hold 8080 on three different nodes: \(nodes)")
    }
}
