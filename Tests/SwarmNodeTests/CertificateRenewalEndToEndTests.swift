import ClusterState
import Crypto
import Foundation
import Glibc
import Platform
@testable import SwarmNode
import XCTest

/// Certificate renewal on real node processes: with one-minute certificates (a test cluster,
/// `--enable-chaos --cert-expiry 1m`), the leader, a second manager and a worker each get a new
/// certificate (new serial) at 50-80% of its life, before the old one expires, and the cluster
/// goes on: links reconnect with the new certificates, a write through the second manager is
/// forwarded to the leader, and no task restarts.
final class CertificateRenewalEndToEndTests: XCTestCase {
    private var cluster: TestCluster!

    override func setUpWithError() throws {
        cluster = try TestCluster()
    }

    override func tearDown() {
        cluster?.tearDown()
    }

    private func runningTaskIDs(_ service: String) throws -> Set<String> {
        let result = try cluster.cli("m1", ["service", "ps", service, "--format", "json"])
        guard result.status == 0, let tasks = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [[String: Any]] else {
            return []
        }
        return Set(tasks.filter { ($0["Status"] as? [String: Any])?["State"] as? String == "running" }.compactMap { $0["ID"] as? String })
    }

    private func certificates(_ name: String) throws -> NodeCertificates {
        try NodeCertificates.load(from: cluster.members[name]!.dataDirectory, finishingInterruptedSave: false)
    }

    func testShortLivedCertificatesRenewBeforeExpiryAndTheNodesStayInTheCluster() throws {
        try cluster.initialize("m1", extraFlags: ["--enable-chaos", "--cert-expiry", "1m"])
        try cluster.join("m2", as: "manager", via: "m1")
        try cluster.join("w1", as: "worker", via: "m1")
        try cluster.waitUntil("3 nodes ready", timeoutSeconds: 40) {
            let nodes = try self.cluster.nodes(via: "m1")
            return nodes.count == 3 && nodes.allSatisfy { ($0["Status"] as? [String: Any])?["State"] as? String == "ready" }
        }
        XCTAssertEqual(try cluster.cli("m1", ["service", "create", "--detach", "--name", "steady", "--replicas", "3",
                                              "busybox", "sleep", "3600"]).status, 0)
        try cluster.waitUntil("3 tasks run", timeoutSeconds: 30) { try self.runningTaskIDs("steady").count == 3 }
        let tasksBefore = try runningTaskIDs("steady")

        let names = ["m1", "m2", "w1"]
        var first: [String: Certificate] = [:]
        for name in names {
            let leaf = try certificates(name).leaf
            XCTAssertEqual(leaf.notAfter - leaf.notBefore, 60 + CertificateAuthority.backdateSeconds, "\(name) holds a 1-minute certificate")
            first[name] = leaf
        }
        // Each node renews on its own schedule (30-48 s after its certificate was issued).
        var renewed: [String: Certificate] = [:]
        try cluster.waitUntil("every node renewed its certificate", timeoutSeconds: 75) {
            for name in names where renewed[name] == nil {
                let leaf = try self.certificates(name).leaf
                guard leaf.serialNumber != first[name]!.serialNumber else { continue }
                let now = Clock.unixSeconds()
                let issued = first[name]!.notBefore + CertificateAuthority.backdateSeconds
                XCTAssertLessThan(now, first[name]!.notAfter, "\(name) renewed before its certificate expired")
                XCTAssertGreaterThanOrEqual(now, issued + 30 - 1, "\(name) renewed no earlier than half its life")
                XCTAssertGreaterThan(leaf.notAfter, first[name]!.notAfter)
                XCTAssertEqual(leaf.subject.commonName, first[name]!.subject.commonName, "\(name) keeps its node id")
                XCTAssertEqual(leaf.subject.organizationalUnit, first[name]!.subject.organizationalUnit, "\(name) keeps its role")
                renewed[name] = leaf
            }
            return renewed.count == names.count
        }
        XCTAssertTrue(cluster.log("m1").contains("certificate installed (the certificate reached its renewal time)"))
        XCTAssertTrue(cluster.log("w1").contains("requesting a new certificate from manager"), "the worker asked a manager")

        // Still one cluster: every node ready, a write through m2 reaches the leader, the
        // worker gets its share, and the tasks that ran before still run.
        let scaled = try cluster.cli("m2", ["service", "scale", "--detach", "steady=4"])
        XCTAssertEqual(scaled.status, 0, "a write forwarded by m2: \(scaled.output)")
        try cluster.waitUntil("4 tasks run", timeoutSeconds: 30) { try self.runningTaskIDs("steady").count == 4 }
        XCTAssertTrue(tasksBefore.isSubset(of: try runningTaskIDs("steady")), "no task restarted across renewals")
        try cluster.waitUntil("3 nodes ready after renewal", timeoutSeconds: 20) {
            let nodes = try self.cluster.nodes(via: "m2")
            return nodes.count == 3 && nodes.allSatisfy { ($0["Status"] as? [String: Any])?["State"] as? String == "ready" }
        }
        for name in names {
            XCTAssertNotEqual(try certificates(name).leaf.serialNumber, first[name]!.serialNumber, "\(name) still uses a renewed certificate")
        }
    }
}
