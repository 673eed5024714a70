@testable import Raft
import XCTest

/// PreVote, CheckQuorum, partial partitions and fast failover (reference §5 items 6 and 7).
final class LivenessScenarioTests: XCTestCase {
    private func network(_ voters: [NodeID], preVote: Bool = true, checkQuorum: Bool = true) -> TestNetwork {
        TestNetwork(voters: voters) { config in
            config.preVote = preVote
            config.checkQuorum = checkQuorum
        }
    }

    /// A node cut off for a long time keeps timing out. With PreVote it never raises its term, so
    /// when it comes back the leader is not disturbed; it just catches up.
    func testRejoiningNodeBlockedByPreVote() {
        let cluster = network([1, 2, 3])
        cluster.campaign(1)
        let term = cluster[1].term
        cluster.isolate(3)
        cluster.tickAll(times: 100)
        try! cluster.propose(1, "while away")
        XCTAssertEqual(cluster[3].term, term, "pre-votes that get no answer change no term")
        XCTAssertTrue(cluster.sent(.vote, from: 3).isEmpty, "never got past PreVote")
        XCTAssertFalse(cluster.sent(.preVote, from: 3).isEmpty)

        cluster.recover()
        cluster.tickAll(times: 30)
        XCTAssertEqual(cluster.leader, 1)
        XCTAssertEqual(cluster[1].term, term)
        XCTAssertEqual(cluster[3].leader, 1)
        XCTAssertEqual(cluster.applied(3), ["while away"])
    }

    /// The contrast: without PreVote the same absence inflates node 3's term, and its return
    /// deposes a healthy leader (the disruption PreVote exists to prevent).
    func testRejoiningNodeDisruptsWithoutPreVote() {
        let cluster = network([1, 2, 3], preVote: false, checkQuorum: true)
        cluster.campaign(1)
        let term = cluster[1].term
        cluster.isolate(3)
        cluster.tickAll(times: 100)
        XCTAssertGreaterThan(cluster[3].term, term + 2)
        cluster.recover()
        cluster.tickAll()
        XCTAssertNotEqual(cluster[1].term, term, "the leader was deposed by the higher term")
    }

    /// CheckQuorum voters ignore vote requests while they hear from a leader, which can leave a
    /// partitioned candidate stuck at a higher term. When it reconnects, its answer to the
    /// leader's heartbeat carries that term, the leader steps down, and an election can finish.
    func testStuckCandidateFreedByCheckQuorum() {
        let cluster = network([1, 2, 3], preVote: false, checkQuorum: true)
        cluster.campaign(1)
        cluster.isolate(1)
        cluster.campaign(3)
        XCTAssertEqual(cluster[3].role, .candidate)
        XCTAssertEqual(cluster[3].term, cluster[2].term + 1, "node 2, in its leader's lease, ignored the request")
        cluster.campaign(3)
        XCTAssertEqual(cluster[3].term, cluster[2].term + 2)
        XCTAssertEqual(cluster[2].leader, 1)

        cluster.recover()
        cluster.tick(1)
        cluster.stabilize()
        XCTAssertEqual(cluster[1].role, .follower, "the leader learned the higher term")
        XCTAssertEqual(cluster[1].term, cluster[3].term)

        cluster.campaign(3)
        XCTAssertEqual(cluster[3].role, .leader)
        cluster.tickAll()
        for id in cluster.ids { XCTAssertEqual(cluster[id].leader, 3) }
    }

    /// A leader cut off with a minority notices (CheckQuorum) and steps down; the majority elects
    /// a new leader; the old leader's uncommitted entry is overwritten when the partition heals.
    func testIsolatedLeaderInMinorityStepsDown() {
        let cluster = network([1, 2, 3, 4, 5])
        cluster.campaign(1)
        let oldTerm = cluster[1].term
        cluster.partition([1, 2])
        try! cluster.propose(1, "lost")
        let lostIndex = cluster[1].lastIndex
        XCTAssertEqual(cluster[2].lastIndex, lostIndex)

        var ticks = 0
        while cluster[1].role == .leader && ticks < 100 {
            cluster.tickAll()
            ticks += 1
        }
        XCTAssertEqual(cluster[1].role, .follower)
        XCTAssertLessThanOrEqual(ticks, 2 * 10, "steps down within two election timeouts")
        cluster.tickAll(times: 30)
        let newLeader = try! XCTUnwrap(cluster.leader)
        XCTAssertTrue([3, 4, 5].contains(newLeader))
        XCTAssertGreaterThan(cluster[newLeader].term, oldTerm)
        XCTAssertEqual(cluster[1].term, oldTerm, "PreVote keeps the minority's terms still")
        try! cluster.propose(newLeader, "kept")

        cluster.recover()
        cluster.tickAll(times: 5)
        XCTAssertEqual(cluster.leader, newLeader)
        for id in cluster.ids {
            cluster.assertSameLog(id, newLeader)
            XCTAssertEqual(cluster.applied(id), ["kept"], "node \(id)")
            XCTAssertNotEqual(cluster[id].entry(at: lostIndex)?.data, Array("lost".utf8), "node \(id)")
        }
    }

    /// A leader that stops hearing from everyone steps down after an election timeout, and one
    /// that hears from a quorum stays.
    func testCheckQuorumStepDownTiming() {
        var leader = makeRaft(1, config: testConfig(1, checkQuorum: true))
        leader.forceLeader()
        for _ in 0..<9 { leader.tick() }
        XCTAssertEqual(leader.role, .leader)
        // Everybody was marked active at election; the first check passes and clears the marks.
        leader.tick()
        XCTAssertEqual(leader.role, .leader)
        leader.step(message(.heartbeatResponse, from: 2, to: 1, term: leader.term))
        for _ in 0..<10 { leader.tick() }
        XCTAssertEqual(leader.role, .leader, "node 2 answered: quorum of 2")
        for _ in 0..<10 { leader.tick() }
        XCTAssertEqual(leader.role, .follower)
        XCTAssertEqual(leader.leader, noNode)
    }

    /// A node that reaches only the leader (its links to the other followers are down) causes no
    /// election and keeps up with the log.
    func testNodeThatReachesOnlyTheLeader() {
        let cluster = network([1, 2, 3, 4, 5])
        cluster.campaign(1)
        let term = cluster[1].term
        cluster.clearHistory()
        for other: NodeID in [2, 3, 4] { cluster.cut(5, other) }
        for round in 0..<10 {
            cluster.tickAll(times: 10)
            try! cluster.propose(1, "r\(round)")
        }
        XCTAssertEqual(cluster.leader, 1)
        XCTAssertEqual(cluster[1].term, term)
        XCTAssertEqual(cluster.applied(5).count, 10)
        XCTAssertTrue(cluster.sent(.preVote).isEmpty, "nobody even pre-voted")
    }

    /// The partial partition of the 2020 Cloudflare outage: a follower loses its link to the
    /// leader but still reaches the other followers. PreVote + CheckQuorum keep the leader: the
    /// other followers, hearing from the leader, refuse the cut-off node's pre-votes, and its term
    /// never moves.
    func testFollowerCutFromLeaderOnlyCannotDisrupt() {
        let cluster = network([1, 2, 3])
        cluster.campaign(1)
        let term = cluster[1].term
        cluster.clearHistory()
        cluster.cut(1, 3)
        for round in 0..<5 {
            cluster.tickAll(times: 20)
            try! cluster.propose(1, "r\(round)")
        }
        XCTAssertEqual(cluster.leader, 1)
        XCTAssertEqual(cluster[1].term, term)
        XCTAssertEqual(cluster[3].term, term)
        XCTAssertFalse(cluster.sent(.preVote, from: 3).isEmpty)
        XCTAssertTrue(cluster.sent(.vote).isEmpty)
        XCTAssertEqual(cluster.applied(2).count, 5)

        cluster.recover()
        cluster.tickAll(times: 2)
        XCTAssertEqual(cluster.applied(3).count, 5)
    }

    /// `reportLeaderUnreachable` makes the first-ranked follower pre-vote at once, without
    /// waiting for its election timeout; the others follow by rank, a tick apart. When every
    /// survivor notices, a new leader is in place within two ticks.
    func testReportLeaderUnreachableStartsPreVoteAtOnce() {
        let cluster = network([1, 2, 3])
        cluster.campaign(1)
        let term = cluster[1].term
        cluster.crash(1)
        cluster.clearHistory()

        cluster[2].reportLeaderUnreachable()
        XCTAssertEqual(cluster[2].role, .preCandidate)
        XCTAssertEqual(cluster[2].term, term)
        cluster.drain(2)
        XCTAssertEqual(cluster.sent(.preVote, from: 2).map(\.to), [1, 3])
        cluster.stabilize()
        XCTAssertEqual(cluster[2].role, .preCandidate, "node 3 still holds the leader's lease and stays silent")

        cluster[3].reportLeaderUnreachable()
        cluster.drain(3)
        cluster.stabilize()
        for _ in 0..<2 where cluster.leader == nil {
            cluster.tickAll()
            cluster.stabilize()
        }
        let leader = try! XCTUnwrap(cluster.leader)
        XCTAssertTrue([2, 3].contains(leader))
        XCTAssertEqual(cluster[leader].term, term + 1)
    }

    /// A false report (the leader is alive) costs nothing: the others refuse to join, the leader
    /// keeps its term and the reporter follows it again on the next heartbeat.
    func testFalseLeaderUnreachableReportIsHarmless() {
        let cluster = network([1, 2, 3])
        cluster.campaign(1)
        let term = cluster[1].term
        cluster[2].reportLeaderUnreachable()
        cluster.stabilize()
        cluster.tickAll()
        XCTAssertEqual(cluster.leader, 1)
        XCTAssertEqual(cluster[1].term, term)
        XCTAssertEqual(cluster[2].role, .follower)
        XCTAssertEqual(cluster[2].leader, 1)
    }

    /// A follower within its leader's lease ignores a higher-term vote request unless it is a
    /// leadership-transfer vote; after the lease, it votes.
    func testLeaseBlocksVotesExceptTransfers() {
        var node = makeRaft(2, term: 2, config: testConfig(2, checkQuorum: true))
        node.step(message(.heartbeat, from: 1, to: 2, term: 2))
        _ = node.takeMessages()
        node.step(message(.vote, from: 3, to: 2, term: 3))
        XCTAssertTrue(node.takeMessages().isEmpty)
        XCTAssertEqual(node.term, 2)

        var transfer = message(.vote, from: 3, to: 2, term: 3)
        transfer.isTransfer = true
        var copy = node
        copy.step(transfer)
        XCTAssertEqual(copy.term, 3)
        XCTAssertEqual(copy.takeMessages().first?.reject, false)

        // The lease runs out after an election timeout without hearing from the leader.
        for _ in 0..<10 { node.tick() }
        _ = node.takeMessages()
        node.step(message(.vote, from: 3, to: 2, term: 4))
        XCTAssertEqual(node.term, 4)
        XCTAssertEqual(node.vote, 3)
    }
}
