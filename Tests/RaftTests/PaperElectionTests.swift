@testable import Raft
import XCTest

/// Raft paper §5.1 (terms) and §5.2 (leader election), one node driven by hand.
final class PaperElectionTests: XCTestCase {
    // MARK: §5.1 "If one server's current term is smaller than the other's, then it updates its
    // current term to the larger value. If a candidate or leader discovers that its term is out
    // of date, it immediately reverts to follower state."

    private func assertAdoptsHigherTerm(_ setUp: (inout RaftNode) -> Void, file: StaticString = #filePath, line: UInt = #line) {
        var node = makeRaft(1)
        setUp(&node)
        let before = node.term
        node.step(message(.append, from: 2, to: 1, term: before + 1))
        XCTAssertEqual(node.term, before + 1, file: file, line: line)
        XCTAssertEqual(node.role, .follower, file: file, line: line)
        XCTAssertEqual(node.leader, 2, "the sender of an append is this term's leader", file: file, line: line)
        XCTAssertEqual(node.vote, noNode, "a new term starts without a vote", file: file, line: line)
    }

    func test5_1_FollowerUpdatesTermFromMessage() {
        assertAdoptsHigherTerm { $0.becomeFollower(term: 1, leader: 2) }
    }

    func test5_1_CandidateUpdatesTermFromMessage() {
        assertAdoptsHigherTerm { $0.becomeCandidate() }
    }

    func test5_1_PreCandidateUpdatesTermFromMessage() {
        assertAdoptsHigherTerm { node in
            node.becomeFollower(term: 1, leader: noNode)
            node.becomePreCandidate()
        }
    }

    func test5_1_LeaderUpdatesTermFromMessage() {
        assertAdoptsHigherTerm { $0.forceLeader() }
    }

    func test5_1_HigherTermVoteRequestMakesLeaderStepDown() {
        var node = makeRaft(1)
        node.forceLeader()
        node.step(message(.vote, from: 2, to: 1, term: 5, index: 10, logTerm: 4))
        XCTAssertEqual(node.role, .follower)
        XCTAssertEqual(node.term, 5)
        XCTAssertEqual(node.leader, noNode, "a vote request does not name a leader")
        XCTAssertEqual(node.vote, 2)
    }

    /// "If a server receives a request with a stale term number, it rejects the request."
    /// The core drops such messages before any role sees them.
    func test5_1_StaleTermMessagesAreIgnored() {
        var node = makeRaft(1, log: entries(terms: [1]), term: 2)
        // A stale append would otherwise be accepted (its log matches).
        node.step(message(.append, from: 2, to: 1, term: 1, index: 1, logTerm: 1, entries: [Entry(term: 1, index: 2)], commit: 2))
        XCTAssertEqual(node.lastIndex, 1)
        XCTAssertEqual(node.commitIndex, 0)
        XCTAssertEqual(node.leader, noNode)
        // A stale vote request is not granted.
        node.step(message(.vote, from: 3, to: 1, term: 1, index: 5, logTerm: 1))
        XCTAssertEqual(node.vote, noNode)
        XCTAssertTrue(node.takeMessages().isEmpty, "without PreVote/CheckQuorum stale messages get no answer")
        XCTAssertEqual(node.term, 2)
    }

    /// With CheckQuorum or PreVote a stale leader must learn the newer term (otherwise it would
    /// never step down): the stale append gets an answer carrying the current term, and a stale
    /// pre-vote is explicitly rejected.
    func test5_1_StaleLeaderLearnsNewTermWithCheckQuorum() {
        var node = makeRaft(1, log: entries(terms: [1]), term: 3, config: testConfig(1, preVote: true, checkQuorum: true))
        node.step(message(.heartbeat, from: 2, to: 1, term: 2))
        var out = node.takeMessages()
        XCTAssertEqual(out.count, 1)
        XCTAssertEqual(out.first?.kind, .appendResponse)
        XCTAssertEqual(out.first?.term, 3)
        XCTAssertEqual(node.leader, noNode)

        node.step(message(.preVote, from: 3, to: 1, term: 2, index: 9, logTerm: 2))
        out = node.takeMessages()
        XCTAssertEqual(out.map(\.kind), [.preVoteResponse])
        XCTAssertEqual(out.first?.reject, true)
        XCTAssertEqual(out.first?.term, 3)

        // The stale leader that receives that answer steps down into the newer term.
        var stale = makeRaft(2, log: entries(terms: [1]), term: 1, config: testConfig(2, preVote: true, checkQuorum: true))
        stale.forceLeader()
        XCTAssertEqual(stale.term, 2)
        stale.step(message(.appendResponse, from: 1, to: 2, term: 3))
        XCTAssertEqual(stale.role, .follower)
        XCTAssertEqual(stale.term, 3)
    }

    // MARK: §5.2 Leader election

    func test5_2_StartsAsFollower() {
        let node = makeRaft(1)
        XCTAssertEqual(node.role, .follower)
        XCTAssertEqual(node.leader, noNode)
        let bootstrapped = RaftNode(config: testConfig(1), state: .bootstrap(voters: [1, 2, 3]))
        XCTAssertEqual(bootstrapped.role, .follower)
        XCTAssertEqual(bootstrapped.term, 1)
    }

    /// "Leaders send periodic heartbeats (AppendEntries RPCs that carry no log entries) to all
    /// followers in order to maintain their authority."
    func test5_2_LeaderBroadcastsHeartbeat() {
        let heartbeatTicks = 2
        var node = makeRaft(1, config: testConfig(1, heartbeatTicks: heartbeatTicks))
        node.forceLeader()
        node.commitNoop()
        for index in 0..<5 { try! node.propose([UInt8(index)]) }
        node.persistAndAdvance()
        _ = node.takeMessages()

        node.tick()
        XCTAssertTrue(node.takeMessages().isEmpty, "no heartbeat before heartbeatTicks")
        node.tick()
        let beats = node.takeMessages()
        XCTAssertEqual(beats.map(\.to), [2, 3])
        for beat in beats {
            XCTAssertEqual(beat.kind, .heartbeat)
            XCTAssertEqual(beat.term, node.term)
            XCTAssertTrue(beat.entries.isEmpty)
            XCTAssertEqual(beat.index, 0)
            XCTAssertEqual(beat.logTerm, 0)
            // Never tell a follower to commit past what it is known to hold.
            XCTAssertEqual(beat.commit, min(node.progress(of: beat.to)!.match, node.commitIndex))
            XCTAssertEqual(beat.commit, 1, "the no-op at 1 is committed and acknowledged; later entries are not")
        }
    }

    private func assertStartsElection(_ node: inout RaftNode, file: StaticString = #filePath, line: UInt = #line) {
        let termBefore = node.term
        // 2ET - 1 ticks: enough for any timeout in [ET, 2ET), too few for a second one.
        for _ in 0..<(2 * 10 - 1) { node.tick() }
        XCTAssertEqual(node.role, .candidate, file: file, line: line)
        XCTAssertEqual(node.term, termBefore + 1, file: file, line: line)
        XCTAssertEqual(node.vote, node.id, "a candidate votes for itself", file: file, line: line)
        let requests = node.takeMessages()
        XCTAssertEqual(requests.map(\.to).sorted(), [2, 3], file: file, line: line)
        for request in requests {
            XCTAssertEqual(request.kind, .vote, file: file, line: line)
            XCTAssertEqual(request.term, termBefore + 1, file: file, line: line)
            XCTAssertEqual(request.index, node.lastIndex, file: file, line: line)
            XCTAssertEqual(request.logTerm, node.lastTerm, file: file, line: line)
            XCTAssertFalse(request.isTransfer, file: file, line: line)
        }
    }

    /// "If a follower receives no communication over a period of time called the election
    /// timeout, then it ... begins an election: it increments its current term and transitions
    /// to candidate state. It then votes for itself and issues RequestVote RPCs."
    func test5_2_FollowerStartsElection() {
        var node = makeRaft(1, log: entries(terms: [1, 2]), term: 2)
        node.becomeFollower(term: 2, leader: 2)
        assertStartsElection(&node)
    }

    /// "...each candidate times out and starts a new election by incrementing its term."
    func test5_2_CandidateStartsNewElection() {
        var node = makeRaft(1, log: entries(terms: [1, 2]), term: 2)
        node.becomeCandidate()
        _ = node.takeMessages()
        assertStartsElection(&node)
    }

    /// With PreVote the timed-out follower first asks for pre-votes at term+1 without changing
    /// its own term; a quorum of grants starts the real election.
    func test5_2_FollowerStartsPreVoteThenElection() {
        var node = makeRaft(1, log: entries(terms: [1, 2]), term: 2, config: testConfig(1, preVote: true))
        node.becomeFollower(term: 2, leader: 2)
        for _ in 0..<19 { node.tick() }
        XCTAssertEqual(node.role, .preCandidate)
        XCTAssertEqual(node.term, 2, "PreVote changes no term")
        XCTAssertEqual(node.vote, noNode, "PreVote casts no vote")
        XCTAssertEqual(node.leader, noNode)
        let requests = node.takeMessages()
        XCTAssertEqual(requests.map(\.to).sorted(), [2, 3])
        for request in requests {
            XCTAssertEqual(request.kind, .preVote)
            XCTAssertEqual(request.term, 3, "asks about the next term")
            XCTAssertEqual(request.index, 2)
            XCTAssertEqual(request.logTerm, 2)
        }
        node.step(message(.preVoteResponse, from: 2, to: 1, term: 3))
        XCTAssertEqual(node.role, .candidate)
        XCTAssertEqual(node.term, 3)
        XCTAssertEqual(node.vote, 1)
        XCTAssertEqual(node.takeMessages().map(\.kind), [.vote, .vote])
    }

    func test5_2_PreCandidateRejectedByQuorumFallsBackWithoutTermChange() {
        var node = makeRaft(1, term: 2, config: testConfig(1, preVote: true))
        for _ in 0..<19 { node.tick() }
        XCTAssertEqual(node.role, .preCandidate)
        node.step(message(.preVoteResponse, from: 2, to: 1, term: 2, reject: true))
        node.step(message(.preVoteResponse, from: 3, to: 1, term: 2, reject: true))
        XCTAssertEqual(node.role, .follower)
        XCTAssertEqual(node.term, 2)
    }

    /// "A candidate wins an election if it receives votes from a majority of the servers in the
    /// full cluster for the same term." A majority of rejections sends it back to follower;
    /// anything else leaves it waiting.
    func test5_2_LeaderElectionInOneRoundRPC() {
        struct Case {
            var size: Int
            var votes: [NodeID: Bool]
            var role: RaftRole
        }
        let cases: [Case] = [
            // Win with a majority of grants.
            Case(size: 1, votes: [:], role: .leader),
            Case(size: 3, votes: [2: true, 3: true], role: .leader),
            Case(size: 3, votes: [2: true], role: .leader),
            Case(size: 5, votes: [2: true, 3: true, 4: true, 5: true], role: .leader),
            Case(size: 5, votes: [2: true, 3: true, 4: true], role: .leader),
            Case(size: 5, votes: [2: true, 3: true], role: .leader),
            // Lose on a majority of rejections.
            Case(size: 3, votes: [2: false, 3: false], role: .follower),
            Case(size: 5, votes: [2: false, 3: false, 4: false, 5: false], role: .follower),
            Case(size: 5, votes: [2: true, 3: false, 4: false, 5: false], role: .follower),
            // Neither: keep waiting.
            Case(size: 3, votes: [:], role: .candidate),
            Case(size: 5, votes: [2: true], role: .candidate),
            Case(size: 5, votes: [2: false, 3: false], role: .candidate),
            Case(size: 5, votes: [:], role: .candidate),
        ]
        for (number, testCase) in cases.enumerated() {
            let voters = (1...UInt64(testCase.size)).map { $0 }
            var node = makeRaft(1, voters: voters)
            node.campaign(.election)
            XCTAssertEqual(node.term, 1)
            for (voter, granted) in testCase.votes.sorted(by: { $0.key < $1.key }) {
                node.step(message(.voteResponse, from: voter, to: 1, term: node.term, reject: !granted))
            }
            XCTAssertEqual(node.role, testCase.role, "case \(number)")
            XCTAssertEqual(node.term, 1, "case \(number)")
        }
    }

    /// "Each server will vote for at most one candidate in a given term, on a first-come-first-
    /// served basis."
    func test5_2_FollowerVotesOncePerTermFirstComeFirstServed() {
        let cases: [(vote: NodeID, requester: NodeID, reject: Bool)] = [
            (noNode, 2, false),
            (noNode, 3, false),
            (2, 2, false),
            (3, 3, false),
            (2, 3, true),
            (3, 2, true),
        ]
        for (number, testCase) in cases.enumerated() {
            var node = makeRaft(1, term: 1, vote: testCase.vote)
            node.step(message(.vote, from: testCase.requester, to: 1, term: 1))
            let out = node.takeMessages()
            XCTAssertEqual(out.count, 1, "case \(number)")
            XCTAssertEqual(out.first?.kind, .voteResponse, "case \(number)")
            XCTAssertEqual(out.first?.to, testCase.requester, "case \(number)")
            XCTAssertEqual(out.first?.term, 1, "case \(number)")
            XCTAssertEqual(out.first?.reject, testCase.reject, "case \(number)")
            XCTAssertEqual(node.vote, testCase.vote == noNode ? testCase.requester : testCase.vote, "case \(number)")
        }
        // First come, first served within one term.
        var node = makeRaft(1, term: 1)
        node.step(message(.vote, from: 2, to: 1, term: 2))
        node.step(message(.vote, from: 3, to: 1, term: 2))
        XCTAssertEqual(node.takeMessages().map(\.reject), [false, true])
        XCTAssertEqual(node.vote, 2)
    }

    /// A follower that already follows a live leader does not vote for someone else in the
    /// same term even if it has not voted.
    func test5_2_FollowerWithLeaderDoesNotVoteInSameTerm() {
        var node = makeRaft(1, term: 1)
        node.step(message(.heartbeat, from: 2, to: 1, term: 1))
        _ = node.takeMessages()
        node.step(message(.vote, from: 3, to: 1, term: 1))
        XCTAssertEqual(node.takeMessages().first?.reject, true)
    }

    /// "While waiting for votes, a candidate may receive an AppendEntries RPC from another server
    /// claiming to be leader. If the leader's term is at least as large as the candidate's current
    /// term, then the candidate recognizes the leader as legitimate and returns to follower."
    func test5_2_CandidateFallsBackOnAppendFromLeader() {
        for leaderTermDelta: UInt64 in [0, 1] {
            var node = makeRaft(1)
            node.campaign(.election)
            XCTAssertEqual(node.role, .candidate)
            let term = node.term + leaderTermDelta
            node.step(message(.append, from: 2, to: 1, term: term))
            XCTAssertEqual(node.role, .follower)
            XCTAssertEqual(node.term, term)
            XCTAssertEqual(node.leader, 2)
            let answer = node.takeMessages().filter { $0.kind == .appendResponse }
            XCTAssertEqual(answer.count, 1, "the append is processed, not dropped")
            XCTAssertEqual(answer.first?.reject, false)
        }
        // A heartbeat of the same term does it too; a pre-candidate concedes the same way.
        var pre = makeRaft(1, term: 1, config: testConfig(1, preVote: true))
        pre.campaign(.preVote)
        XCTAssertEqual(pre.role, .preCandidate)
        pre.step(message(.heartbeat, from: 3, to: 1, term: 1))
        XCTAssertEqual(pre.role, .follower)
        XCTAssertEqual(pre.leader, 3)
    }

    /// "Raft uses randomized election timeouts ... chosen randomly from a fixed interval."
    /// Every value of [ET, 2ET) shows up and nothing outside it.
    func test5_2_FollowerElectionTimeoutRandomized() {
        assertTimeoutsCoverRange { node, round in node.becomeFollower(term: UInt64(round) + 1, leader: 2) }
    }

    func test5_2_CandidateElectionTimeoutRandomized() {
        assertTimeoutsCoverRange { node, _ in node.becomeCandidate() }
    }

    private func assertTimeoutsCoverRange(_ restart: (inout RaftNode, Int) -> Void, file: StaticString = #filePath, line: UInt = #line) {
        let electionTicks = 10
        var node = makeRaft(1)
        var seen = Set<Int>()
        for round in 0..<500 {
            restart(&node, round)
            let term = node.term
            var ticks = 0
            while node.term == term && ticks <= 3 * electionTicks {
                node.tick()
                ticks += 1
            }
            _ = node.takeMessages()
            seen.insert(ticks)
        }
        XCTAssertEqual(seen, Set(electionTicks..<(2 * electionTicks)), file: file, line: line)
    }

    /// "...randomized election timeouts ensure that split votes are rare." Over 1000 rounds of
    /// five nodes, at most 30% of rounds have two nodes timing out on the same tick.
    func test5_2_FollowersElectionTimeoutsRarelyConflict() {
        assertTimeoutsRarelyConflict { node, round in node.becomeFollower(term: UInt64(round) + 1, leader: noNode) }
    }

    func test5_2_CandidatesElectionTimeoutsRarelyConflict() {
        assertTimeoutsRarelyConflict { node, _ in node.becomeCandidate() }
    }

    private func assertTimeoutsRarelyConflict(_ restart: (inout RaftNode, Int) -> Void, file: StaticString = #filePath, line: UInt = #line) {
        let voters: [NodeID] = [1, 2, 3, 4, 5]
        var nodes = voters.map { makeRaft($0, voters: voters) }
        var conflicts = 0
        let rounds = 1000
        for round in 0..<rounds {
            for position in nodes.indices { restart(&nodes[position], round) }
            let terms = nodes.map(\.term)
            var timedOut = 0
            while timedOut == 0 {
                for position in nodes.indices {
                    nodes[position].tick()
                    if nodes[position].term != terms[position] { timedOut += 1 }
                }
            }
            for position in nodes.indices { _ = nodes[position].takeMessages() }
            if timedOut > 1 { conflicts += 1 }
        }
        XCTAssertLessThanOrEqual(Double(conflicts) / Double(rounds), 0.3, "\(conflicts) of \(rounds) rounds conflicted", file: file, line: line)
    }
}
