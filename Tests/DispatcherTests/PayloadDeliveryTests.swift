import ClusterState
import Dispatcher
import XCTest

/// Secrets travel only with the tasks that need them: a node without a referencing task never
/// gets one, and a node is told to forget it once its last referencing task has finished.
final class PayloadDeliveryTests: XCTestCase {
    private let t0 = Timestamp(millisecondsSinceEpoch: 0)
    private let secretKey = PayloadKey(kind: .secret, id: "s1")

    private func state() throws -> ClusterState {
        var state = ClusterState()
        let node = Node(id: "n1", version: ObjectVersion(index: 0), createdAt: t0, spec: NodeSpec(role: .manager),
                        description: NodeDescription(hostname: "h1", platform: .init(architecture: "x86_64", os: "linux"),
                                                     resources: .init(nanoCPUs: 1, memoryBytes: 1), engine: .init(engineVersion: "t")),
                        status: NodeStatus(state: .ready, addr: "192.0.2.1:1"), managerStatus: nil)
        try state.apply(.initialize(cluster: Cluster(id: "c", version: ObjectVersion(index: 0), createdAt: t0, spec: ClusterSpec(),
                                                     joinTokens: JoinTokens(worker: "w", manager: "m")),
                                    firstNode: node, secrets: ClusterSecrets(workerSecret: "w", managerSecret: "m", members: [:])),
                        index: 1).get()
        try state.apply(.createPayload(kind: .secret, object: PayloadObject(id: "s1", createdAt: t0,
                                                                           spec: PayloadSpec(name: "db_pw", data: Array("pw".utf8)))),
                        index: 2).get()
        return state
    }

    private func task(_ id: String, node: String, secret: Bool, version: UInt64 = 5, state: TaskState = .assigned) -> SwarmTask {
        var container = ContainerSpec(image: "busybox")
        if secret { container.secrets = [SecretReference(file: PayloadFile(name: "db_pw"), secretID: "s1", secretName: "db_pw")] }
        return SwarmTask(id: id, version: ObjectVersion(index: version), createdAt: t0, serviceID: "svc", slot: 1, nodeID: node,
                         spec: TaskTemplate(containerSpec: container),
                         status: TaskStatus(timestamp: t0, state: state, message: state.rawValue))
    }

    private func at(_ millis: UInt64) -> Timestamp { Timestamp(millisecondsSinceEpoch: millis) }

    func testOnlyTheNodeWithAReferencingTaskGetsTheSecretAndForgetsItWhenTheTaskEnds() throws {
        let state = try state()
        var dispatcher = AssignmentDispatcher(term: 1, inFlightMillis: 1_000)
        var messagesTo: [String: [AssignmentMessage]] = [:]
        func send(_ node: String, _ tasks: [SwarmTask], heartbeat: Bool, now: UInt64) {
            let payloads = PayloadDelivery.payloads(for: tasks, in: state)
            let message = heartbeat
                ? dispatcher.heartbeat(node: node, link: 1, ack: .none, items: tasks, extra: payloads, now: at(now))
                : dispatcher.changes(node, items: tasks, extra: payloads, now: at(now))
            if let message { messagesTo[node, default: []].append(message) }
        }
        send("with", [task("a", node: "with", secret: true)], heartbeat: true, now: 0)
        send("without", [task("b", node: "without", secret: false)], heartbeat: true, now: 0)
        XCTAssertEqual(messagesTo["with"]?.last?.payloads.map(\.key), [secretKey])
        XCTAssertEqual(messagesTo["with"]?.last?.payloads.first?.data, Array("pw".utf8))

        // A change that does not touch the secret does not send it again.
        send("with", [task("a", node: "with", secret: true, version: 6, state: .running)], heartbeat: false, now: 10)
        XCTAssertEqual(messagesTo["with"]?.last?.payloads, [])
        XCTAssertEqual(messagesTo["with"]?.last?.forget, [])
        // The task ends: the node is told to forget the secret.
        send("with", [task("a", node: "with", secret: true, version: 7, state: .complete)], heartbeat: false, now: 20)
        XCTAssertEqual(messagesTo["with"]?.last?.forget, [secretKey])
        XCTAssertEqual(messagesTo["with"]?.last?.payloads, [])
        send("without", [task("b", node: "without", secret: false, version: 6, state: .running)], heartbeat: false, now: 20)

        let toWithout = try XCTUnwrap(messagesTo["without"])
        XCTAssertEqual(toWithout.count, 2)
        XCTAssertTrue(toWithout.allSatisfy { $0.payloads.isEmpty }, "a node without a referencing task never receives the secret")
    }

    func testAFullSetCarriesEveryNeededSecretAndAnIncrementOnlyNewOnes() throws {
        let state = try state()
        var dispatcher = AssignmentDispatcher(term: 1, inFlightMillis: 1_000)
        let plain = [task("b", node: "n", secret: false)]
        let first = try XCTUnwrap(dispatcher.heartbeat(node: "n", link: 1, ack: .none, items: plain,
                                                       extra: PayloadDelivery.payloads(for: plain, in: state), now: at(0)))
        XCTAssertEqual(first.payloads, [])
        let both = plain + [task("a", node: "n", secret: true)]
        let change = try XCTUnwrap(dispatcher.changes("n", items: both, extra: PayloadDelivery.payloads(for: both, in: state), now: at(10)))
        XCTAssertEqual(change.tasks.map(\.id), ["a"])
        XCTAssertEqual(change.payloads.map(\.key), [secretKey], "the secret arrives with the task that needs it")
        let resend = try XCTUnwrap(dispatcher.fullSet("n", items: both, extra: PayloadDelivery.payloads(for: both, in: state), now: at(20)))
        XCTAssertEqual(resend.kind, .full)
        XCTAssertEqual(resend.payloads.map(\.key), [secretKey])
    }

    /// The receiver keeps the keys of what the node holds as the node's `AgentPayloads` does (a
    /// full set replaces them, an increment adds new ones and drops forgotten ones), and they
    /// match what the dispatcher says it sent.
    func testTheReceiverHoldsWhatTheDispatcherSent() throws {
        let state = try state()
        var dispatcher = AssignmentDispatcher(term: 1, inFlightMillis: 1_000)
        var node = AssignmentReceiver()
        let running = [task("a", node: "n", secret: true)]
        let first = try XCTUnwrap(dispatcher.heartbeat(node: "n", link: 1, ack: node.ack, items: running,
                                                       extra: PayloadDelivery.payloads(for: running, in: state), now: at(0)))
        XCTAssertEqual(node.receive(first), .applied)
        XCTAssertEqual(node.payloadKeys, [secretKey])
        XCTAssertEqual(dispatcher.sent(to: "n")?.held, [secretKey])
        let done = [task("a", node: "n", secret: true, version: 6, state: .complete)]
        let change = try XCTUnwrap(dispatcher.changes("n", items: done, extra: PayloadDelivery.payloads(for: done, in: state), now: at(10)))
        XCTAssertEqual(node.receive(change), .applied)
        XCTAssertEqual(node.payloadKeys, [])
        XCTAssertEqual(dispatcher.sent(to: "n")?.held, [])
    }
}
