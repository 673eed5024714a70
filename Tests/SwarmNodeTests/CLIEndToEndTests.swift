import Foundation
import Glibc
import Platform
import XCTest

/// `swarmctl` as a user types it against real node processes (process executor): the printed
/// join command, `-q` and `--filter` on the lists, `node ps`, the stability wait of the progress
/// display, `--user`, and a create whose every task is rejected.
final class CLIEndToEndTests: XCTestCase {
    private var cluster: TestCluster!

    override func setUpWithError() throws {
        cluster = try TestCluster()
    }

    override func tearDown() {
        cluster?.tearDown()
    }

    private func json(_ name: String, _ arguments: [String]) throws -> [[String: Any]] {
        let result = try cluster.cli(name, arguments + ["--format", "json"])
        XCTAssertEqual(result.status, 0, result.output)
        return (try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [[String: Any]]) ?? []
    }

    private func lines(_ name: String, _ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        let result = try cluster.cli(name, arguments)
        XCTAssertEqual(result.status, 0, "\(arguments): \(result.output)", file: file, line: line)
        return result.output.split(separator: "\n").map(String.init)
    }

    private func nodeID(_ name: String) throws -> String {
        let info = try cluster.cli(name, ["info", "--format", "json"])
        let object = try JSONSerialization.jsonObject(with: Data(info.output.utf8)) as? [String: Any]
        return try XCTUnwrap(object?[path: "Swarm", "NodeID"] as? String)
    }

    /// What `init` printed on stdout (the node keeps running, so read until the join hint).
    private func initOutput(_ name: String) throws -> String {
        let process = try XCTUnwrap(cluster.members[name]?.process)
        var output: [UInt8] = []
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, !String(decoding: output, as: UTF8.self).contains("join-token manager") {
            guard let chunk = try process.readOutput(timeoutMilliseconds: 200) else { break }
            output += chunk
        }
        return String(decoding: output, as: UTF8.self)
    }

    func testJoinCommandListsAndFilters() throws {
        try cluster.initialize("m1")
        let printed = try initOutput("m1")
        let joinLine = #"swarmctl join --data-dir DIR --listen-addr HOST:PORT --api-addr ADDR --token SWMTKN-"#
        XCTAssertTrue(printed.contains(joinLine), printed)
        XCTAssertTrue(printed.contains("Replace DIR"), printed)
        XCTAssertTrue(try cluster.cli("m1", ["join-token", "worker"]).output.contains(joinLine))

        try cluster.join("w1", as: "worker", via: "m1")
        try cluster.waitUntil("2 nodes ready", timeoutSeconds: 40) {
            let nodes = try self.cluster.nodes(via: "m1")
            return nodes.count == 2 && nodes.allSatisfy { $0[path: "Status", "State"] as? String == "ready" }
        }
        let (m1, w1) = (try nodeID("m1"), try nodeID("w1"))
        XCTAssertEqual(Set(try lines("m1", ["node", "ls", "-q"])), [m1, w1])
        XCTAssertEqual(try lines("m1", ["node", "ls", "-q", "--filter", "role=manager"]), [m1])
        XCTAssertEqual(try lines("m1", ["node", "ls", "-q", "-f", "role=worker"]), [w1])

        for arguments in [["--name", "web", "--replicas", "2", "--label", "tier=front"], ["--name", "glob", "--mode", "global"]] {
            XCTAssertEqual(try cluster.cli("m1", ["service", "create", "--detach"] + arguments + ["busybox", "sleep", "3600"]).status, 0)
        }
        let services = try json("m1", ["service", "ls"])
        let ids = Dictionary(uniqueKeysWithValues: services.map { ($0[path: "Spec", "Name"] as? String ?? "", String(($0["ID"] as? String ?? "").prefix(12))) })
        XCTAssertEqual(Set(try lines("m1", ["service", "ls", "-q"])), Set(ids.values))
        XCTAssertEqual(try lines("m1", ["service", "ls", "-q", "--filter", "name=web"]), [ids["web"]!])
        XCTAssertEqual(try lines("m1", ["service", "ls", "-q", "-f", "mode=global"]), [ids["glob"]!])
        XCTAssertEqual(try lines("m1", ["service", "ls", "-q", "--filter", "label=tier=front"]), [ids["web"]!])
        XCTAssertEqual(try lines("m1", ["service", "ls", "--filter", "name=web"]).count, 2, "header and one row")
        let bogus = try cluster.cli("m1", ["service", "ls", "--filter", "bogus=1"])
        XCTAssertEqual(bogus.status, 1)
        XCTAssertTrue(bogus.output.contains("Invalid filter 'bogus'"), bogus.output)
        XCTAssertEqual(try cluster.cli("m1", ["service", "ls", "--filter", "name"]).status, 2, "a filter without = is a usage error")

        try cluster.waitUntil("web and glob run", timeoutSeconds: 30) {
            let tasks = try self.json("m1", ["service", "ps", "web", "glob"])
            return tasks.filter { $0[path: "Status", "State"] as? String == "running" }.count == 4
        }
        let tasks = try json("m1", ["service", "ps", "web", "glob"])
        func taskIDs(on node: String, service: String? = nil) -> Set<String> {
            Set(tasks.filter { $0["NodeID"] as? String == node && (service == nil || $0["ServiceID"] as? String == service) }.compactMap { $0["ID"] as? String })
        }
        let webID = try XCTUnwrap(services.first { $0[path: "Spec", "Name"] as? String == "web" }?["ID"] as? String)
        XCTAssertEqual(Set(try lines("m1", ["service", "ps", "-q", "--filter", "desired-state=running", "web"])),
                       taskIDs(on: m1, service: webID).union(taskIDs(on: w1, service: webID)))
        XCTAssertEqual(Set(try lines("m1", ["service", "ps", "-q", "--filter", "node=\(w1)", "web"])), taskIDs(on: w1, service: webID))

        // As docker 28: `node ps -q` truncates ids (unless --no-trunc), `service ps -q` does not.
        XCTAssertEqual(Set(try lines("m1", ["node", "ps", "-q", w1])), Set(taskIDs(on: w1).map { String($0.prefix(12)) }))
        XCTAssertEqual(Set(try lines("m1", ["node", "ps", "-q", "--no-trunc", w1])), taskIDs(on: w1))
        let table = try lines("m1", ["node", "ps"])
        XCTAssertEqual(table.first?.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " "),
                       "ID NAME IMAGE NODE DESIRED STATE CURRENT STATE ERROR PORTS")
        XCTAssertEqual(Set(table.dropFirst().compactMap { $0.split(separator: " ").first.map(String.init) }), Set(taskIDs(on: m1).map { String($0.prefix(12)) }),
                       "node ps without NODE lists this node's tasks: \(table)")
        XCTAssertTrue(table.dropFirst().allSatisfy { $0.contains("busybox") && $0.contains("Running") }, "\(table)")
    }

    func testCreateWaitsForStabilityHonoursUserAndFailsWhenEveryTaskIsRejected() throws {
        try cluster.initialize("m1")
        let started = Date()
        let stable = try cluster.spawnCLI("m1", ["service", "create", "--name", "stable", "--update-monitor", "1500ms", "busybox", "sleep", "3600"])
        var sawRunningAt: Date?
        while stable.isRunning && Date().timeIntervalSince(started) < 60 {
            // The service may not exist yet: poll the JSON without asserting on it.
            let ps = try cluster.cli("m1", ["service", "ps", "stable", "--format", "json"])
            let tasks = (try? JSONSerialization.jsonObject(with: Data(ps.output.utf8)) as? [[String: Any]]) ?? []
            if tasks.contains(where: { $0[path: "Status", "State"] as? String == "running" }), sawRunningAt == nil { sawRunningAt = Date() }
            usleep(50_000)
        }
        let outcome = try stable.finish()
        let finished = Date()
        XCTAssertEqual(outcome.status, 0, outcome.output)
        XCTAssertTrue(outcome.output.contains("verify: Waiting 2 seconds to verify that tasks are stable..."), outcome.output)
        XCTAssertTrue(outcome.output.contains("converged"), outcome.output)
        let running = try XCTUnwrap(sawRunningAt, "the task never ran while create waited")
        // The poll that saw the task running may be up to 50 ms after it started; allow that.
        XCTAssertGreaterThanOrEqual(finished.timeIntervalSince(running), 1.4, "create returned before the task had run for the monitor period")

        let rejected = try cluster.spawnCLI("m1", ["service", "create", "--name", "nouser", "--user", "no-such-user-xyz", "busybox", "sleep", "3600"])
        let failure = try rejected.finish()
        XCTAssertEqual(failure.status, 1, failure.output)
        XCTAssertTrue(failure.output.contains("every task of nouser was rejected: cannot run the task as user no-such-user-xyz"), failure.output)

        // `logs -f` into a pipe: each line arrives at once (not when a stdio buffer fills), and the
        // follower ends at its next line after the reader has gone.
        XCTAssertEqual(try cluster.cli("m1", ["service", "create", "--detach", "--name", "talker", "busybox", "sh", "-c",
                                              "while true; do echo hello from talker; sleep 0.2; done"]).status, 0)
        try cluster.waitUntil("talker printed", timeoutSeconds: 20) {
            try self.cluster.cli("m1", ["service", "logs", "talker"]).output.contains("hello from talker")
        }
        let follower = try ChildProcess.spawn("/bin/sh", arguments: [
            "-c", "'\(cluster.binary)' -H '\(cluster.members["m1"]!.apiAddress)' service logs -f talker | head -1",
        ])
        var piped: [UInt8] = []
        // Well under the ~15 s that 4 KiB of buffered lines at 5 lines/s would take.
        let deadline = Date().addingTimeInterval(8)
        while Date() < deadline, let chunk = try follower.readOutput(timeoutMilliseconds: 200) { piped += chunk }
        if Date() >= deadline { try? follower.kill(SIGKILL) }
        XCTAssertEqual(try follower.wait().exitCode, 0)
        XCTAssertLessThan(Date(), deadline, "logs -f | head -1 did not return")
        XCTAssertTrue(String(decoding: piped, as: UTF8.self).contains("| hello from talker"), String(decoding: piped, as: UTF8.self))

        guard geteuid() == 0 else { return }
        let asUser = try cluster.cli("m1", ["service", "create", "--name", "asuser", "--user", "nobody", "--update-monitor", "200ms",
                                            "busybox", "sh", "-c", "id -u; exec sleep 3600"])
        XCTAssertEqual(asUser.status, 0, asUser.output)
        let nobody = try XCTUnwrap(getpwnam("nobody")).pointee.pw_uid
        try cluster.waitUntil("the task printed its uid", timeoutSeconds: 20) {
            try self.cluster.cli("m1", ["service", "logs", "asuser"]).output.contains("| \(nobody)")
        }
    }
}
