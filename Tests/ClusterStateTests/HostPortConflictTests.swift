import XCTest
@testable import ClusterState

/// Other services' host-mode ports are looked up (a walk over every service) only for a spec
/// that publishes ingress ports (issue 15: the walk ran for every create); the checks they serve
/// still hold, and the service named in a conflict is the same on every manager.
final class HostPortConflictTests: XCTestCase {
    private let t0 = Timestamp(millisecondsSinceEpoch: 1_764_000_000_000)

    private func initialized() -> ClusterState {
        var state = ClusterState()
        let node = Node(id: "n1", version: ObjectVersion(index: 0), createdAt: t0, spec: NodeSpec(role: .manager),
                        description: NodeDescription(hostname: "h", platform: .init(architecture: "x86_64", os: "linux"),
                                                     resources: .init(nanoCPUs: 1_000_000_000, memoryBytes: 1 << 30), engine: .init(engineVersion: "t")),
                        status: NodeStatus(state: .ready, addr: "192.0.2.1"), managerStatus: nil)
        let cluster = Cluster(id: "c1", version: ObjectVersion(index: 0), createdAt: t0, spec: ClusterSpec(),
                              joinTokens: JoinTokens(worker: "W", manager: "M"))
        let secrets = ClusterSecrets(workerSecret: "ws", managerSecret: "ms", members: ["1": ClusterMember(nodeID: "n1")])
        XCTAssertNoThrow(try state.apply(.initialize(cluster: cluster, firstNode: node, secrets: secrets), index: 1).get())
        return state
    }

    private func create(_ state: inout ClusterState, _ id: String, _ name: String, ports: [PortConfig]?) -> Result<Void, ClusterError> {
        let spec = ServiceSpec(name: name, taskTemplate: TaskTemplate(containerSpec: ContainerSpec(image: "busybox:1")),
                               endpointSpec: ports.map { EndpointSpec(ports: $0) })
        return state.apply(.createService(service: Service(id: id, createdAt: t0, spec: spec)), index: state.appliedIndex + 1)
    }

    private func host(_ port: UInt32) -> PortConfig { PortConfig(targetPort: 80, publishedPort: port, publishMode: "host") }

    func testAnIngressPortTakenAsAHostPortIsRefusedNamingTheSameServiceOnEveryManager() throws {
        var state = initialized()
        // Host-mode ports may be shared by services (the scheduler keeps their tasks apart).
        for id in ["s3", "s1", "s5"] { XCTAssertNoThrow(try create(&state, id, "web-\(id)", ports: [host(8080)]).get()) }
        XCTAssertNoThrow(try create(&state, "p1", "plain", ports: nil).get(), "a service without ports is not checked against them")

        guard case let .failure(error) = create(&state, "s2", "api", ports: [PortConfig(targetPort: 80, publishedPort: 8080)]) else {
            return XCTFail("an ingress port taken as a host-mode port was accepted")
        }
        XCTAssertEqual(error.description, "port '8080' is already in use by service 'web-s5' (s5) as a host-mode port: publish another port")
        XCTAssertNil(state.services["s2"])
    }

    func testADynamicIngressPortSkipsHostModePorts() throws {
        var state = initialized()
        XCTAssertNoThrow(try create(&state, "h1", "host", ports: [host(30000)]).get())
        XCTAssertNoThrow(try create(&state, "i1", "ingress", ports: [PortConfig(targetPort: 80)]).get())
        XCTAssertEqual(state.services["i1"]?.endpoint?.ports.map(\.publishedPort), [30001])
    }
}
