import Foundation
import Glibc
import XCTest

/// `run` restarts a node with the settings of its `init`/`join` (kept in `DATA/node.conf`);
/// flags given to `run` override them and are kept.
final class NodeSettingsEndToEndTests: XCTestCase {
    private var cluster: TestCluster!

    override func setUpWithError() throws {
        cluster = try TestCluster()
    }

    override func tearDown() {
        cluster?.tearDown()
    }

    /// The executor each start of NAME's process reported, in order.
    private func executorsLogged(_ name: String) -> [String] {
        cluster.log(name).split(separator: "\n").compactMap { line in
            line.range(of: "executor: ").map { String(line[$0.upperBound...]) }
        }
    }

    func testRunWithoutFlagsKeepsTheExecutorGivenToJoinAndRunFlagsOverride() throws {
        try cluster.initialize("m1")
        try cluster.join("w1", as: "worker", via: "m1")
        try cluster.waitUntil("w1 answers", timeoutSeconds: 30) { (try? self.cluster.cli("w1", ["info"]))?.status == 0 }
        XCTAssertEqual(executorsLogged("w1"), ["ProcessExecutor"])

        cluster.kill("w1", signal: SIGTERM)
        try cluster.restart("w1", flags: [])
        try cluster.waitUntil("w1 answers after run without flags", timeoutSeconds: 30) {
            (try? self.cluster.cli("w1", ["info"]))?.status == 0 && self.executorsLogged("w1").count == 2
        }
        XCTAssertEqual(executorsLogged("w1"), ["ProcessExecutor", "ProcessExecutor"], "run forgot --executor process")

        let saved = try String(contentsOfFile: cluster.members["w1"]!.dataDirectory + "/node.conf", encoding: .utf8)
        XCTAssertTrue(saved.contains("executor = process"), saved)
        XCTAssertTrue(saved.contains("raft-tick = 50ms"), saved)

        // A flag given to run wins and is kept for the next run.
        cluster.kill("w1", signal: SIGTERM)
        try cluster.restart("w1", flags: ["--log-level", "debug"])
        try cluster.waitUntil("w1 answers after run with a flag", timeoutSeconds: 30) {
            (try? self.cluster.cli("w1", ["info"]))?.status == 0 && self.executorsLogged("w1").count == 3
        }
        let resaved = try String(contentsOfFile: cluster.members["w1"]!.dataDirectory + "/node.conf", encoding: .utf8)
        XCTAssertTrue(resaved.contains("log-level = debug") && resaved.contains("executor = process"), resaved)
        var status = stat()
        XCTAssertEqual(stat(cluster.members["w1"]!.dataDirectory + "/node.conf", &status), 0)
        XCTAssertEqual(status.st_mode & 0o777, 0o600)
    }
}
