@testable import Raft
import XCTest

/// Leadership transfer (thesis §3.10): TimeoutNow once the target is up to date.
final class LeadershipTransferTests: XCTestCase {
    private func network() -> TestNetwork {
        TestNetwork(voters: [1, 2, 3]) { config in
            config.preVote = true
            config.checkQuorum = true
        }
    }

    /// An up-to-date target gets TimeoutNow at once and wins the next term without any tick,
    /// even though every voter is inside the old leader's lease.
    func testTransferToUpToDateNode() {
        let cluster = network()
        cluster.campaign(1)
        try! cluster.propose(1, "x")
        let term = cluster[1].term
        cluster.clearHistory()
        cluster[1].transferLeadership(to: 2)
        cluster.stabilize()
        XCTAssertEqual(cluster.leader, 2)
        XCTAssertEqual(cluster[2].term, term + 1)
        XCTAssertEqual(cluster[1].role, .follower)
        XCTAssertEqual(cluster[1].leader, 2)
        XCTAssertEqual(cluster.sent(.timeoutNow).map(\.to), [2])
        XCTAssertTrue(cluster.sent(.vote, from: 2).allSatisfy(\.isTransfer))
        XCTAssertTrue(cluster.sent(.preVote).isEmpty, "a transfer skips PreVote")

        // And back again.
        cluster[2].transferLeadership(to: 1)
        cluster.stabilize()
        XCTAssertEqual(cluster.leader, 1)
        XCTAssertEqual(cluster[1].term, term + 2)
        try! cluster.propose(1, "y")
        for id in cluster.ids { XCTAssertEqual(cluster.applied(id), ["x", "y"]) }
    }

    /// A lagging target is first brought up to date, then told to campaign. Proposals are refused
    /// while the handover is under way.
    func testTransferToLaggingNode() {
        let cluster = network()
        cluster.campaign(1)
        cluster.isolate(3)
        for index in 0..<3 { try! cluster.propose(1, "e\(index)") }
        XCTAssertLessThan(cluster[3].lastIndex, cluster[1].lastIndex)

        cluster[1].transferLeadership(to: 3)
        cluster.stabilize()
        XCTAssertEqual(cluster.leader, 1, "node 3 is unreachable: nothing happens yet")
        XCTAssertThrowsError(try cluster.propose(1, "during")) { error in
            XCTAssertEqual(error as? ProposalError, .leadershipTransferInProgress)
        }

        cluster.recover()
        cluster.tick(1)
        cluster.stabilize()
        XCTAssertEqual(cluster.leader, 3)
        XCTAssertEqual(cluster.applied(3), ["e0", "e1", "e2"])
        try! cluster.propose(3, "after")
        for id in cluster.ids { cluster.assertSameLog(id, 3) }
    }

    /// A transfer that cannot complete within an election timeout is abandoned: the leader
    /// keeps its term and takes proposals again.
    func testTransferTimesOut() {
        let cluster = network()
        cluster.campaign(1)
        let term = cluster[1].term
        cluster.crash(3)
        try! cluster.propose(1, "x")
        cluster[1].transferLeadership(to: 3)
        cluster.stabilize()
        XCTAssertThrowsError(try cluster.propose(1, "refused"))
        for _ in 0..<10 { cluster.tickAll() }
        XCTAssertEqual(cluster.leader, 1)
        XCTAssertEqual(cluster[1].term, term)
        XCTAssertNoThrow(try cluster.propose(1, "accepted again"))
        XCTAssertEqual(cluster.applied(2), ["x", "accepted again"])
    }

    /// Transfers to oneself, to a non-member, or from a non-leader do nothing.
    func testTransferToInvalidTargetsIsIgnored() {
        let cluster = network()
        cluster.campaign(1)
        cluster.clearHistory()
        cluster[1].transferLeadership(to: 1)
        cluster[1].transferLeadership(to: 9)
        cluster[2].transferLeadership(to: 3)
        cluster.stabilize()
        XCTAssertTrue(cluster.sent(.timeoutNow).isEmpty)
        XCTAssertNoThrow(try cluster.propose(1, "still leading"))
    }

    /// A second transfer to another node replaces the first.
    func testSecondTransferToAnotherNode() {
        let cluster = network()
        cluster.campaign(1)
        cluster.crash(3)
        cluster[1].transferLeadership(to: 3)
        cluster.stabilize()
        cluster[1].transferLeadership(to: 2)
        cluster.stabilize()
        XCTAssertEqual(cluster.leader, 2)
    }
}
