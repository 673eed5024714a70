import ClusterState
import XCTest

@testable import Raft
@testable import SwarmNode

/// The requests a manager holds until Raft answers them (`PendingRequests`, issue 15): each ends
/// exactly once, with the failure that says why, and the bound holds.
final class PendingRequestsTests: XCTestCase {
    /// Collects the outcomes of the requests of one test.
    private enum Outcome: Equatable {
        case ok
        case failed(RequestFailure)
    }

    private final class Outcomes {
        var results: [String: [Outcome]] = [:]
        func done(_ name: String) -> SwarmNode.Completion {
            { result in
                switch result {
                case .success: self.results[name, default: []].append(.ok)
                case let .failure(failure): self.results[name, default: []].append(.failed(failure))
                }
            }
        }
        func single(_ name: String, file: StaticString = #filePath, line: UInt = #line) -> Outcome? {
            XCTAssertLessThanOrEqual(results[name]?.count ?? 0, 1, "\(name) answered more than once", file: file, line: line)
            return results[name]?.first
        }
    }

    func testAWriteCommittedInItsTermSucceedsAfterTheReadyAndInAnotherTermFails() {
        let pending = PendingRequests(), outcomes = Outcomes()
        pending.addProposal(index: 7, term: 3, deadline: .max, done: outcomes.done("kept"))
        pending.addProposal(index: 8, term: 3, deadline: .max, done: outcomes.done("replaced"))
        _ = pending.complete(index: 7, term: 3, result: .success(()))
        _ = pending.complete(index: 8, term: 4, result: .success(()))
        XCTAssertNil(outcomes.single("kept"), "answers wait until the Ready is done with (runDeferred)")
        pending.runDeferred()
        XCTAssertEqual(outcomes.single("kept"), .ok)
        XCTAssertEqual(outcomes.single("replaced"), .failed(.noQuorum("leadership changed before the write committed; retry")))
        XCTAssertNil(pending.complete(index: 7, term: 3, result: .success(())), "an entry completes its write once")
        pending.runDeferred()
        XCTAssertEqual(outcomes.results["kept"]?.count, 1)
    }

    func testARejectedCommandReachesTheClientAsRejected() {
        let pending = PendingRequests(), outcomes = Outcomes()
        pending.addProposal(index: 1, term: 1, deadline: .max, done: outcomes.done("w"))
        _ = pending.complete(index: 1, term: 1, result: .failure(.conflict("name in use")))
        pending.runDeferred()
        XCTAssertEqual(outcomes.single("w"), .failed(.rejected(.conflict("name in use"))))
    }

    func testForwardsToTheLeaderFollowedAgainInTheSameTermStayAndOthersFail() {
        let pending = PendingRequests(), outcomes = Outcomes()
        let same = pending.addForward(leader: 2, term: 5, done: outcomes.done("same"))
        _ = pending.addForward(leader: 3, term: 5, done: outcomes.done("otherLeader"))
        _ = pending.addForward(leader: 2, term: 4, done: outcomes.done("otherTerm"))
        let hasWork = pending.settle(SoftState(leader: 2, role: .follower), term: 5) { _ in true }
        XCTAssertFalse(hasWork)
        let retry = RequestFailure.noQuorum("the leader changed while the request was in flight; retry")
        XCTAssertNil(outcomes.single("same"))
        XCTAssertEqual(outcomes.single("otherLeader"), .failed(retry))
        XCTAssertEqual(outcomes.single("otherTerm"), .failed(retry))
        pending.takeForward(same)?(.success(()))
        XCTAssertEqual(outcomes.single("same"), .ok)
        XCTAssertNil(pending.takeForward(same), "a forward is answered once")
    }

    func testNoKnownLeaderSettlesNothingAndBecomingLeaderFailsEveryForward() {
        let pending = PendingRequests(), outcomes = Outcomes()
        _ = pending.addForward(leader: 2, term: 5, done: outcomes.done("f"))
        XCTAssertFalse(pending.settle(SoftState(leader: noNode, role: .preCandidate), term: 5) { _ in true })
        XCTAssertNil(outcomes.single("f"), "a pre-vote keeps the forward: its leader may still commit it")
        _ = pending.settle(SoftState(leader: 1, role: .leader), term: 6) { _ in true }
        XCTAssertEqual(outcomes.single("f"), .failed(.noQuorum("the leader changed while the request was in flight; retry")))
    }

    func testReadsAreAskedAgainOfTheNewLeaderAndFailWhenTheyCannotBe() {
        let pending = PendingRequests(), outcomes = Outcomes()
        let first = pending.makeRequestID(), second = pending.makeRequestID()
        pending.addRead(first, done: outcomes.done("asked"))
        pending.addRead(second, done: outcomes.done("refused"))
        var asked: [UInt64] = []
        let hasWork = pending.settle(SoftState(leader: 2, role: .follower), term: 3) { id in
            asked.append(id)
            return id == first
        }
        XCTAssertEqual(asked, [first, second], "in request order")
        XCTAssertTrue(hasWork, "a read asked again needs a Ready")
        XCTAssertEqual(outcomes.single("refused"), .failed(.noQuorum("the leader changed while the request was in flight; retry")))
        pending.readIsReady(ReadState(index: 10, context: WireBytes.uint64(first)))
        pending.serveWaitingReads(appliedIndex: 9)
        pending.runDeferred()
        XCTAssertNil(outcomes.single("asked"), "not before the apply reaches the read index")
        pending.serveWaitingReads(appliedIndex: 10)
        pending.runDeferred()
        XCTAssertEqual(outcomes.single("asked"), .ok)
    }

    func testAParkedRequestIsRetriedWhenALeaderIsKnownAndAnsweredOnceAtStop() {
        let pending = PendingRequests(), outcomes = Outcomes()
        var retries = 0
        func park() {
            pending.awaitLeader(retry: {
                retries += 1
                park()
            }, fail: outcomes.done("parked"))
        }
        park()
        for _ in 0..<3 { _ = pending.settle(SoftState(leader: 2, role: .follower), term: 1) { _ in true } }
        XCTAssertEqual(retries, 3)
        XCTAssertNil(outcomes.single("parked"))
        pending.failAll(.failed("stop"))
        XCTAssertEqual(outcomes.single("parked"), .failed(.failed("stop")))
    }

    func testTheWriteBoundCountsQueuedProposedAndForwardedWrites() {
        let pending = PendingRequests(), outcomes = Outcomes()
        let third = PendingRequests.maxPendingWrites / 3
        for index in 0..<third { pending.queue(encoded: [1], command: nil, done: outcomes.done("q\(index)")) }
        for index in 0..<third { pending.addProposal(index: UInt64(index + 1), term: 1, deadline: .max, done: outcomes.done("p\(index)")) }
        for index in 0..<(PendingRequests.maxPendingWrites - 2 * third - 1) {
            _ = pending.addForward(leader: 2, term: 1, done: outcomes.done("f\(index)"))
        }
        XCTAssertTrue(pending.hasRoomForWrite)
        _ = pending.addForward(leader: 2, term: 1, done: outcomes.done("last"))
        XCTAssertFalse(pending.hasRoomForWrite, "\(PendingRequests.maxPendingWrites) writes held")
        XCTAssertEqual(pending.takeQueued().count, third)
        XCTAssertTrue(pending.hasRoomForWrite)
    }

    func testFailAllAnswersEveryRequestOnce() {
        let pending = PendingRequests(), outcomes = Outcomes()
        pending.queue(encoded: [1], command: nil, done: outcomes.done("queued"))
        pending.addProposal(index: 1, term: 1, deadline: .max, done: outcomes.done("proposed"))
        _ = pending.addForward(leader: 2, term: 1, done: outcomes.done("forwarded"))
        let read = pending.makeRequestID()
        pending.addRead(read, done: outcomes.done("read"))
        let waiting = pending.makeRequestID()
        pending.addRead(waiting, done: outcomes.done("waiting"))
        pending.readIsReady(ReadState(index: 5, context: WireBytes.uint64(waiting)))
        pending.failAll(.failed("the node is shutting down"))
        pending.failAll(.failed("again"))
        pending.runDeferred()
        for name in ["queued", "proposed", "forwarded", "read", "waiting"] {
            XCTAssertEqual(outcomes.single(name), .failed(.failed("the node is shutting down")), name)
        }
        XCTAssertFalse(pending.hasQueuedWrites)
    }
}
