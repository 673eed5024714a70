import Foundation
import Glibc
import Platform
import XCTest

/// Issue 17: a flipped byte in a WAL record, then in a snapshot, of one of three managers: that
/// manager refuses to start, naming the file and the offset (nothing applied, no fallback to an
/// older snapshot), and the other two keep committing.
final class TamperedDataEndToEndTests: XCTestCase {
    private var cluster: TestCluster!

    override func setUpWithError() throws {
        cluster = try TestCluster()
        // Small snapshots often, so m3 has some on disk.
        cluster.nodeFlags += ["--snapshot-every", "20", "--snapshot-retain-entries", "5"]
    }

    override func tearDown() {
        cluster?.tearDown()
    }

    private func write(_ service: String) throws -> Int32 {
        try cluster.cli("m1", ["service", "create", "--detach", "--name", service, "--replicas", "0", "busybox", "true"]).status
    }

    /// Restarts m3 and waits for it to exit; returns its exit status and what it logged meanwhile.
    private func restartExpectingRefusal() throws -> (Int32?, String) {
        let logged = cluster.log("m3").count
        try cluster.restart("m3")
        let status = try cluster.members["m3"]!.process!.wait()
        cluster.kill("m3")
        return (status.exitCode, String(cluster.log("m3").dropFirst(logged)))
    }

    func testFlippedByteInAWALRecordThenInASnapshotRefusesThatManagerAndTheOthersGoOn() throws {
        try cluster.initialize("m1")
        for (count, name) in [(2, "m2"), (3, "m3")] {
            try cluster.join(name, as: "manager", via: "m1")
            try cluster.waitUntil("\(name) is a reachable manager", timeoutSeconds: 30) {
                let managers = try self.cluster.nodes(via: "m1").compactMap { $0["ManagerStatus"] as? [String: Any] }
                return managers.count == count && managers.allSatisfy { $0["Reachability"] as? String == "reachable" }
            }
        }
        for index in 0..<30 { XCTAssertEqual(try write("s\(index)"), 0) }
        let data = cluster.members["m3"]!.dataDirectory
        try cluster.waitUntil("m3 took a snapshot", timeoutSeconds: 20) {
            try FileSystem.list(data + "/raft/snap").contains { $0.hasSuffix(".snap") }
        }
        cluster.kill("m3")

        // WAL: a byte in the middle of the newest segment's records.
        let wal = data + "/raft/wal"
        let segment = wal + "/" + (try FileSystem.list(wal).filter { $0.hasSuffix(".wal") }.sorted().last!)
        let original = try File.openForReading(segment).readAll()
        let used = original.lastIndex { $0 != 0 }!
        var damaged = original
        damaged[used / 2] ^= 0x20
        try File.open(segment, flags: O_WRONLY).write(damaged, at: 0)
        let (walStatus, walLog) = try restartExpectingRefusal()
        XCTAssertEqual(walStatus, 1, walLog)
        XCTAssertTrue(walLog.contains("raft storage corrupt: \(segment) at byte "), walLog)
        XCTAssertTrue(walLog.contains("Refusing to start"), walLog)
        XCTAssertEqual(try write("after-wal-damage"), 0, "m1 and m2 must keep committing")
        try File.open(segment, flags: O_WRONLY).write(original, at: 0)

        // Snapshot: a byte in the newest snapshot's payload; an older one must not be used instead.
        let snap = data + "/raft/snap"
        let newest = snap + "/" + (try FileSystem.list(snap).filter { $0.hasSuffix(".snap") }.sorted().last!)
        var snapshot = try File.openForReading(newest).readAll()
        snapshot[snapshot.count / 2] ^= 0x01
        try File.open(newest, flags: O_WRONLY).write(snapshot, at: 0)
        let (snapStatus, snapLog) = try restartExpectingRefusal()
        XCTAssertEqual(snapStatus, 1, snapLog)
        XCTAssertTrue(snapLog.contains("raft storage corrupt: \(newest) at byte 24"), snapLog)
        XCTAssertFalse(snapLog.contains("falling back"), snapLog)
        XCTAssertEqual(try write("after-snapshot-damage"), 0, "m1 and m2 must keep committing")
    }
}
