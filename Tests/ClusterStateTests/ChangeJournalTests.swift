import XCTest
@testable import ClusterState

/// The apply path records what each command changed, so control loops can look at only that.
final class ChangeJournalTests: XCTestCase {
    private let t0 = Timestamp(millisecondsSinceEpoch: 1_764_000_000_000)

    private func initialized() -> ClusterState {
        var state = ClusterState()
        let node = Node(id: "n1", version: ObjectVersion(index: 0), createdAt: t0, spec: NodeSpec(role: .manager),
                        description: NodeDescription(hostname: "h", platform: .init(architecture: "x86_64", os: "linux"),
                                                     resources: .init(nanoCPUs: 1, memoryBytes: 1), engine: .init(engineVersion: "t")),
                        status: NodeStatus(state: .ready, addr: "192.0.2.1:4242"), managerStatus: ManagerStatus(raftID: 1, addr: "192.0.2.1:4242"))
        let cluster = Cluster(id: "c1", version: ObjectVersion(index: 0), createdAt: t0, spec: ClusterSpec(),
                              joinTokens: JoinTokens(worker: "W", manager: "M"))
        let secrets = ClusterSecrets(workerSecret: "ws", managerSecret: "ms", members: ["1": ClusterMember(nodeID: "n1")])
        XCTAssertNoThrow(try state.apply(.initialize(cluster: cluster, firstNode: node, secrets: secrets), index: 1).get())
        return state
    }

    private func service(_ id: String) -> Service {
        Service(id: id, createdAt: t0, spec: ServiceSpec(name: "name-\(id)", taskTemplate: TaskTemplate(containerSpec: ContainerSpec(image: "busybox")),
                                                         mode: .replicated(replicas: 1)))
    }

    private func task(_ id: String, service: String, node: String?) -> SwarmTask {
        SwarmTask(id: id, createdAt: t0, serviceID: service, slot: 1, nodeID: node,
                  spec: TaskTemplate(containerSpec: ContainerSpec(image: "busybox")),
                  status: TaskStatus(timestamp: t0, state: .pending, message: "new"))
    }

    func testAppliedCommandsRecordTheObjectsTheyChanged() throws {
        var state = initialized()
        XCTAssertNoThrow(try state.apply(.createService(service: service("s1")), index: 2).get())
        XCTAssertNoThrow(try state.apply(.createTasks(tasks: [task("t1", service: "s1", node: nil)]), index: 3).get())
        XCTAssertNoThrow(try state.apply(.assignTask(id: "t1", nodeID: "n1", at: t0), index: 4).get())
        XCTAssertNoThrow(try state.apply(.removeTasks(ids: ["t1"]), index: 5).get())
        let changes = try XCTUnwrap(state.changes.changes(after: 1))
        XCTAssertEqual(changes.map(\.index), [2, 3, 4, 5])
        XCTAssertEqual(changes.map(\.object), [
            .service("s1"),
            .task(id: "t1", serviceID: "s1", nodeID: nil),
            .task(id: "t1", serviceID: "s1", nodeID: nil),
            // The removed task is gone from the state, but the change still names its service and node.
            .task(id: "t1", serviceID: "s1", nodeID: "n1"),
        ])
        XCTAssertEqual(state.changes.changes(after: 4)?.map(\.index), [5])
        XCTAssertEqual(state.changes.changes(after: 5)?.count, 0)
    }

    func testARefusedCommandRecordsNothing() throws {
        var state = initialized()
        XCTAssertThrowsError(try state.apply(.removeService(id: "missing", at: t0), index: 2).get())
        XCTAssertEqual(state.changes.changes(after: 1)?.count, 0)
    }

    func testADecodedStateCoversOnlyWhatItAppliedItself() throws {
        var state = initialized()
        XCTAssertNoThrow(try state.apply(.createService(service: service("s1")), index: 2).get())
        var decoded = try CommandCodec.decodeState(CommandCodec.encodeState(state))
        XCTAssertEqual(decoded, state, "the journal is not part of the state's identity")
        XCTAssertNil(decoded.changes.changes(after: 1), "a snapshot carries no history")
        XCTAssertNoThrow(try decoded.apply(.createService(service: service("s2")), index: 3).get())
        XCTAssertNil(decoded.changes.changes(after: 1))
        XCTAssertEqual(decoded.changes.changes(after: 2)?.map(\.object), [.service("s2")])
    }

    func testTheJournalIsBoundedAndSaysWhenAReaderFellBehind() throws {
        var state = initialized()
        var index: UInt64 = 1
        // Each index changes one service; creating and removing keeps the state small (a state
        // of 8000 services made each create's name check slow in debug builds).
        for number in 0..<(ChangeJournal.capacity + 10) {
            index += 1
            let id = "s\(number / 2)"
            let command: ClusterCommand = number % 2 == 0 ? .createService(service: service(id)) : .removeService(id: id, at: t0)
            XCTAssertNoThrow(try state.apply(command, index: index).get())
        }
        XCTAssertLessThanOrEqual(state.services.count, 1)
        XCTAssertLessThanOrEqual(state.changes.records.count, ChangeJournal.capacity)
        XCTAssertNil(state.changes.changes(after: 1), "the oldest changes were dropped")
        XCTAssertEqual(state.changes.changes(after: index - 3)?.count, 3)
    }
}
