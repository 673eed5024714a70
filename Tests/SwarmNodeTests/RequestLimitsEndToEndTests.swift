import Foundation
import Glibc
import XCTest

/// Requests too large for one replicated write are refused with a 400 that names the limit, and
/// the cluster keeps its leader and keeps taking writes (they wedged it before: a 26.5 MB entry
/// could not be carried by any frame, so commit stopped and the managers kept deposing each other).
final class RequestLimitsEndToEndTests: XCTestCase {
    private var cluster: TestCluster!

    override func setUpWithError() throws {
        cluster = try TestCluster()
    }

    override func tearDown() {
        cluster?.tearDown()
    }

    private func raftTerm(via name: String) throws -> Int {
        let info = try cluster.cli(name, ["info", "--format", "json"])
        let data = try XCTUnwrap(info.output.data(using: .utf8))
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try XCTUnwrap(object[path: "Swarm", "Raft", "Term"] as? Int)
    }

    /// POSTs `body` (from a file: too large for an argument) to NAME's API; returns status and body.
    private func post(_ name: String, path: String, body: Data) throws -> (status: Int, body: String) {
        let file = cluster.directory + "/request.json"
        try body.write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file); try? FileManager.default.removeItem(atPath: file + ".out") }
        let socket = String(cluster.members[name]!.apiAddress.dropFirst("unix:".count))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-s", "-m", "30", "-o", file + ".out", "-w", "%{http_code}", "--unix-socket", socket,
                             "-H", "Content-Type: application/json", "--data-binary", "@" + file, "http://localhost/v1.41" + path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let status = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (Int(status) ?? 0, (try? String(contentsOfFile: file + ".out", encoding: .utf8)) ?? "")
    }

    func testOversizedReplicaCountsAndSpecsAreRefusedAndWritesGoOn() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/curl"), "curl is not installed")
        try cluster.initialize("m1")
        let termBefore = try raftTerm(via: "m1")

        let tooMany = try cluster.cli("m1", ["service", "create", "--detach", "--name", "huge", "--replicas", "100000",
                                             "--constraint", "node.labels.none==1", "busybox", "sleep", "1000"])
        XCTAssertEqual(tooMany.status, 1, tooMany.output)
        XCTAssertTrue(tooMany.output.contains("Replicas") && tooMany.output.contains("limit of 10000"), tooMany.output)

        // A 3 MB spec passes the HTTP body limit but not the 1.5 MiB limit of one Raft entry.
        let spec: [String: Any] = [
            "Name": "fat",
            "TaskTemplate": ["ContainerSpec": ["Image": "busybox", "Command": ["sleep", "1000"],
                                               "Env": ["BIG=" + String(repeating: "x", count: 3 << 20)]]],
        ]
        let refused = try post("m1", path: "/services/create", body: try JSONSerialization.data(withJSONObject: spec))
        XCTAssertEqual(refused.status, 400, "\(refused.body.prefix(300))")
        XCTAssertTrue(refused.body.contains("1.5 MiB"), "expected the entry limit to be named: \(refused.body.prefix(300))")

        let exact = try cluster.cli("m1", ["service", "create", "--detach", "--name", "small", "--replicas", "2", "busybox", "sleep", "1000"])
        XCTAssertEqual(exact.status, 0, exact.output)
        let removed = try cluster.cli("m1", ["service", "rm", "small"])
        XCTAssertEqual(removed.status, 0, removed.output)
        XCTAssertEqual(try raftTerm(via: "m1"), termBefore, "no election may follow a refused request")
        let listed = try cluster.cli("m1", ["service", "ls", "--format", "json"])
        XCTAssertEqual(listed.status, 0)
        XCTAssertFalse(listed.output.contains("huge") || listed.output.contains("fat"), listed.output)
    }
}
