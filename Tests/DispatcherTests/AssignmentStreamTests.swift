import ClusterState
import Dispatcher
import XCTest

/// The assignment stream between the leader's dispatcher and a node's receiver: full sets when a
/// session starts or a node falls out of step, versioned increments after, holes detected.
final class AssignmentStreamTests: XCTestCase {
    private func task(_ id: String, version: UInt64, state: TaskState = .assigned, desired: TaskState = .running) -> SwarmTask {
        SwarmTask(id: id, version: ObjectVersion(index: version), createdAt: Timestamp(millisecondsSinceEpoch: 0), serviceID: "s",
                  slot: 1, nodeID: "n1", spec: TaskTemplate(containerSpec: ContainerSpec(image: "busybox")), desiredState: desired,
                  status: TaskStatus(timestamp: Timestamp(millisecondsSinceEpoch: 0), state: state, message: state.rawValue))
    }

    private func at(_ millis: UInt64) -> Timestamp { Timestamp(millisecondsSinceEpoch: millis) }

    func testASessionStartsWithTheFullSetThenSendsIncrements() throws {
        var dispatcher = AssignmentDispatcher(term: 3, inFlightMillis: 1_000)
        var node = AssignmentReceiver()
        let first = try XCTUnwrap(dispatcher.heartbeat(node: "n1", link: 7, ack: node.ack, items: [task("a", version: 5)], extra: [], now: at(0)))
        XCTAssertEqual(first.kind, .full)
        XCTAssertEqual(node.receive(first), .applied)
        XCTAssertEqual(node.sortedTasks.map(\.id), ["a"])

        let change = try XCTUnwrap(dispatcher.changes("n1", items: [task("a", version: 6), task("b", version: 6)], extra: [], now: at(10)))
        XCTAssertEqual(change.kind, .incremental)
        XCTAssertEqual(change.base, first.version)
        XCTAssertEqual(change.tasks.map(\.id), ["a", "b"])
        XCTAssertEqual(node.receive(change), .applied)
        let removal = try XCTUnwrap(dispatcher.changes("n1", items: [task("b", version: 6)], extra: [], now: at(20)))
        XCTAssertEqual(removal.removed, ["a"])
        XCTAssertTrue(removal.tasks.isEmpty)
        XCTAssertEqual(node.receive(removal), .applied)
        XCTAssertEqual(node.sortedTasks.map(\.id), ["b"])
        XCTAssertNil(dispatcher.changes("n1", items: [task("b", version: 6)], extra: [], now: at(30)), "nothing changed")
        XCTAssertNil(dispatcher.heartbeat(node: "n1", link: 7, ack: node.ack, items: [task("b", version: 6)], extra: [], now: at(1_500)), "in step")
        XCTAssertEqual(dispatcher.resyncs, 0)
    }

    /// Issue 19: a change lost on the way, then a later one delivered. The node must not
    /// acknowledge the later version; it asks for the full set, and gets it on its heartbeat.
    func testAHoleIsDetectedAndRepairedByTheFullSet() throws {
        var dispatcher = AssignmentDispatcher(term: 1, inFlightMillis: 1_000)
        var node = AssignmentReceiver()
        XCTAssertEqual(node.receive(try XCTUnwrap(dispatcher.heartbeat(node: "n1", link: 1, ack: node.ack, items: [], extra: [], now: at(0)))), .applied)
        _ = dispatcher.changes("n1", items: [task("lost", version: 10)], extra: [], now: at(100))  // dropped by a partition
        let later = try XCTUnwrap(dispatcher.changes("n1", items: [task("lost", version: 10), task("later", version: 11)], extra: [], now: at(200)))
        XCTAssertEqual(node.receive(later), .needsFullSet)
        XCTAssertTrue(node.ack.needsFullSet)
        XCTAssertTrue(node.tasks.isEmpty, "nothing of a change after a hole is applied")
        XCTAssertEqual(node.receive(later), .waitingForFullSet, "the same change again: the full set was asked for once")
        let repair = try XCTUnwrap(dispatcher.heartbeat(node: "n1", link: 1, ack: node.ack,
                                                        items: [task("lost", version: 10), task("later", version: 11)], extra: [], now: at(300)))
        XCTAssertEqual(repair.kind, .full)
        XCTAssertEqual(dispatcher.resyncs, 1)
        XCTAssertEqual(node.receive(repair), .applied)
        XCTAssertEqual(node.sortedTasks.map(\.id), ["later", "lost"])
        XCTAssertFalse(node.ack.needsFullSet)
    }

    /// The last change of a burst is lost: no later change reveals the hole, so the heartbeat's
    /// lagging version does, once the change has had a message time to arrive.
    func testALostLastChangeIsResentWhenTheHeartbeatStillLagsAfterAMessageTime() throws {
        var dispatcher = AssignmentDispatcher(term: 1, inFlightMillis: 1_000)
        var node = AssignmentReceiver()
        _ = node.receive(try XCTUnwrap(dispatcher.heartbeat(node: "n1", link: 1, ack: node.ack, items: [], extra: [], now: at(0))))
        let tasks = [task("t", version: 4)]
        _ = dispatcher.changes("n1", items: tasks, extra: [], now: at(500))  // lost
        XCTAssertNil(dispatcher.heartbeat(node: "n1", link: 1, ack: node.ack, items: tasks, extra: [], now: at(900)), "may still be on its way")
        let repair = try XCTUnwrap(dispatcher.heartbeat(node: "n1", link: 1, ack: node.ack, items: tasks, extra: [], now: at(1_600)))
        XCTAssertEqual(repair.kind, .full)
        XCTAssertEqual(node.receive(repair), .applied)
        XCTAssertEqual(node.sortedTasks.map(\.id), ["t"])
    }

    func testTheInFlightBoundIsAQuarterHeartbeatAndAtLeast50Milliseconds() {
        XCTAssertEqual(AssignmentDispatcher.inFlightMillis(heartbeatPeriodMillis: 1_000), 250)
        XCTAssertEqual(AssignmentDispatcher.inFlightMillis(heartbeatPeriodMillis: 100), 50)
    }

    func testANewLinkOrARestartedNodeGetsTheFullSet() throws {
        var dispatcher = AssignmentDispatcher(term: 2, inFlightMillis: 1_000)
        var node = AssignmentReceiver()
        let tasks = [task("t", version: 4)]
        _ = node.receive(try XCTUnwrap(dispatcher.heartbeat(node: "n1", link: 1, ack: node.ack, items: tasks, extra: [], now: at(0))))
        let reconnected = try XCTUnwrap(dispatcher.heartbeat(node: "n1", link: 2, ack: node.ack, items: tasks, extra: [], now: at(100)))
        XCTAssertEqual(reconnected.kind, .full)
        XCTAssertGreaterThan(reconnected.session, node.session, "a new stream")
        XCTAssertEqual(node.receive(reconnected), .applied)
        var restarted = AssignmentReceiver()
        let resent = try XCTUnwrap(dispatcher.heartbeat(node: "n1", link: 2, ack: restarted.ack, items: tasks, extra: [], now: at(1_200)))
        XCTAssertEqual(restarted.receive(resent), .applied)
        XCTAssertEqual(restarted.sortedTasks.map(\.id), ["t"])
    }

    /// A deposed leader's late messages never undo the new leader's stream.
    func testAnOlderLeadersLateMessagesAreStale() throws {
        var old = AssignmentDispatcher(term: 4, inFlightMillis: 1_000)
        var new = AssignmentDispatcher(term: 5, inFlightMillis: 1_000)
        var node = AssignmentReceiver()
        let oldFull = try XCTUnwrap(old.heartbeat(node: "n1", link: 1, ack: node.ack, items: [task("gone", version: 3)], extra: [], now: at(0)))
        let newFull = try XCTUnwrap(new.heartbeat(node: "n1", link: 2, ack: node.ack, items: [task("kept", version: 9)], extra: [], now: at(0)))
        XCTAssertEqual(node.receive(newFull), .applied)
        XCTAssertEqual(node.receive(oldFull), .stale)
        let oldChange = try XCTUnwrap(old.changes("n1", items: [task("gone", version: 3), task("x", version: 4)], extra: [], now: at(10)))
        XCTAssertEqual(node.receive(oldChange), .stale)
        XCTAssertEqual(node.sortedTasks.map(\.id), ["kept"])
    }

    func testAChangeOfANewerStreamWithoutItsFullSetIsAHole() throws {
        var dispatcher = AssignmentDispatcher(term: 1, inFlightMillis: 1_000)
        var node = AssignmentReceiver()
        _ = dispatcher.heartbeat(node: "n1", link: 1, ack: node.ack, items: [], extra: [], now: at(0))  // full set lost
        let change = try XCTUnwrap(dispatcher.changes("n1", items: [task("t", version: 2)], extra: [], now: at(10)))
        XCTAssertEqual(node.receive(change), .needsFullSet)
        let another = try XCTUnwrap(dispatcher.changes("n1", items: [task("t", version: 3)], extra: [], now: at(20)))
        XCTAssertEqual(node.receive(another), .waitingForFullSet, "asked once")
    }
}
