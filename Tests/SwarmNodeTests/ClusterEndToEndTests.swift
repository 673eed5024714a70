import Foundation
import Glibc
import XCTest

/// Real processes on loopback: a cluster forms, loses its leader, keeps or loses quorum, and
/// changes roles. The slow scenarios live here; breadth lives in the simulator.
final class ClusterEndToEndTests: XCTestCase {
    private var cluster: TestCluster!

    override func setUpWithError() throws {
        cluster = try TestCluster()
    }

    override func tearDown() {
        cluster?.tearDown()
    }

    private func managers(_ nodes: [[String: Any]]) -> [[String: Any]] {
        nodes.filter { $0["ManagerStatus"] != nil }
    }

    private func leaders(_ nodes: [[String: Any]]) -> [[String: Any]] {
        nodes.filter { $0[path: "ManagerStatus", "Leader"] as? Bool == true }
    }

    private func allReady(_ nodes: [[String: Any]]) -> Bool {
        nodes.allSatisfy { $0[path: "Status", "State"] as? String == "ready" }
    }

    private func formCluster(managers names: [String], workers: [String]) throws {
        try cluster.initialize(names[0])
        for name in names.dropFirst() {
            try cluster.join(name, as: "manager", via: names[0])
            try cluster.waitUntil("\(name) joined", timeoutSeconds: 20) {
                self.managers(try self.cluster.nodes(via: names[0])).count == names.firstIndex(of: name)! + 1
            }
        }
        for name in workers { try cluster.join(name, as: "worker", via: names[0]) }
        let total = names.count + workers.count
        try cluster.waitUntil("\(total) nodes ready with one leader", timeoutSeconds: 30) {
            let nodes = try self.cluster.nodes(via: names[0])
            let voters = try self.raftMembership(via: names[0]).voters
            return nodes.count == total && self.managers(nodes).count == names.count
                && self.leaders(nodes).count == 1 && self.allReady(nodes) && voters == names.count
        }
    }

    /// Voters and learners in NAME's applied Raft membership (from `info`).
    private func raftMembership(via name: String) throws -> (voters: Int, learners: Int) {
        let info = try cluster.cli(name, ["info", "--format", "json"])
        guard let data = info.output.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let voters = object[path: "Swarm", "Raft", "Voters"] as? [Any],
              let learners = object[path: "Swarm", "Raft", "Learners"] as? [Any] else { return (0, 0) }
        return (voters.count, learners.count)
    }

    private func leaderName(via name: String) throws -> String? {
        let nodes = try cluster.nodes(via: name)
        guard let address = leaders(nodes).first?[path: "ManagerStatus", "Addr"] as? String else { return nil }
        return cluster.members.first { $0.value.clusterAddress == address }?.key
    }

    private func write(via name: String, label: String) throws -> (status: Int32, output: String) {
        try cluster.cli(name, ["node", "update", "--label-add", label, try nodeID(of: name)])
    }

    private func nodeID(of name: String) throws -> String {
        let info = try cluster.cli(name, ["info", "--format", "json"])
        guard let data = info.output.data(using: .utf8),
              let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let id = object[path: "Swarm", "NodeID"] as? String else { return "self" }
        return id
    }

    func testFiveNodesFormThenSurviveTheLeaderKillAndCatchUp() throws {
        try formCluster(managers: ["m1", "m2", "m3"], workers: ["w1", "w2"])
        let nodes = try cluster.nodes(via: "m1")
        XCTAssertEqual(nodes.count, 5)
        XCTAssertEqual(managers(nodes).count, 3)
        XCTAssertEqual(leaders(nodes).count, 1)

        let closedBefore = cluster.log("m1").components(separatedBy: "closed:").count
        try sendHostileBytes(to: cluster.members["m1"]!.clusterAddress)
        try cluster.waitUntil("m1 refused and logged all three bad connections", timeoutSeconds: 15) {
            self.cluster.log("m1").components(separatedBy: "closed:").count >= closedBefore + 3
        }
        XCTAssertEqual(try cluster.nodes(via: "m1").count, 5, "m1 keeps serving after bad input on its cluster port")

        let oldLeader = try XCTUnwrap(try leaderName(via: "m1"))
        let survivor = ["m1", "m2", "m3"].first { $0 != oldLeader }!
        cluster.kill(oldLeader)
        try cluster.waitUntil("a write succeeds after the leader died", timeoutSeconds: 20) {
            (try? self.write(via: survivor, label: "after-failover=yes"))?.status == 0
        }
        let newLeader = try XCTUnwrap(try leaderName(via: survivor))
        XCTAssertNotEqual(newLeader, oldLeader)

        try cluster.restart(oldLeader)
        try cluster.waitUntil("the restarted node caught up", timeoutSeconds: 30) {
            let seen = try self.cluster.nodes(via: oldLeader)
            return seen.count == 5 && seen.contains { ($0[path: "Spec", "Labels"] as? [String: String])?["after-failover"] == "yes" }
        }
    }

    /// No handshake, random bytes, a frame header claiming 4 GiB: each on its own connection.
    private func sendHostileBytes(to address: String) throws {
        let parts = address.split(separator: ":")
        var random = SystemRandomNumberGenerator()
        let payloads: [[UInt8]] = [
            [],
            (0..<512).map { _ in UInt8.random(in: 0...255, using: &random) },
            [0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00],
        ]
        for payload in payloads {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            XCTAssertGreaterThanOrEqual(descriptor, 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(parts[1])!).bigEndian
            address.sin_addr.s_addr = inet_addr(String(parts[0]))
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            XCTAssertEqual(connected, 0)
            if !payload.isEmpty { _ = payload.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
            if payload.isEmpty {
                // No handshake at all: leave the connection idle; the node times it out.
                DispatchQueue.global().asyncAfter(deadline: .now() + 8) { close(descriptor) }
            } else {
                close(descriptor)
            }
        }
    }

    func testWritesNeedAQuorumAndRolesFollowRaftMembership() throws {
        try formCluster(managers: ["m1", "m2", "m3"], workers: ["w1"])
        cluster.kill("m3")
        try cluster.waitUntil("a write succeeds with one manager down", timeoutSeconds: 20) {
            (try? self.write(via: "m1", label: "one-down=ok"))?.status == 0
        }
        cluster.kill("m2")
        let started = Date()
        var failure = (status: Int32(0), output: "")
        try cluster.waitUntil("writes fail with two managers down", timeoutSeconds: 30) {
            failure = try self.write(via: "m1", label: "two-down=no")
            return failure.status != 0
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 25, "no-quorum writes must fail fast, not hang")
        XCTAssertEqual(failure.status, 1)
        XCTAssertTrue(failure.output.contains("no quorum"), "unclear error: \(failure.output)")

        try cluster.restart("m2")
        try cluster.waitUntil("writes succeed again once a manager returns", timeoutSeconds: 30) {
            (try? self.write(via: "m1", label: "back=ok"))?.status == 0
        }

        // Promote the worker, demote m2, remove the down manager m3.
        let w1 = try nodeID(of: "w1")
        XCTAssertEqual(try cluster.cli("m1", ["node", "promote", w1]).status, 0)
        try cluster.waitUntil("w1 is a reachable manager", timeoutSeconds: 30) {
            let nodes = try self.cluster.nodes(via: "m1")
            return nodes.first { $0["ID"] as? String == w1 }?[path: "ManagerStatus", "Reachability"] as? String == "reachable"
        }
        let m2 = try nodeID(of: "m2")
        XCTAssertEqual(try cluster.cli("m1", ["node", "demote", m2]).status, 0)
        let m3ID = try XCTUnwrap(try cluster.nodes(via: "m1").first {
            $0[path: "ManagerStatus", "Addr"] as? String == cluster.members["m3"]!.clusterAddress
        }?["ID"] as? String)
        try cluster.waitUntil("m3 is down", timeoutSeconds: 30) {
            try self.cluster.nodes(via: "m1").first { $0["ID"] as? String == m3ID }?[path: "Status", "State"] as? String == "down"
        }
        XCTAssertEqual(try cluster.cli("m1", ["node", "demote", m3ID]).status, 0)
        XCTAssertEqual(try cluster.cli("m1", ["node", "rm", m3ID]).status, 0)
        // Rotating the worker token: the old one no longer admits anyone.
        let oldToken = try cluster.cli("m1", ["join-token", "worker", "-q"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(try cluster.cli("m1", ["join-token", "worker", "--rotate", "-q"]).status, 0)
        let newToken = try cluster.cli("m1", ["join-token", "worker", "-q"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertNotEqual(oldToken, newToken)
        let refused = try cluster.runOnce(["join", "--data-dir", cluster.directory + "/late", "--listen-addr", "127.0.0.1:\(try TestCluster.freePort())",
                                           "--token", oldToken, cluster.members["m1"]!.clusterAddress])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.output.contains("could not join"), refused.output)

        try cluster.waitUntil("node ls and raft membership agree", timeoutSeconds: 30) {
            let nodes = try self.cluster.nodes(via: "m1")
            let membership = try self.raftMembership(via: "m1")
            return self.managers(nodes).count == 2 && membership == (2, 0) && nodes.count == 3
        }
    }
}
