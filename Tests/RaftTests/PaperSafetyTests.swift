@testable import Raft
import XCTest

/// Raft paper §5.4 (safety): the election restriction and the Figure 8 commit rule.
final class PaperSafetyTests: XCTestCase {
    /// §5.4.1 "The RequestVote RPC ... includes information about the candidate's log": the
    /// index and term of its last entry.
    func test5_4_1_VoteRequestCarriesLastIndexAndTerm() {
        let cases: [(log: [Entry], term: UInt64)] = [
            (entries(terms: [1]), 2),
            (entries(terms: [1, 2]), 3),
        ]
        for (number, testCase) in cases.enumerated() {
            var node = makeRaft(1)
            node.step(message(.append, from: 2, to: 1, term: testCase.term, index: 0, logTerm: 0, entries: testCase.log))
            _ = node.takeMessages()
            for _ in 0..<19 { node.tick() }
            let requests = node.takeMessages()
            XCTAssertEqual(requests.map(\.to), [2, 3], "case \(number)")
            for request in requests {
                XCTAssertEqual(request.kind, .vote, "case \(number)")
                XCTAssertEqual(request.term, testCase.term + 1, "case \(number)")
                XCTAssertEqual(request.index, testCase.log.last!.index, "case \(number)")
                XCTAssertEqual(request.logTerm, testCase.log.last!.term, "case \(number)")
            }
        }
    }

    /// §5.4.1 "the voter denies its vote if its own log is more up-to-date than that of the
    /// candidate": later last term wins; with equal last terms the longer log wins.
    func test5_4_1_VoterGrantsOnlyToUpToDateCandidates() {
        let cases: [(log: [Entry], logTerm: UInt64, index: UInt64, reject: Bool)] = [
            // Same last term.
            (entries(terms: [1]), 1, 1, false),
            (entries(terms: [1]), 1, 2, false),
            (entries(terms: [1, 1]), 1, 1, true),
            // The candidate's last term is higher.
            (entries(terms: [1]), 2, 1, false),
            (entries(terms: [1]), 2, 2, false),
            (entries(terms: [1, 1]), 2, 1, false),
            // The voter's last term is higher.
            (entries(terms: [2]), 1, 1, true),
            (entries(terms: [2]), 1, 2, true),
            (entries(terms: [1, 2]), 1, 1, true),
            (entries(terms: [1, 2]), 1, 5, true),
        ]
        for (number, testCase) in cases.enumerated() {
            var node = makeRaft(1, log: testCase.log, term: 2)
            node.step(message(.vote, from: 2, to: 1, term: 3, index: testCase.index, logTerm: testCase.logTerm))
            let out = node.takeMessages()
            XCTAssertEqual(out.count, 1, "case \(number)")
            XCTAssertEqual(out.first?.kind, .voteResponse, "case \(number)")
            XCTAssertEqual(out.first?.reject, testCase.reject, "case \(number)")
            XCTAssertEqual(node.term, 3, "the higher term is adopted either way, case \(number)")
            XCTAssertEqual(node.vote, testCase.reject ? noNode : 2, "case \(number)")
        }
    }

    /// §5.4.2 "Raft never commits log entries from previous terms by counting replicas. Only log
    /// entries from the leader's current term are committed by counting replicas."
    func test5_4_2_LeaderOnlyCommitsEntriesOfItsTermByCounting() {
        let cases: [(ackIndex: UInt64, commit: UInt64)] = [
            (1, 0),
            (2, 0),
            (3, 3),
        ]
        for (number, testCase) in cases.enumerated() {
            var node = makeRaft(1, log: entries(terms: [1, 2]), term: 2)
            node.forceLeader()
            XCTAssertEqual(node.term, 3)
            XCTAssertEqual(node.entry(at: 3)?.kind, .leaderNoop)
            node.persistAndAdvance()
            node.step(message(.appendResponse, from: 2, to: 1, term: 3, index: testCase.ackIndex))
            XCTAssertEqual(node.commitIndex, testCase.commit, "case \(number)")
        }
    }

    /// Figure 8 on a five-node network. Leader 1 (term 2) gets two entries onto node 2 only.
    /// Node 2 then wins term 3 and replicates those old-term entries to everybody, but while its
    /// own no-op has not reached a majority nothing may commit — even with the term-2 entries on
    /// all five nodes. Once the term-3 no-op is replicated everything up to it commits.
    func test5_4_2_CannotCommitWithoutNewTermEntry() {
        let network = TestNetwork(voters: [1, 2, 3, 4, 5])
        // Bootstrap membership entries occupy 1...5.
        network.campaign(1)
        XCTAssertEqual(network.leader, 1)
        XCTAssertEqual(network[1].commitIndex, 6, "the term-2 no-op")

        network.cut(1, 3)
        network.cut(1, 4)
        network.cut(1, 5)
        try! network.propose(1, "a")
        try! network.propose(1, "b")
        XCTAssertEqual(network[1].commitIndex, 6)
        XCTAssertEqual(network[2].lastIndex, 8)

        network.recover()
        network.ignore(.append)
        network.campaign(2)
        XCTAssertEqual(network.leader, 2)
        XCTAssertEqual(network[2].term, 3)
        XCTAssertEqual(network[2].commitIndex, 6, "no entry of an earlier term commits at election")

        // Let appends through, but only the entries of earlier terms: the old entries reach
        // every node, the new leader's no-op (index 9, term 3) reaches none.
        network.recover()
        network.intercept = { message in
            if message.kind == .append { message.entries.removeAll { $0.term == 3 } }
            return true
        }
        network.tickAll()
        for id: NodeID in [1, 2, 3, 4, 5] {
            XCTAssertEqual(network[id].term(at: 8), 2, "node \(id) holds the old-term entries")
            XCTAssertEqual(network[id].commitIndex, 6, "node \(id): old-term entries on all replicas are still not committed")
        }
        XCTAssertEqual(network[2].progress(of: 3)?.match, 8)

        // The no-op gets through: it and everything before it commit.
        network.recover()
        network.tickAll()
        for id: NodeID in [1, 2, 3, 4, 5] {
            XCTAssertEqual(network[id].commitIndex, 9, "node \(id)")
            XCTAssertEqual(network.applied(id), ["a", "b"], "node \(id)")
        }
        try! network.propose(2, "c")
        XCTAssertEqual(network[2].commitIndex, 10)
    }

    /// The leader of a new term commits the previous term's entries as soon as its no-op commits.
    func test5_4_2_CommitsOldEntriesWithNoop() {
        let network = TestNetwork(voters: [1, 2, 3, 4, 5])
        network.campaign(1)
        network.cut(1, 3)
        network.cut(1, 4)
        network.cut(1, 5)
        try! network.propose(1, "a")
        try! network.propose(1, "b")
        XCTAssertEqual(network[1].commitIndex, 6)
        network.recover()
        network.campaign(2)
        XCTAssertEqual(network.leader, 2)
        XCTAssertEqual(network[2].commitIndex, 9)
        for id: NodeID in [1, 2, 3, 4, 5] { XCTAssertEqual(network.applied(id), ["a", "b"]) }
    }

    /// §5.4.1 in a network: a node that missed committed entries cannot become leader, and a
    /// leader of a newer term overwrites uncommitted entries of an older one.
    func test5_4_1_StaleNodeCannotWinAndNewLeaderOverwritesUncommitted() {
        let network = TestNetwork(voters: [1, 2, 3])
        network.campaign(1)
        network.isolate(3)
        try! network.propose(1, "committed")
        XCTAssertEqual(network[1].commitIndex, 5, "bootstrap 1...3, no-op 4, entry 5")
        network.recover()

        // Node 3 lacks index 5: its election fails (its term still moves on).
        network.campaign(3)
        XCTAssertNotEqual(network[3].role, .leader)
        XCTAssertNil(network.leader, "the higher term deposed leader 1 without replacing it")
        network.campaign(1)
        XCTAssertEqual(network.leader, 1)
        XCTAssertEqual(network.applied(3), ["committed"])

        // Leader 1 appends an entry nobody else gets, then is cut off; node 2 leads term 5 and
        // its log wins: index 7 is rewritten everywhere.
        network.isolate(1)
        try! network.propose(1, "lost")
        XCTAssertEqual(network[1].lastIndex, 7)
        network.campaign(2)
        XCTAssertEqual(network.leader, 2)
        try! network.propose(2, "kept")
        network.recover()
        network.tickAll()
        XCTAssertEqual(network[1].role, .follower)
        for id: NodeID in [1, 2, 3] {
            network.assertSameLog(id, 2)
            XCTAssertEqual(network.applied(id), ["committed", "kept"], "node \(id)")
        }
    }
}
