@testable import Raft
import XCTest

/// Linearizable reads with ReadIndex (thesis §6.4; reference §5 items 2 and 3).
final class ReadIndexTests: XCTestCase {
    private func network(_ voters: [NodeID] = [1, 2, 3]) -> TestNetwork {
        TestNetwork(voters: voters) { config in
            config.preVote = true
            config.checkQuorum = true
        }
    }

    private func contexts(_ states: [ReadState]?) -> [String] {
        (states ?? []).map { String(decoding: $0.context, as: UTF8.self) }
    }

    /// The leader answers with its commit index once a quorum confirmed it still leads.
    func testLeaderReadAfterQuorumRound() {
        let cluster = network()
        cluster.campaign(1)
        try! cluster.propose(1, "x")
        cluster.clearHistory()
        XCTAssertTrue(cluster.readIndex(1, "r1"))
        XCTAssertEqual(contexts(cluster.readStates[1]), ["r1"])
        XCTAssertEqual(cluster.readStates[1]?.first?.index, cluster[1].commitIndex)
        let beats = cluster.sent(.heartbeat, from: 1)
        XCTAssertEqual(beats.count, 2, "the read triggered one heartbeat round")
        XCTAssertTrue(beats.allSatisfy { $0.readRound > 0 })
    }

    /// A new leader's commit index may lag the cluster's until its no-op commits, so it must not
    /// serve reads before that (etcd #7331). The read is queued, not lost.
    func testNewLeaderDefersReadsUntilItsNoopCommits() {
        let cluster = network()
        cluster.campaign(1)
        try! cluster.propose(1, "x")
        // Hand leadership to node 2 but keep its no-op from anybody.
        cluster.ignore(.append)
        cluster[1].transferLeadership(to: 2)
        cluster.stabilize()
        XCTAssertEqual(cluster.leader, 2)
        let noopIndex = cluster[2].lastIndex
        XCTAssertLessThan(cluster[2].commitIndex, noopIndex)

        XCTAssertTrue(cluster.readIndex(2, "early"))
        cluster.tickAll()
        XCTAssertEqual(contexts(cluster.readStates[2]), [], "heartbeats alone must not release it")

        cluster.recover()
        cluster.tickAll()
        XCTAssertEqual(contexts(cluster.readStates[2]), ["early"])
        XCTAssertGreaterThanOrEqual(cluster.readStates[2]!.first!.index, noopIndex)
    }

    /// A leader cut off from the majority cannot confirm its leadership, so it never answers the
    /// read — while the majority elects a new leader and commits newer writes (Jepsen's etcd
    /// 0.4.1 stale read, reference §5 item 2).
    func testPartitionedLeaderCannotServeReads() {
        let cluster = network([1, 2, 3, 4, 5])
        cluster.campaign(1)
        try! cluster.propose(1, "v1")
        cluster.partition([1, 2])
        XCTAssertTrue(cluster.readIndex(1, "stale?"))
        XCTAssertEqual(contexts(cluster.readStates[1]), [], "only 2 of 5 answered the round")
        cluster.tickAll(times: 30)
        let newLeader = try! XCTUnwrap(cluster.leader)
        XCTAssertTrue([3, 4, 5].contains(newLeader))
        try! cluster.propose(newLeader, "v2")
        XCTAssertEqual(contexts(cluster.readStates[1]), [], "never served")
        XCTAssertEqual(cluster[1].role, .follower)

        // The new leader serves reads at an index covering v2.
        XCTAssertTrue(cluster.readIndex(newLeader, "fresh"))
        XCTAssertEqual(cluster.readStates[newLeader]?.last?.index, cluster[newLeader].commitIndex)
    }

    /// A follower's read goes through the leader and comes back as a ReadState on the follower.
    func testFollowerReadViaLeader() {
        let cluster = network()
        cluster.campaign(1)
        try! cluster.propose(1, "x")
        XCTAssertTrue(cluster.readIndex(2, "from 2"))
        XCTAssertEqual(contexts(cluster.readStates[2]), ["from 2"])
        XCTAssertEqual(cluster.readStates[2]?.first?.index, cluster[1].commitIndex)
        XCTAssertEqual(contexts(cluster.readStates[1]), [], "the leader answered, it did not keep it")
        XCTAssertEqual(cluster.sent(.readIndex, from: 2, to: 1).count, 1)
        XCTAssertEqual(cluster.sent(.readIndexResponse, from: 1, to: 2).count, 1)
    }

    /// Without a known leader there is nobody to ask.
    func testReadWithoutLeaderIsRefused() {
        let cluster = network()
        XCTAssertFalse(cluster.readIndex(2, "nobody"))
        var candidate = makeRaft(1)
        candidate.campaign(.election)
        XCTAssertFalse(candidate.readIndex(context: [1]))
    }

    /// Several reads in one round are all answered, in order, at the index current when each
    /// was asked.
    func testReadsAnsweredInOrderAtTheirOwnIndex() {
        let cluster = network()
        cluster.campaign(1)
        cluster.ignore(.heartbeatResponse)
        _ = cluster.readIndex(1, "a")
        try! cluster.propose(1, "x")
        _ = cluster.readIndex(1, "b")
        XCTAssertEqual(contexts(cluster.readStates[1]), [])
        cluster.recover()
        cluster.tickAll()
        XCTAssertEqual(contexts(cluster.readStates[1]), ["a", "b"])
        let indexes = cluster.readStates[1]!.map(\.index)
        XCTAssertLessThan(indexes[0], indexes[1])
    }

    /// A single-voter leader needs no round.
    func testSingleNodeReadIsImmediate() {
        let cluster = network([1])
        cluster.campaign(1)
        XCTAssertTrue(cluster.readIndex(1, "solo"))
        XCTAssertEqual(contexts(cluster.readStates[1]), ["solo"])
        XCTAssertTrue(cluster.sent(.heartbeat).isEmpty)
    }

    /// Learners' answers do not confirm leadership.
    func testLearnerAcksDoNotConfirmReads() {
        let cluster = network()
        cluster.campaign(1)
        cluster.addJoining(4)
        try! cluster.proposeConfChange(1, ConfChange(kind: .addLearner, nodeID: 4))
        cluster.tickAll()
        cluster.crash(2)
        cluster.crash(3)
        _ = cluster.readIndex(1, "needs voters")
        cluster.tick(1)
        cluster.stabilize()
        XCTAssertEqual(contexts(cluster.readStates[1]), [])
        XCTAssertFalse(cluster.sent(.heartbeatResponse, from: 4, to: 1).isEmpty, "the learner did answer")
    }
}
