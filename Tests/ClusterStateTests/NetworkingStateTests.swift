import Foundation
import XCTest
@testable import ClusterState

/// Networks and their allocations in the apply: subnets, VXLAN ids, addresses (next-fit, no quick
/// reuse, a clear error when a pool is full), ingress ports (cluster-wide, conflicts named),
/// determinism across replicas and snapshots.
final class NetworkingStateTests: XCTestCase {
    private let t0 = Timestamp(millisecondsSinceEpoch: 1_764_000_000_000)

    private func node(_ id: String) -> Node {
        Node(id: id, version: ObjectVersion(index: 0), createdAt: t0, spec: NodeSpec(role: .worker),
             description: NodeDescription(hostname: "host-\(id)", platform: .init(architecture: "x86_64", os: "linux"),
                                          resources: .init(nanoCPUs: 2_000_000_000, memoryBytes: 1 << 30), engine: .init(engineVersion: "test")),
             status: NodeStatus(state: .ready, addr: "192.0.2.\(id.count)"), managerStatus: nil)
    }

    private func initialized(nodes: Int = 1) -> ClusterState {
        var state = ClusterState()
        let cluster = Cluster(id: "c1", version: ObjectVersion(index: 0), createdAt: t0, spec: ClusterSpec(),
                              joinTokens: JoinTokens(worker: "W", manager: "M"))
        let secrets = ClusterSecrets(workerSecret: "ws", managerSecret: "ms", members: ["1": ClusterMember(nodeID: "n1")])
        XCTAssertNoThrow(try state.apply(.initialize(cluster: cluster, firstNode: node("n1"), secrets: secrets), index: 1).get())
        for number in stride(from: 2, through: nodes, by: 1) {
            XCTAssertNoThrow(try apply(&state, .addNode(node: node("n\(number)"), transportID: UInt64(number))).get())
        }
        return state
    }

    @discardableResult
    private func apply(_ state: inout ClusterState, _ command: ClusterCommand) -> Result<Void, ClusterError> {
        state.apply(command, index: state.appliedIndex + 1)
    }

    private func spec(_ name: String, networks: [String] = [], ports: [PortConfig]? = nil, mode: String? = nil) -> ServiceSpec {
        ServiceSpec(name: name,
                    taskTemplate: TaskTemplate(containerSpec: ContainerSpec(image: "busybox:1"),
                                               networks: networks.isEmpty ? nil : networks.map { NetworkAttachmentConfig(target: $0) }),
                    endpointSpec: ports == nil && mode == nil ? nil : EndpointSpec(mode: mode, ports: ports))
    }

    private func createNetwork(_ state: inout ClusterState, _ id: String, subnet: String? = nil) -> Result<Void, ClusterError> {
        apply(&state, .createNetwork(network: Network(id: id, createdAt: t0,
                                                      spec: NetworkSpec(name: id, ipam: subnet.map { [IPAMConfig(subnet: $0)] } ?? []))))
    }

    private func createService(_ state: inout ClusterState, _ id: String, _ spec: ServiceSpec) -> Result<Void, ClusterError> {
        apply(&state, .createService(service: Service(id: id, createdAt: t0, spec: spec)))
    }

    private func createTask(_ state: inout ClusterState, _ id: String, service: String, node: String? = nil) {
        let template = state.services[service]!.spec.taskTemplate
        XCTAssertNoThrow(try apply(&state, .createTasks(tasks: [SwarmTask(id: id, createdAt: t0, serviceID: service, slot: 1, nodeID: node,
                                                                         spec: template, status: TaskStatus(timestamp: t0, state: .new, message: "")) ])).get())
    }

    private func address(_ state: ClusterState, task: String, network: String) -> String? {
        state.tasks[task]?.networksAttachments?.first { $0.networkID == network }?.addresses.first
    }

    private func failure(_ result: Result<Void, ClusterError>) -> String {
        if case let .failure(error) = result { return error.description }
        return "succeeded"
    }

    func testInitCreatesTheIngressNetworkWithAnAddressForEveryNode() throws {
        let state = initialized(nodes: 3)
        let ingress = try XCTUnwrap(state.networking.ingressNetwork)
        XCTAssertEqual(ingress.id, ClusterNetworking.ingressID(clusterID: "c1"))
        XCTAssertEqual(ingress.spec.name, "ingress")
        XCTAssertEqual(ingress.subnet.description, "10.0.0.0/24")
        XCTAssertEqual(ingress.gateway.description, "10.0.0.1")
        XCTAssertEqual(ingress.vxlanID, 4096)
        XCTAssertEqual(["n1", "n2", "n3"].map { state.networking.nodeAddresses[$0]?[ingress.id]?.description },
                       ["10.0.0.2", "10.0.0.3", "10.0.0.4"])
    }

    func testNetworksGetTheNextFreeSubnetAndVXLANIdAndOverlapsAreRefused() throws {
        var state = initialized()
        XCTAssertNoThrow(try createNetwork(&state, "a").get())
        XCTAssertNoThrow(try createNetwork(&state, "b", subnet: "10.0.2.0/24").get())
        XCTAssertNoThrow(try createNetwork(&state, "c").get())
        XCTAssertEqual(state.networking.networks["a"]?.subnet.description, "10.0.1.0/24")
        XCTAssertEqual(state.networking.networks["c"]?.subnet.description, "10.0.3.0/24", "the pool skips the subnet b was given")
        XCTAssertEqual(["a", "b", "c"].map { state.networking.networks[$0]?.vxlanID }, [4097, 4098, 4099])
        XCTAssertEqual(failure(createNetwork(&state, "d", subnet: "10.0.3.128/25")),
                       "subnet 10.0.3.128/25 overlaps 10.0.3.0/24 of network c: choose another subnet")
        XCTAssertEqual(failure(apply(&state, .createNetwork(network: Network(id: "a2", createdAt: t0, spec: NetworkSpec(name: "a"))))),
                       "network with name a already exists")
        var bridge = NetworkSpec(name: "br")
        bridge.driver = "bridge"
        XCTAssertEqual(failure(apply(&state, .createNetwork(network: Network(id: "br", createdAt: t0, spec: bridge)))),
                       "network driver bridge is not available: only overlay networks exist in this cluster (-d overlay)")
        XCTAssertEqual(failure(createNetwork(&state, "e", subnet: "10.9.0.5/24")),
                       "invalid subnet 10.9.0.5/24: give an IPv4 subnet in CIDR form without host bits, such as 10.1.2.0/24")
        XCTAssertNil(state.networking.networks["d"])
    }

    func testAddressesAreNextFitWithoutQuickReuseAndExhaustionIsAClearError() throws {
        var state = initialized()
        // A /29 has 5 usable addresses besides the gateway: n1's attachment, the VIP and 3 tasks.
        XCTAssertNoThrow(try createNetwork(&state, "small", subnet: "192.0.2.0/29").get())
        XCTAssertNoThrow(try createService(&state, "s1", spec("web", networks: ["small"])).get())
        XCTAssertEqual(state.services["s1"]?.endpoint?.virtualIPs, [VirtualIP(networkID: "small", addr: "192.0.2.2/29")])
        createTask(&state, "t1", service: "s1", node: "n1")
        createTask(&state, "t2", service: "s1")
        createTask(&state, "t3", service: "s1")
        XCTAssertEqual(["t1", "t2", "t3"].map { address(state, task: $0, network: "small") }, ["192.0.2.3/29", "192.0.2.5/29", "192.0.2.6/29"],
                       "n1 took .4 when t1 landed on it")
        createTask(&state, "t4", service: "s1")
        let full = try XCTUnwrap(state.tasks["t4"])
        XCTAssertEqual(full.status.state, .failed)
        XCTAssertEqual(full.status.err, "network small has no free address left in 192.0.2.0/29 (5 in use): remove services or tasks "
                       + "from it, or use a network with a larger subnet")
        XCTAssertNil(full.networksAttachments)

        // t2 stops: its address is free, but the next task gets the one after the last handed out.
        XCTAssertNoThrow(try apply(&state, .updateTaskStatus(id: "t2", status: TaskStatus(timestamp: t0, state: .failed, message: "exit 1"))).get())
        XCTAssertNil(state.networking.pools["small"]?.owners["task:t2"])
        createTask(&state, "t5", service: "s1")
        XCTAssertEqual(address(state, task: "t5", network: "small"), "192.0.2.5/29", "only .5 is free: the cursor wrapped around to it")
        XCTAssertNoThrow(try apply(&state, .removeTasks(ids: ["t3"])).get())
        XCTAssertNoThrow(try apply(&state, .updateTaskStatus(id: "t1", status: TaskStatus(timestamp: t0, state: .complete, message: ""))).get())
        createTask(&state, "t6", service: "s1")
        XCTAssertEqual(address(state, task: "t6", network: "small"), "192.0.2.6/29", "t3's address, after .5, comes before t1's .3")
    }

    func testIngressPortsAreClusterWideWithDynamicPortsKeptAcrossUpdates() throws {
        var state = initialized()
        XCTAssertNoThrow(try createService(&state, "s1", spec("web", ports: [PortConfig(targetPort: 80, publishedPort: 8080),
                                                                             PortConfig(targetPort: 443)])).get())
        let ports = state.services["s1"]?.endpoint?.ports ?? []
        XCTAssertEqual(ports.map(\.publishedPort), [8080, 30000])
        XCTAssertEqual(ports.map(\.publishMode), ["ingress", "ingress"])
        XCTAssertEqual(state.services["s1"]?.endpoint?.virtualIPs.map(\.networkID), [state.networking.ingressNetwork!.id])

        XCTAssertEqual(failure(createService(&state, "s2", spec("api", ports: [PortConfig(targetPort: 80, publishedPort: 8080)]))),
                       "port '8080' is already in use by service 'web' (s1) as an ingress port: publish another port")
        XCTAssertEqual(failure(createService(&state, "s2", spec("api", ports: [PortConfig(protocol: "tcp", targetPort: 80, publishedPort: 8080,
                                                                                          publishMode: "host")]))),
                       "port '8080' is already in use by service 'web' (s1) as an ingress port: publish another port")
        XCTAssertNil(state.services["s2"], "a refused create changes nothing")
        XCTAssertNoThrow(try createService(&state, "s2", spec("api", ports: [PortConfig(protocol: "udp", targetPort: 53, publishedPort: 8080)])).get(),
                         "udp 8080 is another port")

        // An update that keeps 443 without a number keeps its dynamic port; 8080 is released.
        var updated = state.services["s1"]!.spec
        updated.endpointSpec?.ports = [PortConfig(targetPort: 443), PortConfig(targetPort: 8443)]
        XCTAssertNoThrow(try apply(&state, .updateService(id: "s1", version: state.services["s1"]!.version, spec: updated, at: t0)).get())
        XCTAssertEqual(state.services["s1"]?.endpoint?.ports.map(\.publishedPort), [30000, 30001])
        XCTAssertNil(state.networking.ingressPorts["tcp/8080"])
        XCTAssertNoThrow(try createService(&state, "s3", spec("db", ports: [PortConfig(targetPort: 5432, publishedPort: 8080)])).get())
        XCTAssertNoThrow(try apply(&state, .removeService(id: "s1", at: t0)).get())
        XCTAssertEqual(state.networking.ingressPorts.keys.sorted(), ["tcp/8080", "udp/8080"])
        XCTAssertNil(state.networking.pools[state.networking.ingressNetwork!.id]?.owners["vip:s1"], "the VIP is freed with the service")
    }

    func testEndpointSpecChecks() {
        var state = initialized()
        XCTAssertEqual(failure(createService(&state, "s1", spec("web", ports: [PortConfig(targetPort: 80)], mode: "dnsrr"))),
                       "port published with ingress mode can't be used with dnsrr mode: publish it in host mode or use --endpoint-mode vip")
        XCTAssertEqual(failure(createService(&state, "s1", spec("web", ports: [PortConfig(targetPort: 80, publishMode: "host")]))),
                       "host-mode port 80/tcp needs a published port: give published=N (this cluster does not pick host ports)")
        XCTAssertEqual(failure(createService(&state, "s1", spec("web", networks: ["nope"]))), "network nope not found")
        XCTAssertEqual(failure(createService(&state, "s1", spec("web", networks: [state.networking.ingressNetwork!.id]))),
                       "service cannot be explicitly attached to the ingress network \"ingress\": publish a port (--publish) to use the routing mesh")
        XCTAssertNoThrow(try createService(&state, "s1", spec("web", ports: [PortConfig(targetPort: 53, publishedPort: 53, publishMode: "host")],
                                                             mode: "dnsrr")).get())
        XCTAssertEqual(state.services["s1"]?.endpoint?.virtualIPs, [], "dnsrr services have no VIP")
    }

    func testPublishingAnIngressPortGivesLiveTasksIngressAddressesInPlace() throws {
        var state = initialized()
        XCTAssertNoThrow(try createNetwork(&state, "a").get())
        XCTAssertNoThrow(try createService(&state, "s1", spec("web", networks: ["a"])).get())
        createTask(&state, "t1", service: "s1", node: "n1")
        let ingress = state.networking.ingressNetwork!.id
        XCTAssertEqual(state.tasks["t1"]?.networksAttachments?.map(\.networkID), ["a"])
        var published = state.services["s1"]!.spec
        published.endpointSpec = EndpointSpec(ports: [PortConfig(targetPort: 80, publishedPort: 8080)])
        XCTAssertNoThrow(try apply(&state, .updateService(id: "s1", version: state.services["s1"]!.version, spec: published, at: t0)).get())
        XCTAssertEqual(state.tasks["t1"]?.networksAttachments?.map(\.networkID), [ingress, "a"])
        XCTAssertNil(state.services["s1"]?.updateStatus, "publishing a port is no rolling update")
        published.endpointSpec = nil
        XCTAssertNoThrow(try apply(&state, .updateService(id: "s1", version: state.services["s1"]!.version, spec: published, at: t0)).get())
        XCTAssertEqual(state.tasks["t1"]?.networksAttachments?.map(\.networkID), ["a"])
        XCTAssertNil(state.networking.pools[ingress]?.owners["task:t1"])
    }

    /// A host-mode port without a network of its own: the tasks join ingress, so each gets its
    /// own namespace behind the node's gateway bridge (two such tasks on one node no longer
    /// collide on the target port, and the published port is mapped); with a network they don't.
    func testHostModePortsWithoutANetworkJoinIngressAndWithANetworkDoNot() throws {
        var state = initialized()
        let ingress = state.networking.ingressNetwork!.id
        let host = [PortConfig(targetPort: 80, publishedPort: 8081, publishMode: "host")]
        XCTAssertNoThrow(try createService(&state, "s1", spec("echo", ports: host)).get())
        createTask(&state, "t1", service: "s1", node: "n1")
        XCTAssertEqual(state.tasks["t1"]?.networksAttachments?.map(\.networkID), [ingress])
        XCTAssertEqual(state.users(ofNetwork: ingress).services, ["echo"])
        XCTAssertEqual(state.services["s1"]?.endpoint?.virtualIPs, [], "no ingress VIP for host-mode ports alone (as dockerd)")
        XCTAssertNoThrow(try createNetwork(&state, "a").get())
        var attached = state.services["s1"]!.spec
        attached.taskTemplate.networks = [NetworkAttachmentConfig(target: "a")]
        XCTAssertNoThrow(try apply(&state, .updateService(id: "s1", version: state.services["s1"]!.version, spec: attached, at: t0)).get())
        XCTAssertFalse(state.tasks["t1"]?.networksAttachments?.contains { $0.networkID == ingress } ?? true,
                       "with a network of its own the task leaves ingress")
        XCTAssertEqual(state.users(ofNetwork: ingress).services, [])
        XCTAssertNoThrow(try createService(&state, "s2", spec("web", networks: ["a"], ports: [PortConfig(targetPort: 80, publishedPort: 8082, publishMode: "host")])).get())
        createTask(&state, "t2", service: "s2", node: "n1")
        XCTAssertEqual(state.tasks["t2"]?.networksAttachments?.map(\.networkID), ["a"])
    }

    func testNetworkRemovalIsRefusedWhileInUseNamingTheUsers() throws {
        var state = initialized()
        XCTAssertNoThrow(try createNetwork(&state, "a").get())
        XCTAssertNoThrow(try createService(&state, "s1", spec("web", networks: ["a"])).get())
        createTask(&state, "t1", service: "s1", node: "n1")
        XCTAssertNoThrow(try apply(&state, .updateTaskStatus(id: "t1", status: TaskStatus(timestamp: t0, state: .running, message: ""))).get())
        XCTAssertEqual(failure(apply(&state, .removeNetwork(id: "a", at: t0))),
                       "network a is in use by service web: remove the service or detach it (docker service update --network-rm a)")
        // Detached, the service no longer uses it, but its task still wanted running does.
        var detached = state.services["s1"]!.spec
        detached.taskTemplate.networks = nil
        XCTAssertNoThrow(try apply(&state, .updateService(id: "s1", version: state.services["s1"]!.version, spec: detached, at: t0)).get())
        XCTAssertEqual(failure(apply(&state, .removeNetwork(id: "a", at: t0))),
                       "network a is in use by task t1: wait until the rolling update has replaced them")
        // Told to stop, it no longer counts (as in swarmkit, so `stack rm` removes the networks at
        // once); it keeps its attachment record while it stops.
        XCTAssertNoThrow(try apply(&state, .setTaskDesiredState(id: "t1", state: .shutdown, at: t0)).get())
        XCTAssertNoThrow(try apply(&state, .removeNetwork(id: "a", at: t0)).get())
        XCTAssertNil(state.networking.networks["a"])
        XCTAssertNil(state.networking.pools["a"])
        XCTAssertEqual(state.tasks["t1"]?.networksAttachments?.map(\.networkID), ["a"])
        XCTAssertNil(state.networking.nodeAddresses["n1"]?["a"], "n1's attachment went with the network")
        XCTAssertEqual(failure(apply(&state, .removeNetwork(id: "a", at: t0))), "network a not found")
    }

    /// Two replicas applying the same log, and one restored from a snapshot midway, hold the
    /// same networking state (the allocator state is in the snapshot, cursors included).
    func testAllocationIsDeterministicAcrossReplicasAndSnapshots() throws {
        var commands: [ClusterCommand] = [.createNetwork(network: Network(id: "a", createdAt: t0, spec: NetworkSpec(name: "a")))]
        for number in 1...6 {
            commands.append(.createService(service: Service(id: "s\(number)", createdAt: t0,
                                                            spec: spec("svc\(number)", networks: ["a"], ports: [PortConfig(targetPort: 80)]))))
            commands.append(.createTasks(tasks: [SwarmTask(id: "t\(number)", createdAt: t0, serviceID: "s\(number)", slot: 1, nodeID: "n1",
                                                           spec: spec("x", networks: ["a"]).taskTemplate,
                                                           status: TaskStatus(timestamp: t0, state: .new, message: ""))]))
            if number % 2 == 0 { commands.append(.removeTasks(ids: ["t\(number - 1)"])) }
        }
        var first = initialized(nodes: 2)
        var second = initialized(nodes: 2)
        var restored: ClusterState?
        for (position, command) in commands.enumerated() {
            XCTAssertNoThrow(try apply(&first, command).get())
            apply(&second, command)
            if restored != nil { restored!.apply(command, index: first.appliedIndex) }
            if position == 5 { restored = try CommandCodec.decodeState(CommandCodec.encodeState(first)) }
        }
        XCTAssertEqual(first, second)
        XCTAssertEqual(first, restored)
        XCTAssertEqual(first.networking.ingressPorts.count, 6)
    }

    /// A snapshot from before networks decodes with the ingress network every cluster now has,
    /// and its nodes get the addresses a replay of the log from the start gives them (join
    /// order, not id order), so managers restoring either way agree.
    func testAStateFromBeforeNetworksGetsTheIngressNetworkAReplayWouldGive() throws {
        var replayed = initialized()
        for (number, id) in ["n3", "n2"].enumerated() {
            var joining = node(id)
            joining.createdAt = Timestamp(millisecondsSinceEpoch: t0.millisecondsSinceEpoch + UInt64(number + 1) * 1_000)
            XCTAssertNoThrow(try apply(&replayed, .addNode(node: joining, transportID: UInt64(number + 2))).get())
        }
        var document = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(replayed)) as? [String: Any])
        XCTAssertNotNil(document.removeValue(forKey: "networking"))
        let restored = try JSONDecoder().decode(ClusterState.self, from: JSONSerialization.data(withJSONObject: document))
        XCTAssertEqual(restored.networking, replayed.networking)
        let ingress = try XCTUnwrap(restored.networking.ingressNetwork?.id)
        XCTAssertEqual(["n1", "n3", "n2"].map { restored.networking.nodeAddresses[$0]?[ingress]?.description }, ["10.0.0.2", "10.0.0.3", "10.0.0.4"])
    }
}
