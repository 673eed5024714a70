@testable import Raft
import XCTest

/// Several `Ready` batches in flight (`acceptsAnotherReady`), as a shell with one in-order
/// writer takes them: each batch holds only what the ones before it did not, batches are
/// confirmed in order, an entry counts as durable only once a batch holding it is confirmed and
/// the log still holds it, and nothing is pipelined across a role change or a snapshot.
final class PipelinedReadyTests: XCTestCase {
    /// A follower of node 2 in `term` that has reported its leader (a leader change is a barrier).
    private func follower(term: UInt64) -> RaftNode {
        var node = makeRaft(1, term: term)
        node.step(message(.append, from: 2, to: 1, term: term, index: 0, logTerm: 0))
        node.persistAndAdvance()
        return node
    }

    /// A follower takes a second batch while the first is being written: the second carries only
    /// the new entry and its own acknowledgement; confirming both leaves nothing to do.
    func testSecondBatchCarriesOnlyWhatTheFirstDidNot() {
        var node = follower(term: 1)
        node.step(message(.append, from: 2, to: 1, term: 1, index: 0, logTerm: 0, entries: entries(terms: [1])))
        let first = node.ready()
        node.advanceApplied(first)
        node.step(message(.append, from: 2, to: 1, term: 1, index: 1, logTerm: 1, entries: [Entry(term: 1, index: 2)], commit: 1))
        XCTAssertTrue(node.acceptsAnotherReady)
        let second = node.ready()
        XCTAssertEqual(first.entries, [Entry(term: 1, index: 1)])
        XCTAssertEqual(second.entries, [Entry(term: 1, index: 2)], "entry 1 is not handed out twice")
        XCTAssertTrue(second.mustSync)
        XCTAssertEqual(second.messages.map(\.index), [2], "the acknowledgement travels with the entry it acknowledges")
        XCTAssertEqual(second.committedEntries.map(\.index), [1])
        node.advanceApplied(second)
        node.advance(first)
        XCTAssertEqual(node.log.stableIndex, 1, "only the first batch is durable yet")
        node.advance(second)
        XCTAssertEqual(node.log.stableIndex, 2)
        XCTAssertFalse(node.hasReady)
    }

    /// A new leader replaces an entry of a batch still being written: the replacement comes in
    /// the next batch, and confirming the first batch does not count the replaced entry durable.
    func testEntryReplacedWhileItsBatchIsInFlightIsNotCountedDurable() {
        var node = follower(term: 1)
        node.step(message(.append, from: 2, to: 1, term: 1, index: 0, logTerm: 0, entries: entries(terms: [1, 1])))
        let first = node.ready()
        node.advanceApplied(first)
        node.step(message(.append, from: 3, to: 1, term: 2, index: 1, logTerm: 1, entries: [Entry(term: 2, index: 2)]))
        // The term changed: the node follows a new leader (a role change is reported first).
        XCTAssertFalse(node.acceptsAnotherReady, "a leader change is not pipelined")
        node.advance(first)
        XCTAssertEqual(node.log.stableIndex, 0, "entry 2 of the first batch was replaced; nothing after the truncation counted")
        let second = node.ready()
        XCTAssertEqual(second.entries, [Entry(term: 2, index: 2)])
        XCTAssertEqual(second.hardState?.term, 2)
        node.advance(second)
        XCTAssertEqual(node.log.stableIndex, 2)
    }

    /// The log's own bookkeeping: a truncation below what was handed out hands the new suffix
    /// out again and never leaves anything after the conflict counted durable.
    func testTruncationWithinPipelineRewritesFromTheConflict() {
        var node = follower(term: 2)
        node.step(message(.append, from: 2, to: 1, term: 2, index: 0, logTerm: 0, entries: entries(terms: [1, 1, 1])))
        let first = node.ready()
        node.advanceApplied(first)
        _ = node.ready() // reports nothing new
        XCTAssertEqual(node.log.handedOutIndex, 3)
        node.log.append([Entry(term: 2, index: 2)])
        XCTAssertEqual(node.log.handedOutIndex, 1, "the truncated entries are handed out again")
        XCTAssertEqual(node.log.stableIndex, 0)
    }

    /// The leader's own batches count toward a commit only once confirmed, in order.
    func testLeaderCountsItsOwnEntriesOnlyOnceTheirBatchIsConfirmed() throws {
        var leader = makeRaft(1, term: 1)
        leader.forceLeader()
        leader.commitNoop()
        try leader.propose([1])
        let first = leader.ready()
        leader.advanceApplied(first)
        try leader.propose([2])
        XCTAssertTrue(leader.acceptsAnotherReady)
        let second = leader.ready()
        leader.advanceApplied(second)
        XCTAssertEqual(second.entries.map(\.data), [[2]])
        let last = second.entries[0].index
        leader.step(message(.appendResponse, from: 2, to: 1, term: leader.term, index: last))
        XCTAssertEqual(leader.commitIndex, last - 2, "one follower and no durable leader copy is no quorum")
        leader.advance(first)
        XCTAssertEqual(leader.commitIndex, last - 1, "the first batch is durable here: with follower 2 a quorum holds entry 1")
        leader.advance(second)
        XCTAssertEqual(leader.commitIndex, last)
    }

    /// A batch whose committed entries were not applied before its write, one reporting a role
    /// change, one carrying a snapshot, or too many in flight: no further batch until confirmed.
    func testNoPipeliningWithoutEarlyApplyOrAcrossABarrierOrBeyondTheLimit() throws {
        var node = follower(term: 1)
        node.step(message(.append, from: 2, to: 1, term: 1, index: 0, logTerm: 0, entries: entries(terms: [1]), commit: 1))
        let unapplied = node.ready()
        node.step(message(.append, from: 2, to: 1, term: 1, index: 1, logTerm: 1, entries: [Entry(term: 1, index: 2)]))
        XCTAssertFalse(node.acceptsAnotherReady, "its committed entries are not applied yet")
        node.advance(unapplied)
        XCTAssertTrue(node.acceptsAnotherReady)

        var candidate = makeRaft(1, term: 1)
        candidate.campaign(.election)
        let campaign = candidate.ready()
        candidate.advanceApplied(campaign)
        XCTAssertNotNil(campaign.softState)
        XCTAssertFalse(candidate.acceptsAnotherReady, "a role change is confirmed before anything follows it")

        var leader = makeRaft(1, term: 1)
        leader.forceLeader()
        leader.commitNoop()
        for value in 0..<RaftNode.maxOutstandingReadies {
            try leader.propose([UInt8(value)])
            XCTAssertTrue(leader.acceptsAnotherReady)
            leader.advanceApplied(leader.ready())
        }
        XCTAssertFalse(leader.acceptsAnotherReady, "at most \(RaftNode.maxOutstandingReadies) in flight")
    }
}
