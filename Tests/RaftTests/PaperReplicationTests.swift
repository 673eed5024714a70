@testable import Raft
import XCTest

/// Raft paper §5.3 (log replication), one node driven by hand, plus Figure 7 on a network.
final class PaperReplicationTests: XCTestCase {
    private let data: [UInt8] = Array("some data".utf8)

    /// A leader of term 1 over voters 1...size whose no-op (index 1) is committed everywhere.
    private func readyLeader(voters: [NodeID] = [1, 2, 3]) -> RaftNode {
        var node = makeRaft(1, voters: voters)
        node.forceLeader()
        node.commitNoop()
        XCTAssertEqual(node.commitIndex, 1)
        return node
    }

    /// "Once a leader has been elected, it begins servicing client requests ... The leader
    /// appends the command to its log as a new entry, then issues AppendEntries RPCs in parallel
    /// to each of the other servers to replicate the entry."
    func test5_3_LeaderStartsReplication() {
        var node = readyLeader()
        let before = node.lastIndex
        let position = try! node.propose(data)
        XCTAssertEqual(position, LogPosition(index: before + 1, term: 1))
        let expected = Entry(term: 1, index: before + 1, data: data)
        XCTAssertEqual(node.entry(at: before + 1), expected)

        let appends = node.takeMessages()
        XCTAssertEqual(appends.map(\.to), [2, 3])
        for append in appends {
            XCTAssertEqual(append.kind, .append)
            XCTAssertEqual(append.term, 1)
            XCTAssertEqual(append.index, before, "prev index")
            XCTAssertEqual(append.logTerm, 1, "prev term")
            XCTAssertEqual(append.entries, [expected])
            XCTAssertEqual(append.commit, 1)
        }
        // The new entry is unstable: the next Ready asks the shell to persist it.
        let batch = node.ready()
        XCTAssertEqual(batch.entries, [expected])
        XCTAssertTrue(batch.mustSync)
        XCTAssertTrue(batch.committedEntries.isEmpty)
        node.advance(batch)
    }

    /// "When the entry has been safely replicated, the leader applies the entry to its state
    /// machine and returns the result ... the leader keeps track of the highest index it knows
    /// to be committed, and it includes that index in future AppendEntries RPCs."
    func test5_3_LeaderCommitsEntryOnQuorumAck() {
        var node = readyLeader()
        let position = try! node.propose(data)
        node.persistAndAdvance()
        _ = node.takeMessages()
        node.step(message(.appendResponse, from: 2, to: 1, term: 1, index: position.index))
        XCTAssertEqual(node.commitIndex, position.index)
        let batch = node.persistAndAdvance()
        XCTAssertEqual(batch.committedEntries, [Entry(term: 1, index: position.index, data: data)])
        XCTAssertEqual(batch.hardState?.commit, position.index)
        let appends = batch.messages.filter { $0.kind == .append }
        XCTAssertEqual(appends.map(\.to), [2, 3], "the new commit index is broadcast")
        for append in appends {
            XCTAssertEqual(append.commit, position.index)
            XCTAssertTrue(append.entries.isEmpty)
        }
    }

    /// "A log entry is committed once the leader that created the entry has replicated it on a
    /// majority of the servers." Exactly at the majority, for several cluster sizes.
    func test5_3_LeaderCommitsExactlyAtMajority() {
        let cases: [(size: UInt64, acceptors: [NodeID], commits: Bool)] = [
            (1, [], true),
            (3, [], false),
            (3, [2], true),
            (3, [2, 3], true),
            (5, [], false),
            (5, [2], false),
            (5, [2, 3], true),
            (5, [2, 3, 4], true),
            (5, [2, 3, 4, 5], true),
        ]
        for (number, testCase) in cases.enumerated() {
            var node = readyLeader(voters: Array(1...testCase.size))
            let position = try! node.propose(data)
            node.persistAndAdvance()
            for acceptor in testCase.acceptors {
                node.step(message(.appendResponse, from: acceptor, to: 1, term: 1, index: position.index))
            }
            // Rejections from everybody else change nothing.
            for other in 2...max(2, testCase.size) where testCase.size > 1 && !testCase.acceptors.contains(other) {
                node.step(message(.appendResponse, from: other, to: 1, term: 1, index: position.index - 1, reject: true))
            }
            XCTAssertEqual(node.commitIndex == position.index, testCase.commits, "case \(number)")
        }
    }

    /// "When the leader commits an entry, it also commits all preceding entries in the leader's
    /// log, including entries created by previous leaders."
    func test5_3_LeaderCommitsPrecedingEntries() {
        let logs: [[Entry]] = [
            [],
            entries(terms: [2]),
            entries(terms: [1, 2]),
            entries(terms: [1]),
        ]
        for (number, log) in logs.enumerated() {
            var node = makeRaft(1, log: log, term: 2)
            node.forceLeader()
            XCTAssertEqual(node.term, 3)
            try! node.propose(data)
            node.persistAndAdvance()
            for peer: NodeID in [2, 3] {
                node.step(message(.appendResponse, from: peer, to: 1, term: 3, index: node.lastIndex))
            }
            let li = UInt64(log.count)
            let expected = log + [Entry(term: 3, index: li + 1, kind: .leaderNoop), Entry(term: 3, index: li + 2, data: data)]
            XCTAssertEqual(node.persistAndAdvance().committedEntries, expected, "case \(number)")
        }
    }

    /// "Once a follower learns that a log entry is committed, it applies the entry to its local
    /// state machine (in log order)" — up to min(leaderCommit, index of last new entry).
    func test5_3_FollowerCommitsUpToLeaderCommit() {
        let cases: [(entries: [Entry], commit: UInt64)] = [
            (entries(terms: [1]), 1),
            (entries(terms: [1, 1]), 2),
            (entries(terms: [1, 1]), 1),
            (entries(terms: [1, 1]), 0),
            // The leader's commit runs ahead of what this message carries.
            (entries(terms: [1, 1]), 7),
        ]
        for (number, testCase) in cases.enumerated() {
            var node = makeRaft(1, term: 1)
            node.step(message(.append, from: 2, to: 1, term: 1, index: 0, logTerm: 0, entries: testCase.entries, commit: testCase.commit))
            let expectedCommit = min(testCase.commit, UInt64(testCase.entries.count))
            XCTAssertEqual(node.commitIndex, expectedCommit, "case \(number)")
            let batch = node.persistAndAdvance()
            XCTAssertEqual(batch.entries, testCase.entries, "case \(number)")
            XCTAssertEqual(batch.committedEntries, Array(testCase.entries.prefix(Int(expectedCommit))), "case \(number)")
        }
    }

    /// "When sending an AppendEntries RPC, the leader includes the index and term of the entry
    /// in its log that immediately precedes the new entries. If the follower does not find an
    /// entry in its log with the same index and term, then it refuses the new entries." The
    /// refusal carries a hint (an index and its term) that lets the leader skip a whole term.
    func test5_3_FollowerConsistencyCheck() {
        let log = entries(terms: [1, 2])
        struct Case {
            var prevTerm: UInt64
            var prevIndex: UInt64
            var answerIndex: UInt64
            var reject: Bool
            var hint: UInt64 = 0
            var hintTerm: UInt64 = 0
        }
        let cases: [Case] = [
            // Before the commit index: nothing to check, answer with the commit index.
            Case(prevTerm: 0, prevIndex: 0, answerIndex: 1, reject: false),
            Case(prevTerm: 1, prevIndex: 1, answerIndex: 1, reject: false),
            Case(prevTerm: 2, prevIndex: 2, answerIndex: 2, reject: false),
            // Same index, other term: fall back to the last entry with term ≤ 1.
            Case(prevTerm: 1, prevIndex: 2, answerIndex: 2, reject: true, hint: 1, hintTerm: 1),
            // Beyond our log: hint at our last entry.
            Case(prevTerm: 3, prevIndex: 3, answerIndex: 3, reject: true, hint: 2, hintTerm: 2),
        ]
        for (number, testCase) in cases.enumerated() {
            var node = makeRaft(1, log: log, term: 2, commit: 1)
            node.becomeFollower(term: 2, leader: 2)
            node.step(message(.append, from: 2, to: 1, term: 2, index: testCase.prevIndex, logTerm: testCase.prevTerm))
            let out = node.takeMessages()
            XCTAssertEqual(out.count, 1, "case \(number)")
            guard let answer = out.first else { continue }
            XCTAssertEqual(answer.kind, .appendResponse, "case \(number)")
            XCTAssertEqual(answer.term, 2, "case \(number)")
            XCTAssertEqual(answer.index, testCase.answerIndex, "case \(number)")
            XCTAssertEqual(answer.reject, testCase.reject, "case \(number)")
            XCTAssertEqual(answer.rejectHint, testCase.hint, "case \(number)")
            XCTAssertEqual(answer.logTerm, testCase.hintTerm, "case \(number)")
        }
    }

    /// "If an existing entry conflicts with a new one (same index but different terms), delete
    /// the existing entry and all that follow it; append any new entries not already in the log."
    func test5_3_FollowerDeletesConflictsThenAppends() {
        let cases: [(prevIndex: UInt64, prevTerm: UInt64, incoming: [Entry], log: [Entry], unstable: [Entry])] = [
            (2, 2, [Entry(term: 3, index: 3)], entries(terms: [1, 2, 3]), [Entry(term: 3, index: 3)]),
            (1, 1, entries(terms: [3, 4], from: 2), entries(terms: [1, 3, 4]), entries(terms: [3, 4], from: 2)),
            (0, 0, [Entry(term: 1, index: 1)], entries(terms: [1, 2]), []),
            (0, 0, [Entry(term: 3, index: 1)], [Entry(term: 3, index: 1)], [Entry(term: 3, index: 1)]),
        ]
        for (number, testCase) in cases.enumerated() {
            var node = makeRaft(1, log: entries(terms: [1, 2]), term: 2)
            node.becomeFollower(term: 2, leader: 2)
            node.step(message(.append, from: 2, to: 1, term: 2, index: testCase.prevIndex, logTerm: testCase.prevTerm, entries: testCase.incoming))
            XCTAssertEqual(node.logEntries, testCase.log, "case \(number)")
            let batch = node.persistAndAdvance()
            XCTAssertEqual(batch.entries, testCase.unstable, "case \(number)")
            XCTAssertEqual(batch.mustSync, !testCase.unstable.isEmpty, "case \(number)")
        }
    }

    /// Figure 7: a leader of term 8 and six followers whose logs are missing entries (a, b),
    /// have extra uncommitted entries (c, d), or both (e, f). Whatever the follower holds, it
    /// converges to the leader's log.
    func test5_3_LeaderSyncsFollowerLogsOfFigure7() {
        let leaderLog = entries(terms: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6])
        let followers: [(name: String, log: [Entry])] = [
            ("a", entries(terms: [1, 1, 1, 4, 4, 5, 5, 6, 6])),
            ("b", entries(terms: [1, 1, 1, 4])),
            ("c", entries(terms: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6])),
            ("d", entries(terms: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7])),
            ("e", entries(terms: [1, 1, 1, 4, 4, 4, 4])),
            ("f", entries(terms: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3])),
        ]
        for follower in followers {
            let network = TestNetwork()
            network.add(config: testConfig(1), state: memberState(log: leaderLog, term: 8, commit: UInt64(leaderLog.count)))
            network.add(config: testConfig(2), state: memberState(log: follower.log, term: 7))
            // Node 3 exists only as a vote: (c) and (d) hold logs newer than the leader's and
            // refuse it, so the leader needs a third voter.
            network.campaign(1)
            network.send(message(.voteResponse, from: 3, to: 1, term: 9))
            XCTAssertEqual(network[1].role, .leader, "follower (\(follower.name))")
            XCTAssertEqual(network[1].term, 9)
            try! network.propose(1, "x")
            XCTAssertEqual(network[2].logEntries, network[1].logEntries, "follower (\(follower.name))")
            XCTAssertEqual(network[2].lastIndex, 12, "follower (\(follower.name))")
            XCTAssertEqual(network[2].commitIndex, 12, "follower (\(follower.name))")
        }
    }
}
