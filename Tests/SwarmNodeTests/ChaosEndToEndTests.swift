import API
import Foundation
import Glibc
import Platform
import XCTest

/// Fault injection on real nodes: a manager cut off from the quorum refuses writes and
/// linearizable reads with a clear error and catches up after the heal; a node without chaos
/// enabled refuses fault requests.
final class ChaosEndToEndTests: XCTestCase {
    private var cluster: TestCluster!

    override func setUpWithError() throws {
        cluster = try TestCluster()
        cluster.nodeFlags.append("--enable-chaos")
    }

    override func tearDown() {
        cluster?.tearDown()
    }

    func testMinorityManagerRefusesWritesAndReadsThenCatchesUp() throws {
        try cluster.initialize("m1")
        try cluster.join("m2", as: "manager", via: "m1")
        try cluster.join("m3", as: "manager", via: "m1")
        try cluster.waitUntil("3 voting managers", timeoutSeconds: 40) {
            let info = try self.cluster.cli("m1", ["info", "--format", "json"])
            let object = try? JSONSerialization.jsonObject(with: Data(info.output.utf8)) as? [String: Any]
            return (object?[path: "Swarm", "Raft", "Voters"] as? [Any])?.count == 3
        }
        let ids = try ["m1", "m2", "m3"].map { try XCTUnwrap(try cluster.chaosStatus($0)["TransportID"] as? UInt64) }
        // m3 alone on one side: it drops everything to and from m1 and m2, and they from it.
        try cluster.setChaos("m3", #"{"DropTo":[\#(ids[0]),\#(ids[1])],"DropFrom":[\#(ids[0]),\#(ids[1])]}"#)
        try cluster.setChaos("m1", #"{"DropTo":[\#(ids[2])],"DropFrom":[\#(ids[2])]}"#)
        try cluster.setChaos("m2", #"{"DropTo":[\#(ids[2])],"DropFrom":[\#(ids[2])]}"#)

        try cluster.waitUntil("the majority accepts a write", timeoutSeconds: 20) {
            (try? self.cluster.cli("m1", ["service", "create", "--detach", "--name", "during-partition", "--replicas", "0", "busybox"]))?.status == 0
        }
        let read = try cluster.cli("m3", ["service", "ls"])
        XCTAssertEqual(read.status, 1, "a cut-off manager must not serve a stale read: \(read.output)")
        XCTAssertTrue(read.output.contains("quorum") || read.output.contains("leader"), read.output)
        let write = try cluster.cli("m3", ["service", "create", "--detach", "--name", "from-minority", "busybox"])
        XCTAssertEqual(write.status, 1, write.output)
        XCTAssertTrue(write.output.contains("quorum") || write.output.contains("leader"), write.output)

        for name in ["m1", "m2", "m3"] { try cluster.setChaos(name, "{}") }
        try cluster.waitUntil("m3 caught up after the heal", timeoutSeconds: 30) {
            let list = try self.cluster.cli("m3", ["service", "ls"])
            return list.status == 0 && list.output.contains("during-partition")
        }
        XCTAssertFalse(try cluster.cli("m1", ["service", "ls"]).output.contains("from-minority"), "the refused write was not applied later")
    }

    func testANodeWithoutChaosRefusesFaults() throws {
        cluster.nodeFlags.removeAll { $0 == "--enable-chaos" }
        try cluster.initialize("m1")
        XCTAssertEqual(try cluster.chaosStatus("m1")["Enabled"] as? Bool, false)
        let response = try cluster.apiClient("m1").send("POST", "/swarmctl/chaos", body: Array(#"{"ClockSkewMillis":1000}"#.utf8),
                                             headers: HTTPHeaders([("Content-Type", "application/json")]))
        XCTAssertEqual(response.status, 403)
        XCTAssertTrue(String(decoding: response.body, as: UTF8.self).contains("--enable-chaos"))
    }
}
