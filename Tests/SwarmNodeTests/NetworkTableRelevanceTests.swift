import ClusterState
import Dispatcher
import XCTest

@testable import SwarmNode

/// The leader rebuilds network tables only after commands `NetworkTableRelevance` says may change
/// one (issue 15: rebuilding them after every write walked every service). Checked against the
/// tables themselves: whenever a command is said not to matter, the tables before and after it
/// are equal; and a plain service create (the common write) is said not to matter.
final class NetworkTableRelevanceTests: XCTestCase {
    private let t0 = Timestamp(millisecondsSinceEpoch: 1_764_000_000_000)

    private func node(_ id: String, addr: String) -> Node {
        Node(id: id, version: ObjectVersion(index: 0), createdAt: t0, spec: NodeSpec(role: .worker),
             description: NodeDescription(hostname: "host-\(id)", platform: .init(architecture: "x86_64", os: "linux"),
                                          resources: .init(nanoCPUs: 2_000_000_000, memoryBytes: 1 << 30), engine: .init(engineVersion: "test")),
             status: NodeStatus(state: .ready, addr: addr), managerStatus: nil)
    }

    private func spec(_ name: String, networks: [String] = [], ports: [PortConfig]? = nil) -> ServiceSpec {
        ServiceSpec(name: name,
                    taskTemplate: TaskTemplate(containerSpec: ContainerSpec(image: "busybox:1"),
                                               networks: networks.isEmpty ? nil : networks.map { NetworkAttachmentConfig(target: $0, aliases: ["\(name)-alias"]) }),
                    mode: .replicated(replicas: 0), endpointSpec: ports.map { EndpointSpec(ports: $0) })
    }

    private func task(_ id: String, service: String, node: String, in state: ClusterState) -> SwarmTask {
        SwarmTask(id: id, createdAt: t0, serviceID: service, slot: 1, nodeID: node, spec: state.services[service]!.spec.taskTemplate,
                  status: TaskStatus(timestamp: t0, state: .new, message: ""))
    }

    private func payload(_ id: String, _ name: String) -> PayloadObject {
        PayloadObject(id: id, createdAt: t0, spec: PayloadSpec(name: name, labels: [:], data: Array("x".utf8)))
    }

    /// Applies each command; for each one said not to change the tables, they must be unchanged.
    /// Returns what `mayChange` said for each, in order.
    @discardableResult
    private func check(_ state: inout ClusterState, _ commands: [ClusterCommand], file: StaticString = #filePath, line: UInt = #line) -> [Bool] {
        commands.map { (command: ClusterCommand) -> Bool in
            let before = NetworkTables.all(in: state)
            let result = state.apply(command, index: state.appliedIndex + 1)
            let mayChange = NetworkTableRelevance.mayChange(command, appliedTo: state)
            if !mayChange {
                XCTAssertEqual(NetworkTables.all(in: state), before, "\(command) (\(result)) changed a table but was said not to",
                               file: file, line: line)
            }
            return mayChange
        }
    }

    func testCommandsSaidNotToMatterLeaveEveryTableAsItWas() throws {
        var state = ClusterState()
        let cluster = Cluster(id: "c1", version: ObjectVersion(index: 0), createdAt: t0, spec: ClusterSpec(),
                              joinTokens: JoinTokens(worker: "W", manager: "M"))
        let secrets = ClusterSecrets(workerSecret: "ws", managerSecret: "ms", members: ["1": ClusterMember(nodeID: "n1")])
        check(&state, [.initialize(cluster: cluster, firstNode: node("n1", addr: "192.0.2.1"), secrets: secrets),
                       .addNode(node: node("n2", addr: "192.0.2.2"), transportID: 2),
                       .createNetwork(network: Network(id: "net1", createdAt: t0, spec: NetworkSpec(name: "back")))])

        // The benchmark's write: a service without networks or ports enters no table.
        XCTAssertEqual(check(&state, [.createService(service: Service(id: "plain", createdAt: t0, spec: spec("plain")))]), [false])
        XCTAssertNotNil(state.services["plain"])
        // A refused create (the name is taken) changes nothing.
        XCTAssertEqual(check(&state, [.createService(service: Service(id: "dup", createdAt: t0, spec: spec("plain")))]), [false])

        // Services with a VIP on a network, or published ports, do enter tables.
        let said = check(&state, [
            .createService(service: Service(id: "web", createdAt: t0, spec: spec("web", networks: ["net1"]))),
            .createService(service: Service(id: "pub", createdAt: t0, spec: spec("pub", ports: [PortConfig(targetPort: 80)]))),
        ])
        XCTAssertEqual(said, [true, true])
        XCTAssertNotEqual(state.services["web"]?.endpoint?.virtualIPs ?? [], [])

        // Tasks with addresses, their states, and everything else that touches services, tasks,
        // networks or nodes; and the commands that touch none of those.
        let web = state.services["web"]!
        var renamed = web.spec
        renamed.taskTemplate.networks = [NetworkAttachmentConfig(target: "net1", aliases: ["other"])]
        check(&state, [
            .createTasks(tasks: [task("t1", service: "web", node: "n2", in: state), task("t2", service: "plain", node: "n1", in: state)]),
            .updateTaskStatus(id: "t1", status: TaskStatus(timestamp: t0, state: .running, message: "started")),
            .updateService(id: "web", version: web.version, spec: renamed, at: t0),
            .createPayload(kind: .secret, object: payload("sec1", "pw")),
            .createPayload(kind: .config, object: payload("cfg1", "conf")),
            .updatePayloadLabels(kind: .secret, id: "sec1", version: ObjectVersion(index: state.appliedIndex + 4), labels: ["a": "b"], at: t0),
            .removePayload(kind: .config, id: "cfg1", at: t0),
            .rotateJoinToken(role: .worker, secret: "ws2", token: "W2", at: t0),
            .setNodeStatus(id: "n2", state: .ready, message: nil, at: t0),
            .setTaskDesiredState(id: "t1", state: .shutdown, at: t0),
            .removeService(id: "pub", at: t0),
        ])
    }
}
