import ClusterState
import Dispatcher
import XCTest

/// The service tables a node gets for its networks, built from the replicated state, and their
/// stream: a full set when a session starts, versioned whole-table changes after, holes detected.
final class NetworkTableTests: XCTestCase {
    private let t0 = Timestamp(millisecondsSinceEpoch: 1_764_000_000_000)

    private func node(_ id: String, _ address: String) -> Node {
        Node(id: id, version: ObjectVersion(index: 0), createdAt: t0, spec: NodeSpec(role: .worker),
             description: NodeDescription(hostname: id, platform: .init(architecture: "x86_64", os: "linux"),
                                          resources: .init(nanoCPUs: 1_000_000_000, memoryBytes: 1 << 30), engine: .init(engineVersion: "test")),
             status: NodeStatus(state: .ready, addr: address), managerStatus: nil)
    }

    /// n1 and n2; network "a"; service web (VIP, ingress port 8080, on a) with t1 on n1 running;
    /// service db on a (dnsrr) with t2 on n2; n3 has nothing.
    private func cluster() throws -> ClusterState {
        var state = ClusterState()
        var index: UInt64 = 0
        func apply(_ command: ClusterCommand) throws {
            index += 1
            try state.apply(command, index: index).get()
        }
        let cluster = Cluster(id: "c1", version: ObjectVersion(index: 0), createdAt: t0, spec: ClusterSpec(),
                              joinTokens: JoinTokens(worker: "W", manager: "M"))
        try apply(.initialize(cluster: cluster, firstNode: node("n1", "192.0.2.1"),
                              secrets: ClusterSecrets(workerSecret: "w", managerSecret: "m", members: [:])))
        try apply(.addNode(node: node("n2", "192.0.2.2"), transportID: 2))
        try apply(.addNode(node: node("n3", "192.0.2.3"), transportID: 3))
        try apply(.createNetwork(network: Network(id: "a", createdAt: t0, spec: NetworkSpec(name: "a"))))
        let template = TaskTemplate(containerSpec: ContainerSpec(image: "busybox"),
                                    networks: [NetworkAttachmentConfig(target: "a", aliases: ["www"])])
        try apply(.createService(service: Service(id: "s1", createdAt: t0, spec: ServiceSpec(
            name: "web", taskTemplate: template, endpointSpec: EndpointSpec(ports: [PortConfig(targetPort: 80, publishedPort: 8080)])))))
        var dbTemplate = template
        dbTemplate.networks = [NetworkAttachmentConfig(target: "a")]
        try apply(.createService(service: Service(id: "s2", createdAt: t0, spec: ServiceSpec(
            name: "db", taskTemplate: dbTemplate, endpointSpec: EndpointSpec(mode: "dnsrr")))))
        for (id, service, host, spec) in [("t1", "s1", "n1", template), ("t2", "s2", "n2", dbTemplate)] {
            try apply(.createTasks(tasks: [SwarmTask(id: id, createdAt: t0, serviceID: service, slot: 1, spec: spec,
                                                     status: TaskStatus(timestamp: t0, state: .new, message: ""))]))
            try apply(.assignTask(id: id, nodeID: host, at: t0))
        }
        try apply(.updateTaskStatus(id: "t1", status: TaskStatus(timestamp: t0, state: .running, message: "")))
        return state
    }

    func testANodeGetsIngressAndTheNetworksOfItsTasks() throws {
        let state = try cluster()
        let ingress = try XCTUnwrap(state.networking.ingressNetwork)
        XCTAssertEqual(NetworkTables.networks(ofNode: "n1", in: state), [ingress.id, "a"].sorted())
        XCTAssertEqual(NetworkTables.networks(ofNode: "n3", in: state), [ingress.id], "every node serves the routing mesh")

        let tables = NetworkTables.all(in: state)
        let a = try XCTUnwrap(tables["a"])
        XCTAssertEqual(a.vxlanID, 4097)
        XCTAssertEqual(a.subnet, "10.0.1.0/24")
        XCTAssertEqual(a.peers.map(\.nodeID), ["n1", "n2"])
        XCTAssertEqual(a.peers.map(\.underlayAddress), ["192.0.2.1", "192.0.2.2"])
        XCTAssertEqual(a.services.map(\.name), ["db", "web"])
        let web = a.services[1]
        XCTAssertEqual(web.vip, state.services["s1"]?.endpoint?.virtualIPs.first { $0.networkID == "a" }?.addr)
        XCTAssertEqual(web.aliases, ["www"])
        XCTAssertEqual(web.endpointMode, "vip")
        XCTAssertEqual(web.tasks.map(\.name), ["web.1.t1"])
        XCTAssertEqual(web.tasks.first?.state, .running)
        XCTAssertEqual(web.tasks.first?.address, state.tasks["t1"]?.networksAttachments?.first { $0.networkID == "a" }?.addresses.first)
        XCTAssertTrue(web.ports.isEmpty, "ingress ports are in the ingress table")
        XCTAssertNil(a.services[0].vip, "dnsrr")
        let mesh = try XCTUnwrap(tables[ingress.id])
        XCTAssertEqual(mesh.services.map(\.name), ["web"])
        XCTAssertEqual(mesh.services.first?.ports.map(\.publishedPort), [8080])
        XCTAssertEqual(mesh.peers.map(\.nodeID), ["n1", "n2", "n3"])
    }

    func testTheStreamSendsTheFullSetThenChangedTablesAndDetectsHoles() throws {
        var state = try cluster()
        var dispatcher = NetworkTableDispatcher(term: 2, inFlightMillis: 1_000)
        var receiver = NetworkTableReceiver()
        func tables() -> [NetworkTable] { NetworkTables.tables(forNode: "n2", in: state) }
        let first = try XCTUnwrap(dispatcher.heartbeat(node: "n2", link: 1, ack: receiver.ack, items: tables(), extra: [], now: t0))
        XCTAssertEqual(first.kind, .full)
        XCTAssertEqual(receiver.receive(first), .applied)
        XCTAssertEqual(receiver.sortedTables, tables())
        XCTAssertNil(dispatcher.changes("n2", items: tables(), extra: [], now: t0), "nothing changed")

        // t1 stops: it leaves web on both networks it had an address on.
        try state.apply(.updateTaskStatus(id: "t1", status: TaskStatus(timestamp: t0, state: .shutdown, message: "")), index: state.appliedIndex + 1).get()
        let change = try XCTUnwrap(dispatcher.changes("n2", items: tables(), extra: [], now: t0))
        XCTAssertEqual(change.kind, .incremental)
        XCTAssertEqual(Set(change.tables.map(\.networkID)), Set(tables().map(\.networkID)))
        XCTAssertTrue(change.tables.allSatisfy { table in table.services.allSatisfy { $0.tasks.allSatisfy { $0.taskID != "t1" } } })

        // Lost on the way; the next change shows a hole and the node asks for the full set.
        try state.apply(.removeService(id: "s1", at: t0), index: state.appliedIndex + 1).get()
        let later = try XCTUnwrap(dispatcher.changes("n2", items: tables(), extra: [], now: t0))
        XCTAssertEqual(receiver.receive(later), .needsFullSet)
        XCTAssertTrue(receiver.ack.needsFullSet)
        let repair = try XCTUnwrap(dispatcher.heartbeat(node: "n2", link: 1, ack: receiver.ack, items: tables(), extra: [], now: t0))
        XCTAssertEqual(repair.kind, .full)
        XCTAssertEqual(receiver.receive(repair), .applied)
        XCTAssertEqual(receiver.sortedTables, tables())
        XCTAssertEqual(receiver.sortedTables.first { $0.networkID == "a" }?.services.map(\.name), ["db"])
        XCTAssertEqual(dispatcher.resyncs, 1)
    }

    func testHostPortsOfLocalTasksTravelWithTheTables() throws {
        var state = try cluster()
        var spec = state.services["s2"]!.spec
        spec.endpointSpec = EndpointSpec(mode: "dnsrr", ports: [PortConfig(protocol: "udp", targetPort: 53, publishedPort: 5353, publishMode: "host")])
        try state.apply(.updateService(id: "s2", version: state.services["s2"]!.version, spec: spec, at: t0), index: state.appliedIndex + 1).get()
        XCTAssertEqual(HostPortBinding.forNode("n2", in: state).map(\.taskID), ["t2"])
        XCTAssertEqual(HostPortBinding.forNode("n2", in: state).first?.ports.map(\.publishedPort), [5353])
        XCTAssertTrue(HostPortBinding.forNode("n1", in: state).isEmpty)
        var dispatcher = NetworkTableDispatcher(term: 1, inFlightMillis: 1_000)
        var receiver = NetworkTableReceiver()
        let full = try XCTUnwrap(dispatcher.heartbeat(node: "n2", link: 1, ack: receiver.ack, items: [], extra: [], now: t0))
        XCTAssertEqual(receiver.receive(full), .applied)
        let ports = try XCTUnwrap(dispatcher.changes("n2", items: [], extra: HostPortBinding.forNode("n2", in: state), now: t0))
        XCTAssertEqual(receiver.receive(ports), .applied)
        XCTAssertEqual(receiver.hostPorts, HostPortBinding.forNode("n2", in: state))
    }
}
