@testable import Raft
import Wire
import XCTest

/// The persistence contract of `Ready` (reference §5 items 8 and 9), flow control, and the
/// message wire format.
final class ReadyContractTests: XCTestCase {
    // MARK: Persistence

    /// A vote is granted only in a Ready whose hard state carries it, marked mustSync, so the
    /// shell fsyncs the vote before the grant leaves the node.
    func testVoteGrantTravelsWithPersistedVote() {
        var node = makeRaft(1, term: 1)
        XCTAssertFalse(node.hasReady)
        node.step(message(.vote, from: 2, to: 1, term: 2))
        let batch = node.ready()
        XCTAssertEqual(batch.hardState, HardState(term: 2, vote: 2, commit: 0))
        XCTAssertTrue(batch.mustSync)
        XCTAssertEqual(batch.messages.map(\.kind), [.voteResponse])
        XCTAssertEqual(batch.messages.first?.reject, false)
        node.advance(batch)
        XCTAssertFalse(node.hasReady)

        // Asked again (the first grant was lost): granted again, nothing new to persist.
        node.step(message(.vote, from: 2, to: 1, term: 2))
        let again = node.ready()
        XCTAssertNil(again.hardState)
        XCTAssertEqual(again.messages.first?.reject, false)
        node.advance(again)
    }

    /// A candidate's own vote is in the same Ready as its vote requests.
    func testCandidatePersistsSelfVoteWithRequests() {
        var node = makeRaft(1, term: 3)
        node.campaign(.election)
        let batch = node.ready()
        XCTAssertEqual(batch.hardState?.term, 4)
        XCTAssertEqual(batch.hardState?.vote, 1)
        XCTAssertTrue(batch.mustSync)
        XCTAssertEqual(batch.messages.map(\.kind), [.vote, .vote])
        node.advance(batch)
    }

    /// PreVote changes nothing durable: its requests need no fsync.
    func testPreVoteNeedsNoSync() {
        var node = makeRaft(1, term: 3, config: testConfig(1, preVote: true))
        node.campaign(.preVote)
        let batch = node.ready()
        XCTAssertNil(batch.hardState)
        XCTAssertFalse(batch.mustSync)
        XCTAssertEqual(batch.softState?.role, .preCandidate)
        XCTAssertEqual(batch.messages.map(\.kind), [.preVote, .preVote])
    }

    /// A follower's acknowledgement of new entries comes in the Ready that carries those entries
    /// for persistence (the shell writes them before sending).
    func testAppendAckTravelsWithEntries() {
        var node = makeRaft(1, term: 1)
        node.step(message(.append, from: 2, to: 1, term: 1, index: 0, logTerm: 0, entries: entries(terms: [1, 1]), commit: 1))
        let batch = node.ready()
        XCTAssertEqual(batch.entries, entries(terms: [1, 1]))
        XCTAssertTrue(batch.mustSync)
        XCTAssertEqual(batch.messages.first?.kind, .appendResponse)
        XCTAssertEqual(batch.messages.first?.index, 2)
        XCTAssertEqual(batch.hardState?.commit, 1)
        XCTAssertEqual(batch.committedEntries, [Entry(term: 1, index: 1)])
        node.advance(batch)
        XCTAssertFalse(node.hasReady)
    }

    /// etcd #14370: a single-voter leader must not hand out an entry to apply before it is
    /// durable. The entry appears in `entries` first; only after `advance` is it committed.
    func testSingleNodeCommitsOnlyAfterPersisting() {
        var node = makeRaft(1, voters: [1])
        node.campaign(.election)
        XCTAssertEqual(node.role, .leader)
        node.persistAndAdvance()
        node.persistAndAdvance()
        try! node.propose([7])
        let first = node.ready()
        XCTAssertEqual(first.entries.map(\.data), [[7]])
        XCTAssertTrue(first.committedEntries.isEmpty, "not durable yet, so not committed")
        XCTAssertEqual(node.commitIndex, 1)
        node.advance(first)
        XCTAssertEqual(node.commitIndex, 2)
        let second = node.ready()
        XCTAssertTrue(second.entries.isEmpty)
        XCTAssertEqual(second.committedEntries.map(\.data), [[7]])
        node.advance(second)
    }

    /// Steps may happen between `ready()` and `advance()`; what they produce comes in the next
    /// batch and nothing is lost or duplicated.
    func testInputsBetweenReadyAndAdvance() {
        var node = makeRaft(1, term: 1)
        node.step(message(.append, from: 2, to: 1, term: 1, index: 0, logTerm: 0, entries: entries(terms: [1])))
        let first = node.ready()
        node.step(message(.append, from: 2, to: 1, term: 1, index: 1, logTerm: 1, entries: [Entry(term: 1, index: 2)], commit: 2))
        node.advance(first)
        let second = node.ready()
        XCTAssertEqual(second.entries, [Entry(term: 1, index: 2)])
        XCTAssertEqual(second.committedEntries, entries(terms: [1, 1]))
        XCTAssertEqual(second.messages.count, 1)
        node.advance(second)
        XCTAssertFalse(node.hasReady)
    }

    /// A leadership change is reported once through the soft state.
    func testSoftStateReportedOnChange() {
        var node = makeRaft(1, voters: [1])
        XCTAssertNil(node.ready().softState)
        node.advance(Ready())
        node.campaign(.election)
        let batch = node.ready()
        XCTAssertEqual(batch.softState, SoftState(leader: 1, role: .leader))
        node.advance(batch)
        XCTAssertNil(node.ready().softState)
    }

    /// A node restarted from exactly what it persisted resumes with the same term, vote, log
    /// and commit index, and re-applies committed entries from its snapshot on.
    func testRestartFromPersistedState() {
        let cluster = TestNetwork(voters: [1, 2, 3])
        cluster.campaign(1)
        try! cluster.propose(1, "a")
        try! cluster.propose(1, "b")
        let before = cluster[2]
        cluster.crash(2)
        cluster.restart(2)
        XCTAssertEqual(cluster[2].term, before.term)
        XCTAssertEqual(cluster[2].vote, before.vote)
        XCTAssertEqual(cluster[2].lastIndex, before.lastIndex)
        XCTAssertLessThanOrEqual(cluster[2].commitIndex, before.commitIndex)
        XCTAssertEqual(cluster[2].confState, before.confState)
        cluster.tickAll()
        XCTAssertEqual(cluster[2].commitIndex, cluster[1].commitIndex)
    }

    // MARK: Flow control

    private func leaderWithWindow(_ window: Int) -> RaftNode {
        var config = testConfig(1)
        config.maxInflightMessages = window
        var leader = makeRaft(1, config: config)
        leader.forceLeader()
        leader.commitNoop()
        XCTAssertTrue(leader.progress(of: 2)!.isReplicating)
        return leader
    }

    /// With the inflight window full, replication to that follower pauses.
    func testFullInflightWindowPausesReplication() {
        var leader = leaderWithWindow(3)
        for value in 0..<3 { try! leader.propose([UInt8(value)]) }
        XCTAssertEqual(leader.takeMessages().filter { $0.to == 2 && $0.kind == .append }.count, 3)
        XCTAssertTrue(leader.progress(of: 2)!.isPaused)
        for value in 3..<8 { try! leader.propose([UInt8(value)]) }
        XCTAssertTrue(leader.takeMessages().filter { $0.to == 2 }.isEmpty, "window full: nothing more to node 2")
    }

    /// An acknowledgement frees every message up to the acknowledged index, and the leader
    /// sends what waited.
    func testAckMovesWindowForward() {
        var leader = leaderWithWindow(3)
        for value in 0..<3 { try! leader.propose([UInt8(value)]) }
        let sent = leader.takeMessages().filter { $0.to == 2 }
        for value in 3..<6 { try! leader.propose([UInt8(value)]) }
        _ = leader.takeMessages()
        // Acknowledge the first two appends.
        leader.step(message(.appendResponse, from: 2, to: 1, term: leader.term, index: sent[1].entries.last!.index))
        let resumed = leader.takeMessages().filter { $0.to == 2 && $0.kind == .append }
        XCTAssertEqual(resumed.count, 1, "the waiting entries go in one message")
        XCTAssertEqual(resumed.first?.entries.map(\.data), [[3], [4], [5]])
        XCTAssertFalse(leader.progress(of: 2)!.isPaused, "two in flight (index 4 and the new one): one slot free")
    }

    /// A heartbeat answer frees one slot of a full window, so a follower whose acknowledgements
    /// were lost is not stuck.
    func testHeartbeatResponseFreesOneSlot() {
        var leader = leaderWithWindow(3)
        for value in 0..<6 { try! leader.propose([UInt8(value)]) }
        _ = leader.takeMessages()
        XCTAssertTrue(leader.progress(of: 2)!.isPaused)
        leader.step(message(.heartbeatResponse, from: 2, to: 1, term: leader.term))
        let resumed = leader.takeMessages().filter { $0.to == 2 && $0.kind == .append }
        XCTAssertEqual(resumed.count, 1)
        XCTAssertEqual(resumed.first?.entries.map(\.data), [[3], [4], [5]])
        XCTAssertTrue(leader.progress(of: 2)!.isPaused)
    }

    /// `maxBytesPerMessage` splits a large batch across messages: the broadcast carries the first
    /// piece, the acknowledgement releases the rest back to back.
    func testMessageSizeLimit() {
        var config = testConfig(1)
        config.maxBytesPerMessage = 100
        var leader = makeRaft(1, config: config)
        leader.forceLeader()
        leader.commitNoop()
        try! leader.propose(batch: Array(repeating: Array(repeating: 1, count: 40), count: 4))
        var appends = leader.takeMessages().filter { $0.to == 2 && $0.kind == .append }
        XCTAssertEqual(appends.count, 1)
        XCTAssertEqual(appends.first?.entries.count, 1, "one 64-byte entry fits under the 100-byte cap, two do not")
        leader.step(message(.appendResponse, from: 2, to: 1, term: leader.term, index: appends[0].entries[0].index))
        appends = leader.takeMessages().filter { $0.to == 2 && $0.kind == .append }
        XCTAssertEqual(appends.map(\.entries.count), [1, 1, 1])
        XCTAssertEqual(appends.last?.entries.last?.index, leader.lastIndex)
    }

    // MARK: Wire format

    /// Every message kind, with every field set, survives encode/decode unchanged.
    func testMessageWireRoundTrip() throws {
        for kind in MessageKind.allCases {
            var original = Message(kind: kind, from: 3, to: 1 << 40, term: 987_654_321)
            original.logTerm = 12
            original.index = UInt64.max
            original.entries = [
                Entry(term: 1, index: 2, kind: .normal, data: [1, 2, 3]),
                Entry(term: 4, index: 3, kind: .confChange, data: ConfChange(kind: .addLearner, nodeID: 9, context: [8]).wireBytes()),
                Entry(term: 4, index: 4, kind: .leaderNoop),
            ]
            original.commit = 77
            original.reject = true
            original.rejectHint = 5
            original.context = Array("ctx".utf8)
            original.readRound = 42
            original.isTransfer = true
            original.snapshotMetadata = SnapshotMetadata(index: 10, term: 2, confState: ConfState(voters: [1, 2, 3], learners: [4]))
            original.chunkOffset = 16
            original.chunkTotal = 100
            original.chunkData = Array(0..<16)
            let decoded = try Message(wireBytes: original.wireBytes())
            XCTAssertEqual(decoded, original, "\(kind)")

            let minimal = Message(kind: kind, from: 1, to: 2, term: 0)
            XCTAssertEqual(try Message(wireBytes: minimal.wireBytes()), minimal, "\(kind)")
        }
    }

    func testOtherRaftTypesRoundTrip() throws {
        let hard = HardState(term: 5, vote: 2, commit: 99)
        XCTAssertEqual(try HardState(wireBytes: hard.wireBytes()), hard)
        let change = ConfChange(kind: .removeNode, nodeID: 7, context: Array("addr".utf8))
        XCTAssertEqual(try ConfChange(wireBytes: change.wireBytes()), change)
        let snapshot = Snapshot(metadata: SnapshotMetadata(index: 3, term: 1, confState: ConfState(voters: [1])), data: [1, 2])
        XCTAssertEqual(try Snapshot(wireBytes: snapshot.wireBytes()), snapshot)
    }

    /// Damaged input is an error, never a trap: every truncation, an unknown kind, trailing bytes.
    func testMalformedMessagesAreRejected() {
        var sample = Message(kind: .append, from: 1, to: 2, term: 3)
        sample.entries = entries(terms: [1, 2])
        sample.context = [1, 2, 3]
        let bytes = sample.wireBytes()
        for length in 0..<bytes.count {
            XCTAssertThrowsError(try Message(wireBytes: Array(bytes.prefix(length))), "truncated to \(length)")
        }
        var unknownKind = bytes
        unknownKind[0] = 200
        XCTAssertThrowsError(try Message(wireBytes: unknownKind))
        XCTAssertThrowsError(try Message(wireBytes: bytes + [0]))
    }
}
