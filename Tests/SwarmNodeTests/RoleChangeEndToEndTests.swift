import Foundation
import Glibc
import XCTest

/// Role changes on real processes: a node promoted and demoted again and again keeps running, and
/// `node ls` agrees with the applied Raft membership after every change.
final class RoleChangeEndToEndTests: XCTestCase {
    private var cluster: TestCluster!

    override func setUpWithError() throws {
        cluster = try TestCluster()
        // A node learns its new role and asks for the matching certificate at its dispatcher
        // heartbeat: 500 ms heartbeats halve each of the twenty role changes (the acknowledgement
        // timeout keeps the production default's 5 s).
        cluster.nodeFlags += ["--dispatcher-heartbeat", "500ms", "--dispatcher-ack-timeout", "5s"]
    }

    override func tearDown() {
        cluster?.tearDown()
    }

    /// Voters and learners in NAME's applied Raft membership (from `info`).
    private func raftMembership(via name: String) throws -> (voters: Int, learners: Int) {
        let info = try cluster.cli(name, ["info", "--format", "json"])
        guard let data = info.output.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let voters = object[path: "Swarm", "Raft", "Voters"] as? [Any],
              let learners = object[path: "Swarm", "Raft", "Learners"] as? [Any] else { return (-1, -1) }
        return (voters.count, learners.count)
    }

    private func nodeID(of name: String) throws -> String {
        let info = try cluster.cli(name, ["info", "--format", "json"])
        let data = try XCTUnwrap(info.output.data(using: .utf8))
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try XCTUnwrap(object[path: "Swarm", "NodeID"] as? String)
    }

    private func node(_ id: String, via name: String) throws -> [String: Any]? {
        try cluster.nodes(via: name).first { $0["ID"] as? String == id }
    }

    /// A joining manager is a learner until it has caught up: `node ls` shows it `joining` (not
    /// `reachable`) until it votes, and `join` prints its success only once it votes.
    func testAJoiningManagerIsShownJoiningUntilItVotes() throws {
        try cluster.initialize("m1")
        try cluster.join("m2", as: "manager", via: "m1")
        var seen: [String] = []
        var printedJoined = false
        try cluster.waitUntil("m2 votes and join printed its success", timeoutSeconds: 60) {
            // Membership only grows here, so a later read of the voters includes every earlier voter.
            let reachability = try self.cluster.nodes(via: "m1").first { $0[path: "ManagerStatus", "Addr"] as? String
                == self.cluster.members["m2"]!.clusterAddress }?[path: "ManagerStatus", "Reachability"] as? String
            let printed = self.cluster.output("m2").contains("This node joined a swarm as a manager")
            let voters = try self.raftMembership(via: "m1").voters
            guard voters >= 0 else { return false }  // info did not answer this time: sample again
            if let reachability, seen.last != reachability { seen.append(reachability) }
            if reachability == "reachable" { XCTAssertEqual(voters, 2, "shown reachable before it voted") }
            if printed {
                XCTAssertEqual(voters, 2, "join printed success before the node voted")
                printedJoined = true
            }
            return printedJoined && reachability == "reachable"
        }
        XCTAssertFalse(seen.contains("unreachable"), "\(seen)")
        XCTAssertEqual(seen.last, "reachable", "\(seen)")
    }

    /// The regression: promote → demote → promote re-applied the old log from index 1 onto the
    /// state the node had already built and killed it with `precondition(index > appliedIndex)`,
    /// then crash-looped on every restart.
    func testPromoteDemoteTenTimesKeepsTheNodeAliveAndMembershipInAgreement() throws {
        try cluster.initialize("m1")
        try cluster.join("w1", as: "worker", via: "m1")
        try cluster.waitUntil("w1 is ready", timeoutSeconds: 30) {
            let nodes = try self.cluster.nodes(via: "m1")
            return nodes.count == 2 && nodes.allSatisfy { $0[path: "Status", "State"] as? String == "ready" }
        }
        let w1 = try nodeID(of: "w1")
        for round in 1...10 {
            XCTAssertEqual(try cluster.cli("m1", ["node", "promote", w1]).status, 0, "promote in round \(round)")
            try cluster.waitUntil("w1 is a reachable voter (round \(round))", timeoutSeconds: 30) {
                let status = try self.node(w1, via: "m1")?[path: "ManagerStatus", "Reachability"] as? String
                let membership = try self.raftMembership(via: "m1")
                return status == "reachable" && membership == (2, 0)
            }
            // Writes commit with the new voter (it must be alive and voting for a quorum of 2).
            XCTAssertEqual(try cluster.cli("m1", ["node", "update", "--label-add", "round=\(round)", w1]).status, 0)
            XCTAssertEqual(try cluster.cli("m1", ["node", "demote", w1]).status, 0, "demote in round \(round)")
            try cluster.waitUntil("w1 is a worker outside Raft (round \(round))", timeoutSeconds: 30) {
                let entry = try self.node(w1, via: "m1")
                let membership = try self.raftMembership(via: "m1")
                return entry?[path: "Spec", "Role"] as? String == "worker" && entry?["ManagerStatus"] == nil
                    && membership == (1, 0)
            }
            try cluster.waitUntil("w1 answers as a worker (round \(round))", timeoutSeconds: 30) {
                let info = try self.cluster.cli("w1", ["info", "--format", "json"])
                guard info.status == 0, let data = info.output.data(using: .utf8),
                      let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
                return object[path: "Swarm", "ControlAvailable"] as? Bool == false
            }
        }
        XCTAssertEqual(try cluster.cli("w1", ["info"]).status, 0, "w1 must still be running")
        XCTAssertFalse(cluster.log("w1").contains("Fatal error"), "w1 crashed:\n\(cluster.log("w1").suffix(2000))")
        let labels = try XCTUnwrap(try node(w1, via: "m1")?[path: "Spec", "Labels"] as? [String: String])
        XCTAssertEqual(labels["round"], "10")
    }
}
