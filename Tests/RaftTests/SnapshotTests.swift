@testable import Raft
import XCTest

/// Log compaction and chunked snapshot install (Raft paper §7).
final class SnapshotTests: XCTestCase {
    private let chunkSize = 16
    private let image: [UInt8] = (0..<100).map { UInt8($0) }

    private func network(_ voters: [NodeID] = [1, 2, 3]) -> TestNetwork {
        TestNetwork(voters: voters) { config in
            config.preVote = true
            config.checkQuorum = true
            config.snapshotChunkSize = 16
        }
    }

    /// A follower that missed entries the leader has compacted away receives the snapshot in
    /// chunks of `snapshotChunkSize` bytes, installs it, and then follows the log.
    func testLaggingFollowerGetsChunkedSnapshot() {
        let cluster = network()
        cluster.campaign(1)
        cluster.isolate(3)
        for index in 0..<10 { try! cluster.propose(1, "e\(index)") }
        let snapshot = cluster.compact(1, data: image)
        XCTAssertEqual(snapshot.metadata.index, cluster[1].commitIndex)
        XCTAssertEqual(snapshot.metadata.confState, ConfState(voters: [1, 2, 3]))
        XCTAssertEqual(cluster[1].firstIndex, snapshot.metadata.index + 1)

        cluster.recover()
        cluster.clearHistory()
        cluster.tickAll()
        let chunks = cluster.sent(.snapshotChunk, from: 1, to: 3)
        XCTAssertEqual(chunks.count, (image.count + chunkSize - 1) / chunkSize)
        XCTAssertEqual(chunks.map(\.chunkOffset), stride(from: 0, to: image.count, by: chunkSize).map(UInt64.init))
        XCTAssertTrue(chunks.allSatisfy { $0.chunkData.count <= chunkSize && $0.chunkTotal == UInt64(image.count) })
        XCTAssertEqual(chunks.flatMap(\.chunkData), image)

        XCTAssertEqual(cluster.installedSnapshots[3]?.map(\.metadata), [snapshot.metadata])
        XCTAssertEqual(cluster.installedSnapshots[3]?.first?.data, image)
        XCTAssertEqual(cluster[3].commitIndex, snapshot.metadata.index)
        XCTAssertEqual(cluster[3].snapshotIndex, snapshot.metadata.index)
        XCTAssertEqual(cluster.storage[3]?.snapshot.metadata, snapshot.metadata, "persisted through Ready.snapshot")
        XCTAssertTrue(cluster[1].progress(of: 3)!.isReplicating, "back to normal replication")

        try! cluster.propose(1, "after")
        XCTAssertEqual(cluster.applied(3), ["after"], "entries folded into the snapshot are not replayed")
        cluster.assertSameLog(1, 3)

        // What node 3 persisted is enough to restart it.
        cluster.crash(3)
        cluster.restart(3)
        cluster.tickAll()
        cluster.assertSameLog(1, 3)
    }

    /// A lost chunk (or its acknowledgement) stalls the transfer only until the next heartbeat,
    /// whose answer makes the leader resend from the follower's last acknowledged offset.
    func testLostChunkIsResentOnHeartbeat() {
        let cluster = network()
        cluster.campaign(1)
        cluster.isolate(3)
        for index in 0..<5 { try! cluster.propose(1, "e\(index)") }
        cluster.compact(1, data: image)
        cluster.recover()

        var dropped = false
        cluster.intercept = { message in
            if message.kind == .snapshotChunk && message.chunkOffset == 48 && !dropped {
                dropped = true
                return false
            }
            return true
        }
        cluster.tickAll()
        XCTAssertTrue(dropped)
        XCTAssertNil(cluster.installedSnapshots[3], "stalled at offset 48")
        cluster.tickAll()
        XCTAssertEqual(cluster.installedSnapshots[3]?.first?.data, image)
        try! cluster.propose(1, "after")
        XCTAssertEqual(cluster.applied(3), ["after"])
    }

    /// A new member joins a cluster whose leader has compacted its log: it gets the snapshot
    /// (taken before the change, so without itself in it), then the membership entry that adds
    /// it, and ends up a full voter.
    func testSnapshotInstallToNodeBeingAdded() {
        let cluster = network()
        cluster.campaign(1)
        for index in 0..<5 { try! cluster.propose(1, "e\(index)") }
        cluster.compact(1, data: image)

        cluster.addJoining(4)
        try! cluster.proposeConfChange(1, ConfChange(kind: .addVoter, nodeID: 4))
        XCTAssertEqual(cluster[1].confState.voters, [1, 2, 3, 4])
        cluster.tickAll(times: 2)

        XCTAssertEqual(cluster.installedSnapshots[4]?.first?.metadata.confState, ConfState(voters: [1, 2, 3]))
        XCTAssertGreaterThan(cluster.sent(.snapshotChunk, to: 4).count, 1)
        XCTAssertEqual(cluster[4].confState, ConfState(voters: [1, 2, 3, 4]), "applied its own addition after the snapshot")
        cluster.assertSameLog(1, 4)

        // Node 4 counts toward the quorum of four: with 2 and 3 down nothing commits, with 4 up
        // and only 3 down it does.
        cluster.crash(3)
        try! cluster.propose(1, "three of four")
        XCTAssertEqual(cluster.applied(4), ["three of four"])
        cluster.crash(2)
        let stuck = try! cluster.propose(1, "two of four")
        XCTAssertLessThan(cluster[1].commitIndex, stuck.index)
    }

    /// A snapshot taken while a membership change is in flight carries the membership as of its
    /// index; a follower that was away for several changes learns them all from the snapshot.
    func testSnapshotCarriesMembershipChangesMissedByFollower() {
        let cluster = network()
        cluster.campaign(1)
        cluster.isolate(3)
        cluster.addJoining(4)
        cluster.addJoining(5)
        cluster.isolate(3)
        try! cluster.proposeConfChange(1, ConfChange(kind: .addLearner, nodeID: 4))
        cluster.tickAll()
        try! cluster.proposeConfChange(1, ConfChange(kind: .addVoter, nodeID: 4))
        cluster.tickAll()
        try! cluster.proposeConfChange(1, ConfChange(kind: .addLearner, nodeID: 5))
        cluster.tickAll()
        let expected = ConfState(voters: [1, 2, 3, 4], learners: [5])
        XCTAssertEqual(cluster[1].confState, expected)
        let snapshot = cluster.compact(1, data: image)
        XCTAssertEqual(snapshot.metadata.confState, expected)

        cluster.recover()
        cluster.tickAll(times: 2)
        XCTAssertEqual(cluster.installedSnapshots[3]?.last?.metadata, snapshot.metadata)
        XCTAssertEqual(cluster[3].confState, expected)
        for id: NodeID in [2, 3, 4, 5] {
            cluster.assertSameLog(1, id)
            XCTAssertEqual(cluster[id].confState, expected, "node \(id)")
        }
    }

    /// The leader compacts again while a chunked transfer is under way: the old image is gone,
    /// so the transfer must restart with the new one instead of stalling forever.
    func testLeaderTakesNewerSnapshotDuringTransfer() {
        let cluster = network()
        cluster.campaign(1)
        cluster.isolate(3)
        for index in 0..<5 { try! cluster.propose(1, "e\(index)") }
        cluster.compact(1, data: image)
        cluster.recover()
        // Let the first two chunks through, then lose everything to node 3 for a while.
        var chunksSeen = 0
        cluster.intercept = { message in
            guard message.kind == .snapshotChunk else { return true }
            chunksSeen += 1
            return chunksSeen <= 2
        }
        cluster.tickAll()
        XCTAssertNil(cluster.installedSnapshots[3])
        for index in 0..<5 { try! cluster.propose(1, "f\(index)") }
        let newer = cluster.compact(1, data: Array(image.reversed()))
        cluster.intercept = nil
        cluster.tickAll(times: 3)
        XCTAssertEqual(cluster.installedSnapshots[3]?.last?.metadata, newer.metadata)
        XCTAssertEqual(cluster.installedSnapshots[3]?.last?.data, Array(image.reversed()))
        try! cluster.propose(1, "after")
        XCTAssertEqual(cluster.applied(3), ["after"])
        cluster.assertSameLog(1, 3)
    }

    /// A slow follower after compaction with entries retained: it is fed from the log, no
    /// snapshot needed.
    func testRetainedEntriesAvoidSnapshot() {
        let cluster = network()
        cluster.campaign(1)
        cluster.isolate(3)
        for index in 0..<5 { try! cluster.propose(1, "e\(index)") }
        cluster.compact(1, retain: 10, data: image)
        cluster.recover()
        cluster.tickAll()
        XCTAssertTrue(cluster.sent(.snapshotChunk).isEmpty)
        XCTAssertEqual(cluster.applied(3), (0..<5).map { "e\($0)" })
    }

    /// A snapshot whose last entry the follower already holds only moves the commit index. The
    /// follower's entries after that point have not been checked against the leader's log, so
    /// its acknowledgement must not claim them.
    func testSnapshotMatchingFollowerLogAcknowledgesOnlyTheSnapshotIndex() {
        // Entries 3 and 4 came from a leader of term 2 that lost; the new leader (term 3) does
        // not have them.
        var follower = makeRaft(1, log: entries(terms: [1, 1, 2, 2]), term: 3, commit: 1)
        var chunk = Message(kind: .snapshotChunk, from: 2, to: 1, term: 3)
        let metadata = SnapshotMetadata(index: 2, term: 1, confState: ConfState(voters: [1, 2, 3]))
        chunk.index = 2
        chunk.snapshotMetadata = metadata
        chunk.chunkTotal = 3
        chunk.chunkData = [1, 2, 3]
        follower.step(chunk)
        XCTAssertEqual(follower.commitIndex, 2)
        let answer = follower.takeMessages().last
        XCTAssertEqual(answer?.kind, .appendResponse)
        XCTAssertEqual(answer?.reject, false)
        XCTAssertLessThanOrEqual(answer?.index ?? .max, 2, "must not claim entries 3 and 4 match the leader")
    }

    /// A follower refuses a snapshot older than what it has committed, and answers with its
    /// commit index so the leader moves on.
    func testStaleSnapshotIsAnsweredWithCommitIndex() {
        var follower = makeRaft(1, log: entries(terms: [1, 1, 1]), term: 2, commit: 3)
        var chunk = Message(kind: .snapshotChunk, from: 2, to: 1, term: 2)
        chunk.index = 2
        chunk.snapshotMetadata = SnapshotMetadata(index: 2, term: 1, confState: ConfState(voters: [1, 2, 3]))
        chunk.chunkTotal = 1
        chunk.chunkData = [7]
        follower.step(chunk)
        let answer = follower.takeMessages().last
        XCTAssertEqual(answer?.kind, .appendResponse)
        XCTAssertEqual(answer?.index, 3)
        XCTAssertNil(follower.persistAndAdvance().snapshot)
        XCTAssertEqual(follower.lastIndex, 3)
    }
}
