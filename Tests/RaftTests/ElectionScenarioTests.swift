@testable import Raft
import XCTest

/// Whole-cluster election scenarios (after etcd's raft_test.go), with and without PreVote.
final class ElectionScenarioTests: XCTestCase {
    private func network(_ voters: [NodeID], preVote: Bool = false, checkQuorum: Bool = false) -> TestNetwork {
        TestNetwork(voters: voters) { config in
            config.preVote = preVote
            config.checkQuorum = checkQuorum
        }
    }

    /// Elections with some nodes down: a majority of live voters elects a leader, a minority
    /// cannot (and with PreVote does not even bump its term).
    func testLeaderElectionWithDeadNodes() {
        for preVote in [false, true] {
            let cases: [(voters: [NodeID], down: [NodeID], role: RaftRole, term: UInt64)] = [
                ([1, 2, 3], [], .leader, 2),
                ([1, 2, 3], [3], .leader, 2),
                ([1, 2, 3], [2, 3], preVote ? .preCandidate : .candidate, preVote ? 1 : 2),
                ([1, 2, 3, 4], [3, 4], preVote ? .preCandidate : .candidate, preVote ? 1 : 2),
                ([1, 2, 3, 4, 5], [4, 5], .leader, 2),
            ]
            for (number, testCase) in cases.enumerated() {
                let cluster = network(testCase.voters, preVote: preVote)
                for id in testCase.down { cluster.crash(id) }
                cluster.campaign(1)
                XCTAssertEqual(cluster[1].role, testCase.role, "preVote \(preVote), case \(number)")
                XCTAssertEqual(cluster[1].term, testCase.term, "preVote \(preVote), case \(number)")
            }
        }
    }

    func testSingleNodeElectsItselfAndCommits() {
        for preVote in [false, true] {
            let cluster = network([1], preVote: preVote)
            cluster.tick(1, times: 20)
            XCTAssertEqual(cluster[1].role, .leader)
            try! cluster.propose(1, "solo")
            XCTAssertEqual(cluster.applied(1), ["solo"])
        }
    }

    /// Every node in turn can be elected, and each election replicates to the others.
    func testLeaderCycle() {
        for preVote in [false, true] {
            let cluster = network([1, 2, 3], preVote: preVote)
            for id: NodeID in [1, 2, 3, 1] {
                cluster.campaign(id)
                XCTAssertEqual(cluster.leader, id, "preVote \(preVote)")
                for other in cluster.ids where other != id {
                    XCTAssertEqual(cluster[other].role, .follower)
                    XCTAssertEqual(cluster[other].leader, id)
                    XCTAssertEqual(cluster[other].term, cluster[id].term)
                }
            }
        }
    }

    /// Elections driven only by clocks: ticking everybody eventually yields exactly one leader
    /// that every follower recognizes.
    func testElectionByTicksConverges() {
        for preVote in [false, true] {
            let cluster = network([1, 2, 3, 4, 5], preVote: preVote, checkQuorum: preVote)
            var ticks = 0
            while cluster.leader == nil && ticks < 100 {
                cluster.tickAll()
                ticks += 1
            }
            let leader = try! XCTUnwrap(cluster.leader)
            XCTAssertLessThan(ticks, 20, "one election timeout should do on a quiet network")
            cluster.tickAll(times: 50)
            XCTAssertEqual(cluster.leader, leader, "a stable leader stays")
            for id in cluster.ids { XCTAssertEqual(cluster[id].leader, leader) }
        }
    }

    /// Two candidates split a three-node cluster; the one that reached the majority wins and the
    /// other, whose log is behind, cannot take over later.
    func testDuelingCandidates() {
        let cluster = network([1, 2, 3])
        cluster.cut(1, 3)
        cluster.campaign(1)
        cluster.campaign(3)
        XCTAssertEqual(cluster[1].role, .leader)
        XCTAssertEqual(cluster[3].role, .candidate)
        XCTAssertEqual(cluster[2].role, .follower)

        cluster.recover()
        // Node 3 tries again at a higher term: it deposes node 1 but its log (missing the no-op
        // of term 2) is not up to date, so nobody votes for it.
        cluster.campaign(3)
        XCTAssertEqual(cluster[3].role, .follower)
        XCTAssertEqual(cluster[1].role, .follower)
        XCTAssertEqual(cluster[1].term, 3)
        XCTAssertEqual(cluster[3].lastIndex, 3)
        XCTAssertEqual(cluster[1].lastIndex, 4)
    }

    /// With PreVote the same duel leaves the healthy leader in place: node 3's pre-votes are
    /// refused and no term moves.
    func testDuelingPreCandidates() {
        let cluster = network([1, 2, 3], preVote: true)
        cluster.cut(1, 3)
        cluster.campaign(1)
        cluster.campaign(3)
        XCTAssertEqual(cluster[1].role, .leader)
        XCTAssertEqual(cluster[3].role, .follower, "the pre-vote was refused by node 2")
        XCTAssertEqual(cluster[3].term, 2, "it learns the current term from the refusal; it never bumps it")

        cluster.recover()
        cluster.campaign(3)
        XCTAssertEqual(cluster[1].role, .leader)
        XCTAssertEqual(cluster[1].term, 2)
        XCTAssertEqual(cluster[3].role, .follower)
        XCTAssertEqual(cluster[3].term, 2, "a failed pre-vote changes no term")
    }

    /// An isolated candidate concedes to the leader elected meanwhile and then catches up.
    func testCandidateConcedes() {
        let cluster = network([1, 2, 3])
        cluster.isolate(1)
        cluster.campaign(1)
        cluster.campaign(3)
        XCTAssertEqual(cluster[1].role, .candidate)
        XCTAssertEqual(cluster[3].role, .leader)
        XCTAssertEqual(cluster[1].term, cluster[3].term)

        cluster.recover()
        cluster.tick(3)
        cluster.stabilize()
        try! cluster.propose(3, "force quorum")
        XCTAssertEqual(cluster[1].role, .follower)
        XCTAssertEqual(cluster[1].leader, 3)
        cluster.assertSameLog(1, 3)
        XCTAssertEqual(cluster.applied(1), ["force quorum"])
    }

    /// Messages from an old term (a leader deposed long ago) change nothing.
    func testOldMessagesAreIgnored() {
        let cluster = network([1, 2, 3])
        cluster.campaign(1)
        cluster.campaign(2)
        cluster.campaign(1)
        XCTAssertEqual(cluster[1].term, 4)
        // An append from node 2 when it led term 3, trying to overwrite index 6.
        cluster.send(message(.append, from: 2, to: 1, term: 3, index: 5, logTerm: 3, entries: [Entry(term: 3, index: 6, data: [9])]))
        try! cluster.propose(1, "somedata")
        for id in cluster.ids {
            cluster.assertSameLog(id, 1)
            XCTAssertEqual(cluster[id].entry(at: 6)?.term, 4, "node \(id)")
            XCTAssertEqual(cluster.applied(id), ["somedata"])
        }
    }

    /// Proposals commit exactly when a majority of voters is alive.
    func testProposalWithDeadNodes() {
        let cases: [(voters: [NodeID], down: [NodeID], commits: Bool)] = [
            ([1, 2, 3], [], true),
            ([1, 2, 3], [3], true),
            ([1, 2, 3], [2, 3], false),
            ([1, 2, 3, 4], [3, 4], false),
            ([1, 2, 3, 4, 5], [4, 5], true),
        ]
        for (number, testCase) in cases.enumerated() {
            let cluster = network(testCase.voters)
            cluster.campaign(1)
            // Crash after the election (a minority could not have elected node 1).
            for id in testCase.down { cluster.crash(id) }
            if cluster[1].role != .leader { continue }
            try! cluster.propose(1, "somedata")
            XCTAssertEqual(cluster.applied(1) == ["somedata"], testCase.commits, "case \(number)")
            for id in cluster.ids where !testCase.down.contains(id) {
                XCTAssertEqual(cluster[id].lastIndex, cluster[1].lastIndex, "case \(number), node \(id)")
            }
        }
    }

    /// Only the leader accepts proposals; a follower's refusal names the leader so the shell
    /// can forward the request.
    func testProposalOnFollowerNamesLeader() {
        let cluster = network([1, 2, 3])
        XCTAssertThrowsError(try cluster.propose(2, "early")) { error in
            XCTAssertEqual(error as? ProposalError, .notLeader(leaderHint: noNode))
        }
        cluster.campaign(1)
        XCTAssertThrowsError(try cluster.propose(2, "x")) { error in
            XCTAssertEqual(error as? ProposalError, .notLeader(leaderHint: 1))
        }
        XCTAssertThrowsError(try cluster[2].proposeConfChange(ConfChange(kind: .addVoter, nodeID: 4))) { error in
            XCTAssertEqual(error as? ProposalError, .notLeader(leaderHint: 1))
        }
    }

    /// A restarted node keeps its term and vote: it cannot vote twice in a term after a crash.
    func testVoteSurvivesRestart() {
        let cluster = network([1, 2, 3])
        cluster.isolate(3)
        // Node 2 hears node 1's request for term 2, but its grant never arrives.
        cluster.blocked.insert(.init(from: 2, to: 1))
        cluster.campaign(1)
        XCTAssertEqual(cluster[1].role, .candidate)
        XCTAssertEqual(cluster[2].term, 2)
        XCTAssertEqual(cluster[2].vote, 1)
        cluster.crash(2)
        cluster.restart(2)
        XCTAssertEqual(cluster[2].term, 2)
        XCTAssertEqual(cluster[2].vote, 1)

        // Node 3 asks for node 2's vote in the same term 2: refused.
        cluster.recover()
        cluster.isolate(1)
        XCTAssertEqual(cluster[3].term, 1)
        cluster.campaign(3)
        XCTAssertEqual(cluster[3].term, 2)
        XCTAssertEqual(cluster[3].role, .candidate)
        XCTAssertEqual(cluster.sent(.voteResponse, from: 2, to: 3).last?.reject, true)
    }
}
