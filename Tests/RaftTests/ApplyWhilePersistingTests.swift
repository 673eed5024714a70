@testable import Raft
import XCTest

/// A shell that persists batches on another thread applies committed entries without waiting
/// for its own write (`advanceApplied`, `takeCommittedEntries`), and commit still needs a
/// durable quorum.
final class ApplyWhilePersistingTests: XCTestCase {
    /// Three voters: the leader's batch is still being written when both followers acknowledge
    /// it. The entry is committed by the two durable followers and can be applied at once; the
    /// leader's own unpersisted copy never counted.
    func testLeaderAppliesWhatFollowersMadeDurableWhileItsOwnWriteIsOutstanding() throws {
        var leader = makeRaft(1, term: 1)
        leader.forceLeader()
        leader.commitNoop()
        try leader.propose([42])
        let batch = leader.ready()
        XCTAssertEqual(batch.entries.map(\.data), [[42]])
        leader.advanceApplied(batch)
        let index = batch.entries[0].index
        XCTAssertTrue(leader.takeCommittedEntries().isEmpty, "nobody acknowledged it yet")
        leader.step(message(.appendResponse, from: 2, to: 1, term: leader.term, index: index))
        XCTAssertTrue(leader.takeCommittedEntries().isEmpty, "one follower plus the leader's unpersisted copy is no quorum")
        leader.step(message(.appendResponse, from: 3, to: 1, term: leader.term, index: index))
        XCTAssertEqual(leader.takeCommittedEntries().map(\.data), [[42]], "two durable followers commit it")
        XCTAssertEqual(leader.appliedIndex, index)
        XCTAssertTrue(leader.takeCommittedEntries().isEmpty, "handed out once")
        leader.advance(batch)
        let next = leader.ready()
        XCTAssertTrue(next.committedEntries.isEmpty, "the next batch does not hand the entry out again")
        leader.advance(next)
    }

    /// Nothing is handed out past an outstanding batch whose own committed entries were not
    /// applied yet: entries are applied in log order.
    func testNothingIsHandedOutAheadOfAnOutstandingBatch() {
        var node = makeRaft(1, term: 1)
        node.step(message(.append, from: 2, to: 1, term: 1, index: 0, logTerm: 0, entries: entries(terms: [1, 1]), commit: 1))
        let batch = node.ready()
        XCTAssertEqual(batch.committedEntries.map(\.index), [1])
        node.step(message(.append, from: 2, to: 1, term: 1, index: 2, logTerm: 1, entries: [], commit: 2))
        XCTAssertTrue(node.takeCommittedEntries().isEmpty, "entry 1 of the outstanding batch is not applied yet")
        node.advanceApplied(batch)
        XCTAssertEqual(node.takeCommittedEntries().map(\.index), [2])
        node.advance(batch)
        XCTAssertTrue(node.ready().committedEntries.isEmpty)
    }
}

/// A leader's appends may leave while its own batch is being written; other roles' may not.
final class LeaderMessagesWhilePersistingTests: XCTestCase {
    func testLeaderSendsNewAppendsWhileItsBatchIsOutstanding() throws {
        var leader = makeRaft(1, term: 1)
        leader.forceLeader()
        leader.commitNoop()
        try leader.propose([1])
        let batch = leader.ready()
        try leader.propose([2])
        let early = leader.takeLeaderMessages()
        XCTAssertEqual(Set(early.map(\.to)), [2, 3])
        XCTAssertTrue(early.allSatisfy { $0.kind == .append && $0.entries.map(\.data) == [[2]] })
        XCTAssertEqual(leader.commitIndex, batch.entries[0].index - 1, "sending commits nothing")
        leader.advance(batch)
        XCTAssertTrue(leader.ready().messages.allSatisfy { $0.entries.map(\.data) != [[2]] }, "not sent twice")
    }

    func testAFollowersAcknowledgementWaitsForItsWrite() {
        var node = makeRaft(1, term: 1)
        node.step(message(.append, from: 2, to: 1, term: 1, index: 0, logTerm: 0, entries: entries(terms: [1])))
        XCTAssertTrue(node.takeLeaderMessages().isEmpty)
        XCTAssertEqual(node.ready().messages.map(\.kind), [.appendResponse])
    }
}
