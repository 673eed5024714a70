import ClusterState
import Dispatcher
import Foundation
import XCTest

/// Large network table messages (issue 16): how big a table gets, and a message over the part
/// budget split into parts that each fit, cut between peers, services and tasks, and joined back
/// by `NetworkTableAssembler` into exactly the message that was split, whatever the order the
/// parts arrive in; a lost part hands out nothing, stale parts are dropped.
final class NetworkTablePartsTests: XCTestCase {
    private let t0 = Timestamp(millisecondsSinceEpoch: 1_764_000_000_000)

    private func encodedSize(_ message: NetworkTableMessage) -> Int { (try? JSONEncoder().encode(message).count) ?? .max }

    /// One node and `tasks` running tasks of one service on network "big" (a /16).
    private func bigNetwork(tasks: Int) throws -> ClusterState {
        var state = ClusterState()
        var index: UInt64 = 0
        func apply(_ command: ClusterCommand) throws {
            index += 1
            try state.apply(command, index: index).get()
        }
        let node = Node(id: "node-0123456789abcdefghijklm", version: ObjectVersion(index: 0), createdAt: t0, spec: NodeSpec(role: .manager),
                        description: NodeDescription(hostname: "n1", platform: .init(architecture: "x86_64", os: "linux"),
                                                     resources: .init(nanoCPUs: 1_000_000_000, memoryBytes: 1 << 30), engine: .init(engineVersion: "t")),
                        status: NodeStatus(state: .ready, addr: "192.0.2.1"), managerStatus: nil)
        let cluster = Cluster(id: "c1", version: ObjectVersion(index: 0), createdAt: t0, spec: ClusterSpec(), joinTokens: JoinTokens(worker: "W", manager: "M"))
        try apply(.initialize(cluster: cluster, firstNode: node, secrets: ClusterSecrets(workerSecret: "w", managerSecret: "m", members: [:])))
        try apply(.createNetwork(network: Network(id: "big", createdAt: t0, spec: NetworkSpec(name: "big", ipam: [IPAMConfig(subnet: "10.8.0.0/16")]))))
        let template = TaskTemplate(containerSpec: ContainerSpec(image: "busybox"), networks: [NetworkAttachmentConfig(target: "big")])
        try apply(.createService(service: Service(id: "service-0123456789abcdefghijk", createdAt: t0,
                                                  spec: ServiceSpec(name: "web", taskTemplate: template, mode: .replicated(replicas: UInt64(tasks))))))
        let created = (1...tasks).map { slot in
            SwarmTask(id: String(format: "task%021d", slot), createdAt: t0, serviceID: "service-0123456789abcdefghijk", slot: UInt64(slot),
                      nodeID: node.id, spec: template, status: TaskStatus(timestamp: t0, state: .running, message: "started"))
        }
        try apply(.createTasks(tasks: created))
        return state
    }

    /// 5,000 tasks on one network: about 1 MB in a frame, so one message; at that rate a full /16
    /// (65,534 tasks) is over the 8 MiB part budget, and a node on two of them gets a full set
    /// over the 16 MiB frame limit (which the transport drops), which is why messages are split.
    func testHowLargeATableGrowsWithItsTasks() throws {
        let state = try bigNetwork(tasks: 5_000)
        let table = try XCTUnwrap(NetworkTables.all(in: state)["big"])
        XCTAssertEqual(table.services.first?.tasks.count, 5_000)
        let message = NetworkTableMessage(kind: .full, session: 1, version: 1, base: 0, tables: [table], hostPorts: [])
        let bytes = encodedSize(message)
        let perTask = Double(bytes) / 5_000
        print("network table: 5,000 tasks encode to \(bytes) bytes (\(Int(perTask)) per task); a full /16 would be \(Int(perTask * 65_534)) bytes")
        XCTAssertLessThan(bytes, NetworkTableMessage.defaultMaxBytesPerPart)
        XCTAssertEqual(message.split { self.encodedSize($0) <= NetworkTableMessage.defaultMaxBytesPerPart }, [message], "it fits one part")
        XCTAssertGreaterThan(perTask * 65_534, Double(NetworkTableMessage.defaultMaxBytesPerPart), "a full /16 network's table is over a part")
        XCTAssertGreaterThan(2 * perTask * 65_534, Double(16 << 20), "two full /16 networks' tables are over the frame limit")

        // Split for a budget a tenth of it: every part fits, and they join back to the message.
        let budget = bytes / 10
        let parts = message.split { self.encodedSize($0) <= budget }
        XCTAssertGreaterThanOrEqual(parts.count, 10)
        XCTAssertTrue(parts.allSatisfy { encodedSize($0) <= budget })
        var assembler = NetworkTableAssembler()
        let handedOut = parts.reversed().compactMap { assembler.add($0) }
        XCTAssertEqual(handedOut, [message])
    }

    private func task(_ id: String) -> NetworkTable.TaskEndpoint {
        NetworkTable.TaskEndpoint(taskID: id, name: "svc.1.\(id)", nodeID: "n1", address: "10.0.1.2/24", state: .running, desiredState: .running)
    }

    private func table(_ id: String, peers: Int, services: [(String, Int)]) -> NetworkTable {
        NetworkTable(networkID: id, name: "net-\(id)", vxlanID: 4097, subnet: "10.0.1.0/24", gateway: "10.0.1.1", ingress: false,
                     peers: (0..<peers).map { NetworkTable.Peer(nodeID: "n\($0)", address: "10.0.1.\($0 + 2)/24", underlayAddress: "192.0.2.\($0 + 1)") },
                     services: services.map { name, count in
                         NetworkTable.ServiceEntry(serviceID: "s-\(name)", name: name, aliases: ["alias-\(name)"], endpointMode: "vip",
                                                   vip: "10.0.1.200/24", ports: [], tasks: (0..<count).map { self.task("\(id)-\(name)-\($0)") })
                     })
    }

    /// Tables cut anywhere (between peers, between a table's peers and its services, between a
    /// service's tasks, an empty table, a service without tasks), for budgets from tiny to ample,
    /// full sets and changes: each part fits (or is a single unit), only the last carries the
    /// removals and host ports, and the parts in any order join back to the message.
    func testPartsFitAndJoinBackInAnyOrder() {
        let tables = [table("a", peers: 0, services: []), table("b", peers: 7, services: [("api", 30), ("idle", 0), ("web", 45)]),
                      table("c", peers: 3, services: [("db", 12)])]
        let binding = HostPortBinding(taskID: "t1", serviceID: "s-web", ports: [PortConfig(targetPort: 80, publishedPort: 8080, publishMode: "host")])
        let messages = [
            NetworkTableMessage(kind: .full, session: 5, version: 1, base: 0, tables: tables, hostPorts: [binding]),
            NetworkTableMessage(kind: .incremental, session: 5, version: 4, base: 3, tables: tables, removed: ["gone"], hostPorts: nil),
            NetworkTableMessage(kind: .incremental, session: 5, version: 5, base: 4, tables: tables, removed: [], hostPorts: [binding]),
        ]
        for message in messages {
            let whole = encodedSize(message)
            for budget in [1, 300, 700, 2_000, whole / 3, whole - 1, whole] {
                let parts = message.split { self.encodedSize($0) <= budget }
                if budget >= whole {
                    XCTAssertEqual(parts, [message])
                    continue
                }
                XCTAssertGreaterThan(parts.count, 1, "budget \(budget)")
                for (position, part) in parts.enumerated() {
                    XCTAssertEqual(part.part, UInt32(position + 1))
                    XCTAssertEqual(part.parts, UInt32(parts.count))
                    XCTAssertEqual(part.session, message.session)
                    XCTAssertEqual(part.version, message.version)
                    let units = part.tables.reduce(0) { $0 + max(1, $1.peers.count + $1.services.reduce(0) { $0 + max(1, $1.tasks.count) }) }
                    XCTAssertTrue(encodedSize(part) <= budget || units == 1, "part \(position + 1) of \(parts.count) over budget \(budget): \(units) units, \(encodedSize(part)) bytes, \(part.tables.map { ($0.networkID, $0.peers.count, $0.services.map { ($0.name, $0.tasks.count) }) })")
                    if position < parts.count - 1 {
                        XCTAssertEqual(part.removed, [])
                    }
                }
                XCTAssertEqual(parts.last?.removed, message.removed)
                XCTAssertEqual(parts.last?.hostPorts, message.hostPorts)
                for order in [Array(parts.indices), Array(parts.indices.reversed()), parts.indices.sorted { ($0 * 7) % parts.count < ($1 * 7) % parts.count }] {
                    var assembler = NetworkTableAssembler()
                    let handedOut = order.compactMap { assembler.add(parts[$0]) }
                    XCTAssertEqual(handedOut, [message], "budget \(budget), order \(order)")
                    XCTAssertEqual(assembler.pendingCount, 0)
                }
            }
        }
    }

    func testALostPartHandsOutNothingAndPartsOfOlderMessagesAreDropped() {
        let tables = [table("b", peers: 4, services: [("web", 40)])]
        let first = NetworkTableMessage(kind: .full, session: 5, version: 1, base: 0, tables: tables, hostPorts: [])
        let second = NetworkTableMessage(kind: .incremental, session: 5, version: 2, base: 1, tables: tables, hostPorts: nil)
        let budget = encodedSize(first) / 4
        let firstParts = first.split { self.encodedSize($0) <= budget }
        let secondParts = second.split { self.encodedSize($0) <= budget }
        XCTAssertGreaterThan(firstParts.count, 2)

        var assembler = NetworkTableAssembler()
        // The first message loses its second part: never handed out.
        for part in firstParts where part.part != 2 { XCTAssertNil(assembler.add(part)) }
        XCTAssertEqual(assembler.pendingCount, 1)
        // The next message arrives whole: handed out, and the incomplete older one is dropped.
        let handedOut = secondParts.compactMap { assembler.add($0) }
        XCTAssertEqual(handedOut, [second])
        XCTAssertEqual(assembler.pendingCount, 0)
        // The missing part turns up late: it is stale, nothing is handed out or kept.
        XCTAssertNil(assembler.add(firstParts[1]))
        XCTAssertEqual(assembler.pendingCount, 0)

        // Parts that disagree on their count are all refused.
        var other = NetworkTableAssembler()
        var wrong = firstParts[1]
        wrong.parts = firstParts[1].parts! + 1
        XCTAssertNil(other.add(firstParts[0]))
        XCTAssertNil(other.add(wrong))
        for part in firstParts.dropFirst(2) { XCTAssertNil(other.add(part)) }
    }

    /// A whole message is written as before parts existed (no part fields), and one written
    /// before them reads as whole, so nodes of both versions agree on messages that fit a part.
    func testAWholeMessageHasNoPartFields() throws {
        let message = NetworkTableMessage(kind: .full, session: 1, version: 1, base: 0, tables: [table("b", peers: 1, services: [])], hostPorts: [])
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(message)) as? [String: Any])
        XCTAssertNil(json["part"])
        XCTAssertNil(json["parts"])
        var old = json
        old["part"] = nil
        let decoded = try JSONDecoder().decode(NetworkTableMessage.self, from: JSONSerialization.data(withJSONObject: old))
        XCTAssertEqual(decoded, message)
        var assembler = NetworkTableAssembler()
        XCTAssertEqual(assembler.add(decoded), message)
    }
}
