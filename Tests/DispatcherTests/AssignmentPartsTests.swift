import ClusterState
import Dispatcher
import XCTest

/// A message whose secrets would not fit one frame goes as parts: each part within the budget,
/// put back together in any order, applied only once complete; a lost part makes the node ask
/// for the full set, and stale or inconsistent parts are dropped.
final class AssignmentPartsTests: XCTestCase {
    private let t0 = Timestamp(millisecondsSinceEpoch: 0)

    private func payload(_ index: Int, bytes: Int) -> TaskPayload {
        TaskPayload(kind: .secret, id: "s\(index)", data: [UInt8](repeating: UInt8(index & 0xFF), count: bytes))
    }

    private func task(_ id: String, secrets: [TaskPayload]) -> SwarmTask {
        var container = ContainerSpec(image: "busybox")
        container.secrets = secrets.map { SecretReference(file: PayloadFile(name: $0.id), secretID: $0.id, secretName: $0.id) }
        return SwarmTask(id: id, version: ObjectVersion(index: 3), createdAt: t0, serviceID: "svc", slot: 1, nodeID: "n1",
                         spec: TaskTemplate(containerSpec: container), status: TaskStatus(timestamp: t0, state: .assigned, message: "assigned"))
    }

    private func full(version: UInt64, payloads: [TaskPayload]) -> AssignmentMessage {
        AssignmentMessage(kind: .full, session: 7, version: version, base: 0, tasks: [task("t1", secrets: payloads)], payloads: payloads)
    }

    func testFortySecretsOf500KiBGoAsPartsWithinTheBudgetAndComeBackWhole() {
        let payloads = (0..<40).map { payload($0, bytes: PayloadLimits.maxDataBytes - 1) }
        let message = full(version: 1, payloads: payloads)
        let parts = message.split(maxPayloadBytes: AssignmentMessage.defaultMaxPayloadBytesPerPart)
        XCTAssertEqual(parts.count, 5, "8 payloads of 500 KiB per 4 MiB part")
        XCTAssertTrue(parts.allSatisfy { $0.payloadBytes <= AssignmentMessage.defaultMaxPayloadBytesPerPart })
        XCTAssertEqual(parts.map(\.part), [1, 2, 3, 4, 5])
        XCTAssertTrue(parts.allSatisfy { $0.parts == 5 && $0.session == 7 && $0.version == 1 && $0.kind == .full })
        XCTAssertTrue(parts.dropLast().allSatisfy(\.tasks.isEmpty))
        XCTAssertEqual(parts.last?.tasks, message.tasks)

        var assembler = AssignmentAssembler()
        let arrival = [parts[3], parts[0], parts[4], parts[2]]
        for part in arrival { XCTAssertNil(assembler.add(part), "incomplete until every part is here") }
        XCTAssertEqual(assembler.bufferedPayloadKeys.count, 32)
        XCTAssertEqual(assembler.add(parts[1]), message, "the parts in any order give back the message")
        XCTAssertEqual(assembler.pendingCount, 0)
        XCTAssertEqual(assembler.bufferedPayloadKeys, [])
    }

    func testAMessageWithinTheBudgetIsNotSplitAndPassesStraightThrough() {
        let message = full(version: 1, payloads: [payload(1, bytes: 100), payload(2, bytes: 100)])
        XCTAssertEqual(message.split(maxPayloadBytes: 200), [message])
        var assembler = AssignmentAssembler()
        XCTAssertEqual(assembler.add(message), message)
        // A single payload over the budget still travels, alone in its part.
        let big = full(version: 2, payloads: [payload(1, bytes: 300), payload(2, bytes: 10)])
        XCTAssertEqual(big.split(maxPayloadBytes: 200).map { $0.payloads.map(\.id) }, [["s1"], ["s2"]])
    }

    func testAnIncrementalKeepsItsRemovalsAndForgetsOnTheLastPart() {
        let payloads = (0..<3).map { payload($0, bytes: 100) }
        let change = AssignmentMessage(kind: .incremental, session: 7, version: 4, base: 3, tasks: [task("t2", secrets: payloads)],
                                       removed: ["t1"], payloads: payloads, forget: [PayloadKey(kind: .secret, id: "old")])
        let parts = change.split(maxPayloadBytes: 150)
        XCTAssertEqual(parts.count, 3)
        XCTAssertTrue(parts.dropLast().allSatisfy { $0.removed.isEmpty && $0.forget.isEmpty && $0.base == 3 })
        XCTAssertEqual(parts.last?.removed, ["t1"])
        XCTAssertEqual(parts.last?.forget, [PayloadKey(kind: .secret, id: "old")])
        var assembler = AssignmentAssembler()
        XCTAssertNil(assembler.add(parts[2]))
        XCTAssertNil(assembler.add(parts[1]))
        XCTAssertEqual(assembler.add(parts[0]), change)
    }

    /// The stream with a lost part: the change is never applied, the next one is a hole, the node
    /// asks for the full set, and the full set (in parts too) repairs it; the late part is dropped.
    func testALostPartMakesTheNodeAskForTheFullSetAndALatePartIsDropped() {
        var assembler = AssignmentAssembler()
        var receiver = AssignmentReceiver()
        func deliver(_ message: AssignmentMessage) -> AssignmentReceiver.Outcome? {
            assembler.add(message).map { receiver.receive($0) }
        }
        let first = (0..<2).map { payload($0, bytes: 100) }
        XCTAssertEqual(deliver(full(version: 1, payloads: first)), .applied)

        let more = (0..<4).map { payload($0, bytes: 100) }
        let change = AssignmentMessage(kind: .incremental, session: 7, version: 2, base: 1, tasks: [task("t1", secrets: more)],
                                       payloads: Array(more[2...])).split(maxPayloadBytes: 100)
        XCTAssertEqual(change.count, 2)
        XCTAssertNil(deliver(change[1]), "part 1 of 2 was lost: nothing is applied")
        XCTAssertEqual(receiver.version, 1)
        let next = AssignmentMessage(kind: .incremental, session: 7, version: 3, base: 2, tasks: [])
        XCTAssertEqual(deliver(next), .needsFullSet)
        XCTAssertTrue(receiver.ack.needsFullSet)

        let repair = full(version: 4, payloads: more).split(maxPayloadBytes: 250)
        XCTAssertEqual(repair.count, 2)
        XCTAssertNil(deliver(repair[0]))
        XCTAssertEqual(deliver(repair[1]), .applied)
        XCTAssertEqual(receiver.ack, AssignmentAck(session: 7, version: 4))
        XCTAssertEqual(assembler.pendingCount, 0, "the incomplete change was dropped with the full set")
        XCTAssertNil(assembler.add(change[0]), "the late part belongs to a message older than the full set")
        XCTAssertEqual(assembler.pendingCount, 0)
        XCTAssertEqual(assembler.bufferedPayloadKeys, [])
    }

    func testPartsThatDisagreeAreDroppedAndAtMostTwoIncompleteMessagesAreKept() {
        var assembler = AssignmentAssembler()
        let parts = full(version: 1, payloads: (0..<3).map { payload($0, bytes: 100) }).split(maxPayloadBytes: 100)
        XCTAssertNil(assembler.add(parts[0]))
        var forged = parts[1]
        forged.parts = 4
        XCTAssertNil(assembler.add(forged))
        XCTAssertEqual(assembler.pendingCount, 0, "a part with another count drops the message")
        XCTAssertNil(assembler.add(parts[2]))
        var outOfRange = parts[1]
        outOfRange.part = 9
        XCTAssertNil(assembler.add(outOfRange))

        var tasksOnAnEarlyPart = parts[0]
        tasksOnAnEarlyPart.tasks = parts[2].tasks
        var other = AssignmentAssembler()
        XCTAssertNil(other.add(tasksOnAnEarlyPart))
        XCTAssertNil(other.add(parts[1]))
        XCTAssertNil(other.add(parts[2]), "only the last part may carry tasks")
        XCTAssertEqual(other.pendingCount, 0)

        var bounded = AssignmentAssembler()
        for version in 1...4 as ClosedRange<UInt64> {
            let split = full(version: version, payloads: (0..<2).map { payload($0, bytes: 100) }).split(maxPayloadBytes: 100)
            XCTAssertNil(bounded.add(split[0]))
        }
        XCTAssertEqual(bounded.pendingCount, AssignmentAssembler.maxPending)
    }
    /// A full set with 20 MiB of secrets is not sent again at every heartbeat while it may still
    /// travel (1 ms per KiB on top of the in-flight bound): resending it each time had the node
    /// fall further behind forever on a slow link.
    func testABigFullSetIsNotResentWhileItMayStillTravel() {
        let payloads = (0..<40).map { payload($0, bytes: 512 * 1024) }
        let tasks = [task("t1", secrets: payloads)]
        var dispatcher = AssignmentDispatcher(term: 1, inFlightMillis: 250)
        let at = { (millis: UInt64) in Timestamp(millisecondsSinceEpoch: millis) }
        let first = dispatcher.heartbeat(node: "n1", link: 1, ack: .none, items: tasks, extra: payloads, now: at(0))
        XCTAssertEqual(first?.kind, .full)
        XCTAssertNil(dispatcher.heartbeat(node: "n1", link: 1, ack: .none, items: tasks, extra: payloads, now: at(10_000)),
                     "20 MiB at 1 MiB/s: still on its way after 10 s")
        XCTAssertEqual(dispatcher.heartbeat(node: "n1", link: 1, ack: .none, items: tasks, extra: payloads, now: at(20_480 + 250))?.kind,
                       .full, "lost after its allowance: sent again")
        var small = AssignmentDispatcher(term: 1, inFlightMillis: 250)
        _ = small.heartbeat(node: "n1", link: 1, ack: .none, items: [task("t1", secrets: [])], extra: [], now: at(0))
        XCTAssertEqual(small.heartbeat(node: "n1", link: 1, ack: .none, items: [task("t1", secrets: [])], extra: [], now: at(250))?.kind, .full,
                       "without payloads the bound is unchanged")
    }
}
