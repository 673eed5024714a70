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

    /// Whether NAME's fault injection is on (`GET /swarmctl/chaos`), nil if it does not answer.
    private func chaosEnabled(_ name: String) -> Bool? {
        let socket = String(cluster.members[name]!.apiAddress.dropFirst("unix:".count))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-s", "-m", "10", "--unix-socket", socket, "http://localhost/swarmctl/chaos"]
        let pipe = Pipe()
        process.standardOutput = pipe
        guard (try? process.run()) != nil else { return nil }
        let body = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (try? JSONSerialization.jsonObject(with: body) as? [String: Any])?["Enabled"] as? Bool
    }

    func testRunWithoutFlagsKeepsTheExecutorGivenToJoinAndRunFlagsOverride() throws {
        try cluster.initialize("m1")
        // Observable on any machine: chaos on or off (the executor falls back to processes where
        // runc is missing, so `auto` and `process` look alike there).
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/curl"), "curl is not installed")
        cluster.nodeFlags += ["--enable-chaos"]
        try cluster.join("w1", as: "worker", via: "m1")
        try cluster.waitUntil("w1 answers", timeoutSeconds: 30) { (try? self.cluster.cli("w1", ["info"]))?.status == 0 }
        XCTAssertEqual(executorsLogged("w1"), ["ProcessExecutor"])

        cluster.kill("w1", signal: SIGTERM)
        try cluster.restart("w1", flags: [])
        try cluster.waitUntil("w1 answers after run without flags", timeoutSeconds: 30) {
            (try? self.cluster.cli("w1", ["info"]))?.status == 0 && self.executorsLogged("w1").count == 2
        }
        XCTAssertEqual(executorsLogged("w1"), ["ProcessExecutor", "ProcessExecutor"], "run forgot --executor process")
        XCTAssertEqual(chaosEnabled("w1"), true, "run forgot --enable-chaos")

        let saved = try String(contentsOfFile: cluster.members["w1"]!.dataDirectory + "/node.conf", encoding: .utf8)
        XCTAssertTrue(saved.contains("executor = process"), saved)
        XCTAssertTrue(saved.contains("raft-tick = 50ms") && saved.contains("enable-chaos = true"), saved)

        // A flag given to run wins and is kept for the next run.
        cluster.kill("w1", signal: SIGTERM)
        try cluster.restart("w1", flags: ["--log-level", "warn"])
        try cluster.waitUntil("w1 answers after run with a flag", timeoutSeconds: 30) {
            (try? self.cluster.cli("w1", ["info"]))?.status == 0
        }
        let resaved = try String(contentsOfFile: cluster.members["w1"]!.dataDirectory + "/node.conf", encoding: .utf8)
        XCTAssertTrue(resaved.contains("log-level = warn") && resaved.contains("executor = process"), resaved)
        XCTAssertEqual(chaosEnabled("w1"), true)
        XCTAssertEqual(executorsLogged("w1").count, 2, "at --log-level warn the third start logs no info lines")
        var status = stat()
        XCTAssertEqual(stat(cluster.members["w1"]!.dataDirectory + "/node.conf", &status), 0)
        XCTAssertEqual(status.st_mode & 0o777, 0o600)
    }
}
