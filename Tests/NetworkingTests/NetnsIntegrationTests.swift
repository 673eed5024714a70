import Glibc
@testable import Networking
import Platform
import XCTest

/// The rendered plumbing applied to real kernel network stacks: two hosts joined by VXLAN.
/// Network A (198.51.100.0/25, VNI 4301): web tasks a1 (host 1) and a2 (host 2) behind VIP .100,
/// a client task c1 on host 1. Network B (198.51.100.128/26, VNI 4302): task b1 on host 2.
/// Gateway bridge on each host: 198.51.100.192/27. Skips without root, ip or nft.
final class NetnsIntegrationTests: XCTestCase {
    var topology: NetnsTopology!

    override func setUpWithError() throws {
        try NetnsTopology.requirements()
        topology = try NetnsTopology()
    }

    override func tearDown() {
        topology?.destroy()
        XCTAssertEqual(topology?.namespacesLeft() ?? [], [], "every namespace the test created is gone")
        topology = nil
    }

    static let a = "neta", b = "netb"
    static let vip = NetnsTopology.overlay(100)
    static let addresses: [String: IPv4Address] = ["a1": NetnsTopology.overlay(11), "a2": NetnsTopology.overlay(12),
                                                   "c1": NetnsTopology.overlay(13), "b1": NetnsTopology.overlay(131)]
    static let gateways: [String: IPv4Address] = ["a1": NetnsTopology.overlay(194), "c1": NetnsTopology.overlay(195),
                                                  "a2": NetnsTopology.overlay(194), "b1": NetnsTopology.overlay(195)]
    static let placement: [String: Int] = ["a1": 0, "c1": 0, "a2": 1, "b1": 1]
    static let networkOf: [String: String] = ["a1": a, "a2": a, "c1": a, "b1": b]

    static func plan(host: Int, ready: Set<String> = ["a1", "a2"]) -> NodeNetworkPlan {
        let underlay = NetnsTopology.underlay
        let nodeAddressA = NetnsTopology.overlay(host == 0 ? 126 : 125)
        var networks = [OverlayNetwork(id: Self.a, name: "a", vni: 4301, subnet: IPv4Subnet(NetnsTopology.overlay(0), prefixLength: 25),
                                       nodeAddress: nodeAddressA, peers: underlay)]
        if host == 1 {
            networks.append(OverlayNetwork(id: Self.b, name: "b", vni: 4302, subnet: IPv4Subnet(NetnsTopology.overlay(128), prefixLength: 26),
                                           nodeAddress: NetnsTopology.overlay(190), peers: [underlay[1]]))
        }
        let local = Self.placement.filter { $0.value == host }.keys.sorted()
        let tasks = local.map { LocalTask(id: $0, name: $0, gatewayAddress: Self.gateways[$0]!,
                                          attachments: [TaskAttachment(networkID: Self.networkOf[$0]!, address: Self.addresses[$0]!)]) }
        var remote = Self.placement.filter { $0.value != host && Self.networkOf[$0.key] == Self.a }
            .map { RemoteEndpoint(networkID: Self.a, address: Self.addresses[$0.key]!, host: underlay[$0.value]) }
        remote.append(RemoteEndpoint(networkID: Self.a, address: NetnsTopology.overlay(host == 0 ? 125 : 126), host: underlay[1 - host]))
        let web = ServiceEntry(id: "web", name: "web", virtualIPs: [Self.a: Self.vip],
                               backends: ["a1", "a2"].map { ServiceBackend(taskID: $0, taskName: "web.\($0)", addresses: [Self.a: Self.addresses[$0]!],
                                                                            ready: ready.contains($0)) },
                               ports: [PublishedPort(published: 8080, target: 80),
                                       PublishedPort(published: 9090, target: 80, mode: .host),
                                       PublishedPort(published: 9191, target: 80, policy: .local)],
                               ingressNetworkID: Self.a)
        return NodeNetworkPlan(underlayAddress: underlay[host],
                               gateway: GatewayBridge(subnet: IPv4Subnet(NetnsTopology.overlay(192), prefixLength: 27), nodeAddress: NetnsTopology.overlay(193)),
                               networks: networks, tasks: tasks, services: [web], remoteEndpoints: remote)
    }

    func applyBoth(ready: Set<String> = ["a1", "a2"]) throws {
        try topology.apply(Self.plan(host: 0, ready: ready), host: 0)
        try topology.apply(Self.plan(host: 1, ready: ready), host: 1)
        for (task, host) in Self.placement {
            try topology.serve(task, namespace: topology.taskNamespace(host: host, task: task), port: 80)
        }
    }

    /// Requests until every expected answer was seen or `attempts` ran out (ARP over the overlay
    /// resolves on first use); returns the set of answers.
    func answers(from namespace: String, to address: IPv4Address, port: UInt16, attempts: Int = 30, expecting: Int) -> Set<String> {
        var seen = Set<String>()
        for _ in 0..<attempts where seen.count < expecting {
            if let answer = NetnsTopology.request(from: namespace, to: address, port: port) { seen.insert(answer) }
        }
        return seen
    }

    func testVIPReachesBackendsOnBothHostsKeepingTheClientAddress() throws {
        try applyBoth()
        let c1 = topology.taskNamespace(host: 0, task: "c1")
        XCTAssertEqual(answers(from: c1, to: Self.vip, port: 80, expecting: 2), ["a1 198.51.100.13", "a2 198.51.100.13"])
    }

    func testPublishedPortsAnswerOnEveryNodeByModeAndPolicy() throws {
        try applyBoth()
        let client = topology.clientNamespace, hosts = NetnsTopology.underlay
        for host in hosts {
            let mesh = answers(from: client, to: host, port: 8080, expecting: 2)
            XCTAssertEqual(mesh.map { String($0.prefix(2)) }.sorted(), ["a1", "a2"], "mesh on \(host): \(mesh)")
            XCTAssertFalse(mesh.contains { $0.hasSuffix(" 192.0.2.200") }, "the mesh replaces the client address: \(mesh)")
        }
        XCTAssertEqual(NetnsTopology.request(from: client, to: hosts[1], port: 9090), "a2 192.0.2.200", "host mode keeps the client address")
        XCTAssertEqual(NetnsTopology.request(from: client, to: hosts[0], port: 9191), "a1 192.0.2.200", "policy=local keeps it too")
        XCTAssertEqual(answers(from: client, to: hosts[0], port: 9191, expecting: 2), ["a1 192.0.2.200"], "and stays on the node")
    }

    func testNetworksCannotReachEachOther() throws {
        try applyBoth()
        let c1 = topology.taskNamespace(host: 0, task: "c1"), b1 = topology.taskNamespace(host: 1, task: "b1")
        XCTAssertEqual(answers(from: c1, to: Self.addresses["a2"]!, port: 80, expecting: 1), ["a2 198.51.100.13"], "same network across hosts")
        XCTAssertNil(NetnsTopology.request(from: b1, to: Self.addresses["a2"]!, port: 80, timeoutMillis: 500), "B to A on the same host")
        XCTAssertNil(NetnsTopology.request(from: b1, to: Self.vip, port: 80, timeoutMillis: 500), "B to A's VIP")
        XCTAssertNil(NetnsTopology.request(from: c1, to: Self.addresses["b1"]!, port: 80, timeoutMillis: 500), "A to B")
    }

    func testBackendThatIsNotReadyGetsNoTraffic() throws {
        try applyBoth(ready: ["a1"])
        let c1 = topology.taskNamespace(host: 0, task: "c1")
        XCTAssertEqual(answers(from: c1, to: Self.vip, port: 80, attempts: 10, expecting: 2), ["a1 198.51.100.13"])
        try topology.apply(Self.plan(host: 0, ready: ["a2"]), host: 0)
        XCTAssertEqual(answers(from: c1, to: Self.vip, port: 80, attempts: 10, expecting: 2), ["a2 198.51.100.13"])
    }

    /// A UDP "flow" (same source port) sticks to its backend through conntrack; when the backend
    /// leaves, the agent flushes its entries, so the next datagram goes to a backend still there.
    func testRemovedBackendsFlowsAreFlushed() throws {
        guard HostNetworkPlumbing.toolExists("conntrack") else { throw XCTSkip("needs conntrack: apt-get install -y conntrack") }
        try topology.applyKeepingController(Self.plan(host: 0, ready: ["a1"]), host: 0)
        try topology.apply(Self.plan(host: 1, ready: ["a1"]), host: 1)
        for (task, host) in Self.placement where task.hasPrefix("a") {
            try topology.serveUDP(task, namespace: topology.taskNamespace(host: host, task: task), port: 5353)
        }
        let c1 = NetworkNamespace.path(topology.taskNamespace(host: 0, task: "c1"))
        let client = try NetworkNamespace.perform(c1) { () -> Int32 in
            let descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
            var timeout = timeval(tv_sec: 0, tv_usec: 300_000)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            return descriptor
        }
        defer { close(client) }
        func ask() -> String? {
            for _ in 0..<10 {
                var target = sockaddr_in()
                target.sin_family = sa_family_t(AF_INET)
                target.sin_port = UInt16(5353).bigEndian
                target.sin_addr.s_addr = Self.vip.value.bigEndian
                _ = withUnsafePointer(to: &target) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(client, [1], 1, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
                var buffer = [UInt8](repeating: 0, count: 64)
                let count = recv(client, &buffer, buffer.count, 0)
                if count > 0 { return String(decoding: buffer[0..<count], as: UTF8.self) }
            }
            return nil
        }
        XCTAssertEqual(ask(), "a1")
        try topology.applyKeepingController(Self.plan(host: 0, ready: ["a2"]), host: 0)
        XCTAssertEqual(ask(), "a2", "the flow to a1 was flushed when a1 left")
    }

    func testDNSAnswersFrom127_0_0_11InsideATaskNamespace() throws {
        try applyBoth()
        let server = try DNSServer(upstreams: [])
        defer { server.stop() }
        let c1 = topology.taskNamespace(host: 0, task: "c1")
        try server.listen(id: "c1", namespacePath: NetworkNamespace.path(c1), view: DNSView.views(Self.plan(host: 0))["c1"]!)
        func ask(_ name: String) throws -> [[UInt8]] {
            let query = DNSMessage(id: 9, flags: DNSFlags(rawValue: 0x0100), questions: [DNSQuestion(name: DNSName.labels(name), type: DNSRecordType.a)]).serialize()
            let reply = try NetworkNamespace.perform(NetworkNamespace.path(c1)) { DNSTestClient.udp(query, port: 53, address: IPv4Address(127, 0, 0, 11)) }
            return try DNSMessage.parse(try XCTUnwrap(reply)).answers.map(\.data)
        }
        XCTAssertEqual(try ask("web"), [Self.vip.bytes])
        XCTAssertEqual(Set(try ask("tasks.web")), [Self.addresses["a1"]!.bytes, Self.addresses["a2"]!.bytes])
        let hostBind = try? IPv4Sockets.bind(Int32(SOCK_DGRAM.rawValue), IPv4Address(127, 0, 0, 11), 53)
        XCTAssertNotNil(hostBind, "127.0.0.11:53 is still free in the test's own namespace")
        if let (descriptor, _) = hostBind { close(descriptor) }
    }

    func testUnderlayRemovalByPrefixCatchesTaskNamespacesOfACrashedRun() throws {
        try applyBoth()
        XCTAssertEqual(topology.namespacesLeft().count, 4 + 4, "underlay, 2 hosts, client; 4 task namespaces")
        XCTAssertEqual(UnderlayNetwork.destroy(prefix: topology.base), [])
        XCTAssertEqual(topology.namespacesLeft(), [])
    }

    func testReapplyAfterRestartKeepsOneCopyOfEveryRule() throws {
        try applyBoth()
        let host = topology.hostNamespace(0)
        let before = try topology.run(["ip", "netns", "exec", host, "nft", "list", "table", "ip", topology.hostNames[0].prefix], [])
        try topology.apply(Self.plan(host: 0), host: 0)
        try topology.apply(Self.plan(host: 0), host: 0)
        let after = try topology.run(["ip", "netns", "exec", host, "nft", "list", "table", "ip", topology.hostNames[0].prefix], [])
        XCTAssertEqual(after.components(separatedBy: "dport 8080").count, 2, after)
        XCTAssertEqual(before.filter { !$0.isNumber }, after.filter { !$0.isNumber }, "the same table after two restarts (handles aside)")
        let c1 = topology.taskNamespace(host: 0, task: "c1")
        XCTAssertEqual(answers(from: c1, to: Self.vip, port: 80, expecting: 2).count, 2, "adopted namespaces still work")
    }
}
