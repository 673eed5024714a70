import ClusterState
import Dispatch
import Executor
import Foundation
import Networking
import Platform
import XCTest

@testable import SwarmNode

/// The node's glue between the network table stream and the kernel (issue 16), against the
/// recording plumbing: a starting task waits for the plan that contains it, a failed apply fails
/// it with the reason (and the next start retries), bursts of changes coalesce, a node that
/// cannot do networking rejects attached tasks saying why, and shutdown removes everything.
final class NodeNetworkRunnerTests: XCTestCase {
    final class FakeDNS: DNSEndpoints {
        var views: [String: DNSView] = [:]
        var listenerIDs: Set<String> { Set(views.keys) }
        func listen(id: String, namespacePath: String, view: DNSView) throws { views[id] = view }
        func update(id: String, view: DNSView) { views[id] = view }
        func remove(id: String) { views[id] = nil }
    }

    /// Recording plumbing whose applies wait at a gate while it is closed (a slow `nft`).
    final class GatedPlumbing: NetworkPlumbing, @unchecked Sendable {
        let recording = RecordingPlumbing()
        let gate = DispatchSemaphore(value: 0)
        private let lock = ConditionLock()
        private var closed = false
        private var waiting = false
        func close() { lock.withLock { closed = true } }
        func open() {
            lock.withLock { closed = false }
            gate.signal()
        }
        /// Whether an apply is waiting at the closed gate.
        var isWaiting: Bool { lock.withLock { waiting } }
        func observe(names: NetworkNames) throws -> ObservedNetworkState { try recording.observe(names: names) }
        func apply(_ steps: [PlumbingStep]) throws {
            if lock.withLock({ closed }) {
                lock.withLock { waiting = true }
                gate.wait()
                lock.withLock { waiting = false }
            }
            try recording.apply(steps)
        }
    }

    /// Plumbing whose every apply fails (nft refuses the ruleset).
    final class FailingPlumbing: NetworkPlumbing {
        func observe(names: NetworkNames) throws -> ObservedNetworkState { ObservedNetworkState() }
        func apply(_ steps: [PlumbingStep]) throws { throw NetworkingError("nft -f - failed (exit 1): Error: No such file or directory") }
    }

    private let gateway = GatewayBridge(subnet: IPv4Subnet("172.30.0.0/16")!, nodeAddress: IPv4Address(172, 30, 0, 1))

    /// One overlay network with nodes n1 (this one) and n2, and service web with these tasks on n1.
    private func tables(_ tasks: [String]) -> [NetworkTableInput] {
        [NetworkTableInput(networkID: "net1", name: "front", vxlanID: 4097, subnet: "198.51.100.0/24", ingress: false,
                           peers: [.init(nodeID: "n1", address: "198.51.100.250/24", underlayAddress: "192.0.2.1"),
                                   .init(nodeID: "n2", address: "198.51.100.251/24", underlayAddress: "192.0.2.2")],
                           services: [.init(serviceID: "s1", name: "web", vip: "198.51.100.2/24",
                                            tasks: tasks.enumerated().map { index, id in
                                                .init(taskID: id, name: "web.\(index + 1).\(id)", nodeID: "n1",
                                                      address: "198.51.100.\(10 + index)/24", running: true)
                                            })])]
    }

    private func runner(_ plumbing: NetworkPlumbing, dns: FakeDNS = FakeDNS()) throws -> NodeNetworkRunner {
        let networking = NodeNetworking(nodeID: "n1", names: try NetworkNames(prefix: "swt1"), gateway: gateway, plumbing: plumbing, dns: dns)
        return NodeNetworkRunner(networking: networking, dnsServer: nil, unavailable: nil, logger: NodeLogger(nodeID: "n1", minimum: .error))
    }

    /// Calls `namespacePath` on another thread (a task's executor queue); the result lands in the box.
    private func waitForNamespace(_ runner: NodeNetworkRunner, _ taskID: String, timeoutMillis: Int = 10_000) -> ResultBox<Result<String, NodeError>> {
        let box = ResultBox<Result<String, NodeError>>()
        DispatchQueue.global().async {
            do { box.set(.success(try runner.namespacePath(forTask: taskID, timeoutMillis: timeoutMillis))) } catch {
                box.set(.failure(error as? NodeError ?? NodeError("\(error)")))
            }
        }
        return box
    }

    private func poll(_ what: String, _ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if condition() { return }
            usleep(5_000)
        }
        XCTFail("timed out waiting until \(what)")
    }

    func testAStartingTaskWaitsUntilThePlanContainingItIsApplied() throws {
        let plumbing = RecordingPlumbing()
        let runner = try runner(plumbing)
        let waiting = waitForNamespace(runner, "t1")
        runner.update(tables: tables(["t0"]), health: [:])
        poll("the first plan is applied") { runner.applyCounts.applied == 1 }
        XCTAssertNil(waiting.wait(timeoutMillis: 0), "t1 is not in the applied plan yet: it keeps waiting")
        XCTAssertEqual(plumbing.state.namespaces, ["swt1-t-t0"])

        runner.update(tables: tables(["t0", "t1"]), health: [:])
        let result = try XCTUnwrap(waiting.wait(timeoutMillis: 10_000), "t1's wait ends once its plan is applied")
        XCTAssertEqual(try result.get(), "/run/netns/swt1-t-t1")
        XCTAssertTrue(plumbing.state.namespaces.contains("swt1-t-t1"), "the namespace exists before the task is started")
        XCTAssertEqual(try runner.namespacePath(forTask: "t1", timeoutMillis: 0), "/run/netns/swt1-t-t1", "an applied task answers at once")
    }

    func testAFailedApplyRejectsTheStartingTaskWithTheReasonAndTheNextStartRetries() throws {
        let plumbing = RecordingPlumbing()
        plumbing.failNextApply = NetworkingError("nft -f - failed (exit 1): Error: Could not process rule")
        let runner = try runner(plumbing)
        runner.update(tables: tables(["t1"]), health: [:])
        poll("the apply failed") { runner.applyCounts.failed == 1 }
        // The starting task retries the newest tables at once instead of waiting for a change.
        XCTAssertEqual(try runner.namespacePath(forTask: "t1", timeoutMillis: 10_000), "/run/netns/swt1-t-t1")
        XCTAssertEqual(runner.applyCounts.applied, 1)

        plumbing.failNextApply = NetworkingError("ip -batch - failed (exit 2): RTNETLINK answers: Operation not permitted")
        runner.update(tables: tables(["t1", "t3"]), health: [:])
        poll("the second apply failed") { runner.applyCounts.failed == 2 }
        // The failure is retried once for the starting task; the retry applies.
        XCTAssertEqual(try runner.namespacePath(forTask: "t3", timeoutMillis: 10_000), "/run/netns/swt1-t-t3")
        XCTAssertEqual(runner.applyCounts.failed, 2)
    }

    func testAnApplyThatFailsForTheWaitingTaskRejectsItNamingTheError() throws {
        let runner = try runner(FailingPlumbing())
        let waiting = waitForNamespace(runner, "t1")
        runner.update(tables: tables(["t1"]), health: [:])
        let result = try XCTUnwrap(waiting.wait(timeoutMillis: 10_000))
        XCTAssertThrowsError(try result.get()) { error in
            XCTAssertEqual("\(error)", "task t1: its network could not be set up: nft -f - failed (exit 1): Error: No such file or directory")
        }
    }

    func testATaskTheTablesNeverNameTimesOutSayingWhatToCheck() throws {
        let runner = try runner(RecordingPlumbing())
        runner.update(tables: tables(["t0"]), health: [:])
        XCTAssertThrowsError(try runner.namespacePath(forTask: "t9", timeoutMillis: 200)) { error in
            XCTAssertTrue("\(error)".hasPrefix("task t9: the network tables giving it its addresses did not reach this node"), "\(error)")
            XCTAssertTrue("\(error)".contains("swarmctl node ls"), "\(error)")
        }
    }

    func testChangesArrivingDuringASlowApplyCoalesceIntoOneApplyOfTheNewest() throws {
        let plumbing = GatedPlumbing()
        let runner = try runner(plumbing)
        plumbing.close()
        runner.update(tables: tables(["t0"]), health: [:])
        poll("the first apply waits at the gate") { plumbing.isWaiting }
        for count in 1...20 { runner.update(tables: tables((0...count).map { "t\($0)" }), health: [:]) }
        plumbing.open()
        let waiting = waitForNamespace(runner, "t20")
        XCTAssertEqual(try XCTUnwrap(waiting.wait(timeoutMillis: 10_000)).get(), "/run/netns/swt1-t-t20")
        XCTAssertEqual(runner.applyCounts.applied, 2, "the first apply, then one for the 20 changes that came meanwhile")
        XCTAssertEqual(plumbing.recording.state.namespaces.count, 21)
    }

    func testLocalHealthKeepsAnUnhealthyTaskOutOfLoadBalancing() throws {
        let plumbing = RecordingPlumbing(), dns = FakeDNS()
        let runner = try runner(plumbing, dns: dns)
        runner.update(tables: tables(["t0", "t1"]), health: ["t1": NodePlanBuilder.Health(hasHealthCheck: true, healthy: false)])
        poll("the plan is applied") { runner.applyCounts.applied == 1 }
        XCTAssertEqual(dns.views["t0"]?.entries["tasks.web"]?.addresses, [IPv4Address(198, 51, 100, 10)], "t1 is unhealthy")
        runner.update(tables: tables(["t0", "t1"]), health: ["t1": NodePlanBuilder.Health(hasHealthCheck: true, healthy: true)])
        poll("the second plan is applied") { runner.applyCounts.applied == 2 }
        XCTAssertEqual(dns.views["t0"]?.entries["tasks.web"]?.addresses.count, 2, "healthy again: back in")
    }

    func testShutdownRemovesEverythingAndEndsWaits() throws {
        let plumbing = RecordingPlumbing(), dns = FakeDNS()
        let runner = try runner(plumbing, dns: dns)
        runner.update(tables: tables(["t0"]), health: [:])
        XCTAssertEqual(try runner.namespacePath(forTask: "t0", timeoutMillis: 10_000), "/run/netns/swt1-t-t0")
        let waiting = waitForNamespace(runner, "t5")
        runner.shutdown()
        XCTAssertEqual(plumbing.state.namespaces, [])
        XCTAssertEqual(plumbing.state.links, [])
        XCTAssertEqual(plumbing.state.tables, [])
        XCTAssertEqual(dns.listenerIDs, [])
        XCTAssertThrowsError(try XCTUnwrap(waiting.wait(timeoutMillis: 10_000)).get()) { error in
            XCTAssertTrue("\(error)".contains("shutting down"), "\(error)")
        }
    }

    func testANodeWithoutNetworkingRejectsAttachedTasksSayingWhatIsMissing() throws {
        let directory = try FileSystem.makeTemporaryDirectory(prefix: "netrunner-")
        defer { try? FileSystem.removeTree(directory) }
        let runner = NodeNetworkRunner.make(configuration: NodeConfiguration(), nodeID: "abcdefgh", executor: try ProcessExecutor(root: directory),
                                            logger: NodeLogger(nodeID: "n1", minimum: .error))
        let reason = try XCTUnwrap(runner.unavailable)
        XCTAssertTrue(reason.contains("--executor oci"), reason)
        XCTAssertThrowsError(try runner.namespacePath(forTask: "t1")) { error in
            XCTAssertEqual("\(error)", "task t1 has network attachments (--network, --publish) but \(reason)")
        }
    }

    func testIngressIsBuiltOnlyWhenSomeServicePublishesAPortAndOtherNetworksOnlyWithALocalTask() throws {
        func ingress(ports: [PublishedPort], localTask: Bool) -> NetworkTableInput {
            NetworkTableInput(networkID: "ing", name: "ingress", vxlanID: 4096, subnet: "198.51.100.128/26", ingress: true,
                              peers: [.init(nodeID: "n1", address: "198.51.100.190/26", underlayAddress: "192.0.2.1"),
                                      .init(nodeID: "n2", address: "198.51.100.189/26", underlayAddress: "192.0.2.2")],
                              services: [.init(serviceID: "s1", name: "web", vip: "198.51.100.130/26", ports: ports,
                                               tasks: [.init(taskID: "t1", name: "web.1.t1", nodeID: localTask ? "n1" : "n2",
                                                             address: "198.51.100.131/26", running: true)])])
        }
        let published = [PublishedPort(published: 8080, target: 80, mode: .ingress, policy: .mesh)]
        XCTAssertEqual(try NodePlanBuilder.plan(nodeID: "n1", gateway: gateway, tables: [ingress(ports: [], localTask: false)]).networks, [],
                       "every node receives ingress; nothing publishes and nothing runs here: no bridge, VXLAN or rules")
        XCTAssertEqual(try NodePlanBuilder.plan(nodeID: "n1", gateway: gateway, tables: [ingress(ports: published, localTask: false)]).networks.map(\.name),
                       ["ingress"], "a published port: the routing mesh answers on every node")
        var remoteOnly = tables(["t0"])
        remoteOnly[0].services[0].tasks[0].nodeID = "n2"
        XCTAssertEqual(try NodePlanBuilder.plan(nodeID: "n1", gateway: gateway, tables: remoteOnly).networks, [], "no local task on front")
        let plumbing = RecordingPlumbing()
        let runner = try runner(plumbing)
        runner.update(tables: [ingress(ports: [], localTask: false)], health: [:])
        poll("the plan is applied") { runner.applyCounts.applied == 1 }
        XCTAssertEqual(plumbing.state.links, [], "a node without networked work creates nothing")
        XCTAssertEqual(plumbing.state.tables, [])
    }

    func testTheDefaultPrefixIsShortAndDiffersPerNode() throws {
        XCTAssertEqual(NodeNetworkRunner.defaultPrefix(nodeID: "Q7ZK0x1p9abc"), "swq7zk")
        XCTAssertNoThrow(try NetworkNames(prefix: NodeNetworkRunner.defaultPrefix(nodeID: "0000aaaa")))
        XCTAssertNotEqual(NodeNetworkRunner.defaultPrefix(nodeID: "abcd1"), NodeNetworkRunner.defaultPrefix(nodeID: "abce1"))
    }

    func testTheUnderlayAddressDropsTheAdvertisedPort() {
        XCTAssertEqual(NetworkTableInput.host("192.0.2.1:2377"), "192.0.2.1")
        XCTAssertEqual(NetworkTableInput.host("192.0.2.1"), "192.0.2.1")
    }

    func testNetworkSettingsParseAndBadValuesSayWhatToUse() throws {
        var configuration = NodeConfiguration()
        XCTAssertEqual(configuration.drainDelayMillis, 2_000)
        XCTAssertEqual(configuration.gatewaySubnet, "172.30.0.0/16")
        try configuration.set("network-prefix", "tb1a")
        try configuration.set("network-gateway-subnet", "198.51.100.0/24")
        try configuration.set("drain-delay", "500ms")
        XCTAssertEqual(configuration.networkPrefix, "tb1a")
        XCTAssertEqual(configuration.gatewaySubnet, "198.51.100.0/24")
        XCTAssertEqual(configuration.drainDelayMillis, 500)
        XCTAssertThrowsError(try configuration.set("network-prefix", "Toolong7")) { XCTAssertTrue("\($0)".contains("2 to 6 lowercase"), "\($0)") }
        XCTAssertThrowsError(try configuration.set("network-gateway-subnet", "172.30.0.1/16")) { XCTAssertTrue("\($0)".contains("no host bits"), "\($0)") }
        XCTAssertThrowsError(try configuration.set("network-gateway-subnet", "10.0.0.0/30")) { XCTAssertTrue("\($0)".contains("8 to 29"), "\($0)") }
        XCTAssertThrowsError(try configuration.set("drain-delay", "soon")) { XCTAssertTrue("\($0)".contains("drain-delay"), "\($0)") }
    }
}
