@testable import Raft
import Wire
import XCTest

/// One-server membership changes (thesis §4.1), learners, and removing the leader.
final class MembershipTests: XCTestCase {
    private func network(_ voters: [NodeID] = [1, 2, 3]) -> TestNetwork {
        TestNetwork(voters: voters) { config in
            config.preVote = true
            config.checkQuorum = true
        }
    }

    /// A new leader must commit an entry of its own term before it may change membership (the
    /// single-server change bug, raft-dev 2015), and only one change may be unapplied at a time.
    func testConfChangeRefusedUntilLeaderCommittedAndWhilePending() {
        var leader = makeRaft(1)
        leader.forceLeader()
        XCTAssertThrowsError(try leader.proposeConfChange(ConfChange(kind: .addVoter, nodeID: 4))) { error in
            XCTAssertEqual(error as? ProposalError, .leaderNotReady)
        }
        leader.commitNoop()
        let position = try! leader.proposeConfChange(ConfChange(kind: .addVoter, nodeID: 4))
        XCTAssertEqual(leader.entry(at: position.index)?.kind, .confChange)
        XCTAssertThrowsError(try leader.proposeConfChange(ConfChange(kind: .addVoter, nodeID: 5))) { error in
            XCTAssertEqual(error as? ProposalError, .confChangePending)
        }
        // Ordinary proposals are still fine.
        XCTAssertNoThrow(try leader.propose([1]))

        // Committed but not yet applied: still pending.
        leader.persistAndAdvance()
        leader.step(message(.appendResponse, from: 2, to: 1, term: leader.term, index: leader.lastIndex))
        XCTAssertGreaterThanOrEqual(leader.commitIndex, position.index)
        XCTAssertThrowsError(try leader.proposeConfChange(ConfChange(kind: .addVoter, nodeID: 5)))
        // Applied: the next change is accepted.
        leader.persistAndAdvance()
        XCTAssertEqual(leader.confState.voters, [1, 2, 3, 4])
        XCTAssertNoThrow(try leader.proposeConfChange(ConfChange(kind: .addVoter, nodeID: 5)))
    }

    func testInvalidConfChangesAreRefused() {
        var leader = makeRaft(1, voters: [1, 2], learners: [3])
        leader.forceLeader()
        leader.commitNoop()
        let invalid: [ConfChange] = [
            ConfChange(kind: .addVoter, nodeID: 2),
            ConfChange(kind: .addLearner, nodeID: 2),
            ConfChange(kind: .addLearner, nodeID: 3),
            ConfChange(kind: .removeNode, nodeID: 9),
        ]
        for change in invalid {
            XCTAssertThrowsError(try leader.proposeConfChange(change), "\(change)") { error in
                guard case .invalidConfChange = error as? ProposalError else { return XCTFail("\(error)") }
            }
        }
        var single = makeRaft(1, voters: [1])
        single.forceLeader()
        single.persistAndAdvance()
        single.persistAndAdvance()
        XCTAssertThrowsError(try single.proposeConfChange(ConfChange(kind: .removeNode, nodeID: 1)))
    }

    /// A change proposed while a new leader still has an unapplied change from an earlier term
    /// waits for that one.
    func testNewLeaderWaitsForInheritedConfChange() {
        var log = entries(terms: [1])
        log.append(Entry(term: 1, index: 2, kind: .confChange, data: ConfChange(kind: .addLearner, nodeID: 4).wireBytes()))
        var leader = makeRaft(1, log: log, term: 1, commit: 1)
        leader.forceLeader()
        leader.persistAndAdvance()
        // Commit the no-op (and with it the inherited change) but do not apply it yet.
        leader.step(message(.appendResponse, from: 2, to: 1, term: leader.term, index: leader.lastIndex))
        XCTAssertEqual(leader.commitIndex, 3)
        XCTAssertThrowsError(try leader.proposeConfChange(ConfChange(kind: .addVoter, nodeID: 5))) { error in
            XCTAssertEqual(error as? ProposalError, .confChangePending)
        }
        leader.persistAndAdvance()
        XCTAssertEqual(leader.confState.learners, [4])
        XCTAssertNoThrow(try leader.proposeConfChange(ConfChange(kind: .addVoter, nodeID: 5)))
    }

    /// Adding a voter: it catches up from the leader and counts toward the larger quorum.
    func testAddVoter() {
        let cluster = network()
        cluster.campaign(1)
        try! cluster.propose(1, "before")
        cluster.addJoining(4)
        try! cluster.proposeConfChange(1, ConfChange(kind: .addVoter, nodeID: 4))
        cluster.tickAll()
        for id in cluster.ids {
            XCTAssertEqual(cluster[id].confState.voters, [1, 2, 3, 4], "node \(id)")
            cluster.assertSameLog(1, id)
        }
        XCTAssertEqual(cluster.applied(4), ["before"])
        // Quorum is now 3 of 4.
        cluster.crash(2)
        cluster.crash(3)
        let position = try! cluster.propose(1, "needs three")
        XCTAssertLessThan(cluster[1].commitIndex, position.index)
        cluster.restart(3)
        cluster.tickAll()
        XCTAssertGreaterThanOrEqual(cluster[1].commitIndex, position.index)
    }

    /// Removing a follower shrinks the quorum once the change applies; the removed node, even
    /// if it missed the change and keeps pre-voting, cannot disturb the cluster.
    func testRemoveFollower() {
        let cluster = network()
        cluster.campaign(1)
        let term = cluster[1].term
        cluster.crash(3)
        try! cluster.proposeConfChange(1, ConfChange(kind: .removeNode, nodeID: 3))
        XCTAssertEqual(cluster[1].confState.voters, [1, 2])
        XCTAssertNil(cluster[1].progress(of: 3))
        try! cluster.propose(1, "two voters")
        XCTAssertEqual(cluster.applied(2), ["two voters"])

        cluster.restart(3)
        XCTAssertEqual(cluster[3].confState.voters, [1, 2, 3], "it never learned of its removal")
        cluster.tickAll(times: 100)
        XCTAssertEqual(cluster.leader, 1)
        XCTAssertEqual(cluster[1].term, term)
        XCTAssertTrue(cluster.sent(.vote, from: 3).isEmpty)
    }

    /// Removing the leader: it keeps leading until the change commits, then steps down and
    /// hands over with TimeoutNow, so a successor is elected without waiting out a timeout.
    func testRemoveLeaderStepsDownAndSuccessorIsElectedAtOnce() {
        let cluster = network()
        cluster.campaign(1)
        let term = cluster[1].term
        cluster.ignore(.appendResponse)
        try! cluster.proposeConfChange(1, ConfChange(kind: .removeNode, nodeID: 1))
        XCTAssertEqual(cluster[1].role, .leader, "the removal is not committed yet")
        XCTAssertNoThrow(try cluster.propose(1, "still leading"))

        cluster.recover()
        cluster.clearHistory()
        cluster.tick(1)
        cluster.stabilize()
        XCTAssertEqual(cluster[1].role, .follower)
        XCTAssertFalse(cluster[1].isPromotable)
        XCTAssertEqual(cluster.sent(.timeoutNow, from: 1).count, 1)
        let successor = try! XCTUnwrap(cluster.leader, "elected with no further tick")
        XCTAssertTrue([2, 3].contains(successor))
        XCTAssertEqual(cluster[successor].term, term + 1)
        XCTAssertEqual(cluster[successor].confState.voters, [2, 3])
        XCTAssertEqual(cluster.applied(successor), ["still leading"])

        try! cluster.propose(successor, "after")
        cluster.tickAll(times: 50)
        XCTAssertEqual(cluster.leader, successor)
        XCTAssertTrue(cluster.sent(.preVote, from: 1).isEmpty && cluster.sent(.vote, from: 1).isEmpty,
                      "a removed node never campaigns")
        let other: NodeID = successor == 2 ? 3 : 2
        XCTAssertEqual(cluster.applied(other), ["still leading", "after"])
    }

    /// Learners receive the log but neither campaign nor count toward any quorum; promoting one
    /// makes it a voter.
    func testLearnerDoesNotVoteOrCampaignAndGetsPromoted() {
        let cluster = network()
        cluster.campaign(1)
        cluster.addJoining(4)
        try! cluster.proposeConfChange(1, ConfChange(kind: .addLearner, nodeID: 4))
        try! cluster.propose(1, "for the learner")
        cluster.tickAll()
        XCTAssertEqual(cluster[4].confState, ConfState(voters: [1, 2, 3], learners: [4]))
        XCTAssertFalse(cluster[4].isPromotable)
        XCTAssertEqual(cluster.applied(4), ["for the learner"])

        // Its acknowledgements do not count: with 2 and 3 down, nothing commits.
        cluster.crash(2)
        cluster.crash(3)
        let blocked = try! cluster.propose(1, "blocked")
        XCTAssertEqual(cluster[4].lastIndex, blocked.index)
        XCTAssertLessThan(cluster[1].commitIndex, blocked.index)
        cluster.restart(2)
        cluster.restart(3)
        cluster.tickAll()

        // With the leader gone, the learner never campaigns and is never asked to vote.
        cluster.crash(1)
        cluster.clearHistory()
        cluster.tickAll(times: 60)
        let leader = try! XCTUnwrap(cluster.leader)
        XCTAssertTrue([2, 3].contains(leader))
        XCTAssertTrue(cluster.sent(.preVote, from: 4).isEmpty && cluster.sent(.vote, from: 4).isEmpty)
        XCTAssertTrue(cluster.sent(.preVote, to: 4).isEmpty && cluster.sent(.vote, to: 4).isEmpty)
        XCTAssertEqual(cluster[4].leader, leader)

        // Leadership cannot be handed to a learner.
        cluster[leader].transferLeadership(to: 4)
        cluster.stabilize()
        XCTAssertTrue(cluster.sent(.timeoutNow).isEmpty)

        // Promote it: as one of four voters its acknowledgement now counts.
        cluster.restart(1)
        cluster.tickAll()
        try! cluster.proposeConfChange(leader, ConfChange(kind: .addVoter, nodeID: 4))
        cluster.tickAll()
        XCTAssertEqual(cluster[4].confState.voters, [1, 2, 3, 4])
        XCTAssertTrue(cluster[4].isPromotable)
        let other: NodeID = leader == 2 ? 3 : 2
        cluster.crash(other)
        let position = try! cluster.propose(leader, "with the promoted learner")
        XCTAssertGreaterThanOrEqual(cluster[leader].commitIndex, position.index, "leader, 1 and 4 are three of four")
    }

    /// A learner does not start elections on its own, even when told to (TimeoutNow), and a
    /// candidate does not count a learner's vote.
    func testLearnerUnit() {
        var learner = makeRaft(4, voters: [1, 2, 3], learners: [4])
        for _ in 0..<100 { learner.tick() }
        XCTAssertEqual(learner.role, .follower)
        XCTAssertTrue(learner.takeMessages().isEmpty)
        learner.step(message(.timeoutNow, from: 1, to: 4, term: 0))
        XCTAssertEqual(learner.role, .follower)

        var candidate = makeRaft(1, voters: [1, 2, 3], learners: [4])
        candidate.campaign(.election)
        XCTAssertEqual(candidate.takeMessages().map(\.to), [2, 3], "learners are not asked")
        candidate.step(message(.voteResponse, from: 4, to: 1, term: candidate.term))
        XCTAssertEqual(candidate.role, .candidate, "a learner's vote does not count")
        candidate.step(message(.voteResponse, from: 3, to: 1, term: candidate.term))
        XCTAssertEqual(candidate.role, .leader)
    }
}
