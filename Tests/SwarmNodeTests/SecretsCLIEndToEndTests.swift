import Foundation
import Platform
import XCTest

/// `swarmctl secret|config` and `service create --secret` against a real node with the process
/// executor (no root needed): the task reads its secret from $SWARMCTL_SECRETS_DIR, no command
/// prints the value, removal is refused while a service uses it.
final class SecretsCLIEndToEndTests: XCTestCase {
    private var cluster: TestCluster!

    override func tearDown() {
        cluster?.tearDown()
    }

    private func swarmctl(_ arguments: [String], stdin: String? = nil, expect status: Int32 = 0,
                          file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let quoted = ([cluster.binary, "-H", cluster.members["m1"]!.apiAddress] + arguments).map { "'\($0)'" }.joined(separator: " ")
        let (code, output) = try cluster.shell((stdin.map { "printf '%s' '\($0)' | " } ?? "") + quoted)
        XCTAssertEqual(code, status, "swarmctl \(arguments.joined(separator: " ")): \(output)", file: file, line: line)
        return output
    }

    func testSecretAndConfigCommandsAndAProcessTaskReadingItsSecret() throws {
        cluster = try TestCluster()
        try cluster.initialize("m1")
        let value = "cli-\(UInt64.random(in: 0..<UInt64.max))"
        let id = try swarmctl(["secret", "create", "--label", "team=db", "db_pw", "-"], stdin: value).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(id.count, 25, id)
        let listed = try swarmctl(["secret", "ls"])
        XCTAssertTrue(listed.hasPrefix("ID") && listed.contains("REVISION") && listed.contains(id) && listed.contains("db_pw"), listed)
        XCTAssertEqual(try swarmctl(["secret", "ls", "-q", "--filter", "label=team=db"]), id + "\n")
        XCTAssertFalse(try swarmctl(["secret", "inspect", "db_pw"]).contains(value))
        XCTAssertTrue(try swarmctl(["secret", "create", "db_pw", "-"], stdin: "x", expect: 1).contains("already exists"))

        try swarmctl(["service", "create", "--detach", "--name", "reader", "--secret", "db_pw", "busybox", "sh", "-c",
                      #"cat "$SWARMCTL_SECRETS_DIR/db_pw"; echo; sleep 3600"#])
        try cluster.waitUntil("the task printed its secret", timeoutSeconds: 30) {
            try self.swarmctl(["service", "logs", "reader"]).contains(value)
        }
        XCTAssertFalse(try swarmctl(["service", "inspect", "reader"]).contains(value))
        XCTAssertTrue(try swarmctl(["secret", "rm", "db_pw"], expect: 1).contains("in use by the following service: reader"))
        try swarmctl(["service", "update", "--detach", "--secret-rm", "db_pw", "reader"])
        XCTAssertEqual(try swarmctl(["secret", "rm", "db_pw"]), "db_pw\n")

        try swarmctl(["config", "create", "app_conf", "-"], stdin: "listen 80")
        XCTAssertTrue(try swarmctl(["config", "inspect", "app_conf"]).contains(Data("listen 80".utf8).base64EncodedString()))
        XCTAssertTrue(try swarmctl(["config", "ls"]).contains("app_conf"))
        XCTAssertTrue(try swarmctl(["service", "create", "--detach", "--name", "bad", "--secret", "ghost", "busybox", "true"], expect: 1)
            .contains("secret not found: ghost"))
        XCTAssertEqual(try swarmctl(["config", "rm", "app_conf"]), "app_conf\n")
        XCTAssertTrue(try swarmctl(["secret", "nonsense"], expect: 2).contains("unknown secret subcommand"))
    }
    /// `secret update` follows the referencing service's rollout like `service update` (per-slot
    /// progress, the stability wait), returns at once with --detach, and exits 1 naming the
    /// service when the rollout pauses (the new value makes the task fail).
    func testSecretUpdateShowsTheRolloutAndFailsNamingAPausedService() throws {
        cluster = try TestCluster()
        try cluster.initialize("m1")
        try swarmctl(["secret", "create", "db_pw", "-"], stdin: "v1")
        try swarmctl(["service", "create", "--detach", "--name", "reader", "--secret", "db_pw", "--update-monitor", "1s",
                      "--update-failure-action", "pause", "--restart-condition", "none", "busybox", "sh", "-c",
                      #"v=$(cat "$SWARMCTL_SECRETS_DIR/db_pw"); echo "read $v"; [ "$v" = bad ] && exit 1; sleep 3600"#])
        try cluster.waitUntil("the task read v1", timeoutSeconds: 30) { try self.swarmctl(["service", "logs", "reader"]).contains("read v1") }

        let followed = try swarmctl(["secret", "update", "db_pw", "-"], stdin: "v2")
        for expected in ["secret db_pw: revision 2", "rolling service reader onto it\n", "overall progress: 1 out of 1 tasks",
                         "1/1: running", "verify: Waiting", "converged"] {
            XCTAssertTrue(followed.contains(expected), "missing \(expected) in:\n\(followed)")
        }
        XCTAssertTrue(try swarmctl(["service", "logs", "reader"]).contains("read v2"))

        let detached = try swarmctl(["secret", "update", "-d", "db_pw", "-"], stdin: "v3")
        XCTAssertTrue(detached.contains("secret db_pw: revision 3") && detached.contains("rolling service reader onto it (follow with"), detached)
        XCTAssertFalse(detached.contains("overall progress"), detached)
        try cluster.waitUntil("the task read v3", timeoutSeconds: 30) { try self.swarmctl(["service", "logs", "reader"]).contains("read v3") }
        try cluster.waitUntil("the v3 rollout completed", timeoutSeconds: 30) {
            let body = try self.cluster.apiClient("m1").send("GET", "/services/reader").body
            let service = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
            return (service?["UpdateStatus"] as? [String: Any])?["State"] as? String == "completed"
        }

        let failed = try swarmctl(["secret", "update", "db_pw", "-"], stdin: "bad", expect: 1)
        XCTAssertTrue(failed.contains("update paused"), failed)
        XCTAssertTrue(failed.contains("swarmctl: secret update db_pw: the rollout of service reader did not complete"), failed)
    }
    /// 40 secrets of 500 KiB (20 MiB, more than one 16 MiB frame) for one task on a worker: the
    /// assignment goes in parts and the task reads every byte of every secret.
    func testATaskOnAWorkerReadsFortySecretsOf500KiB() throws {
        cluster = try TestCluster()
        try cluster.initialize("m1")
        try cluster.join("w1", as: "worker", via: "m1")
        let directory = cluster.directory + "/big-secrets"
        let count = 40
        // Distinct pseudo-random contents (base64 text, so the task can print a checksum with sh tools).
        try cluster.shell("mkdir -p '\(directory)' && for i in $(seq -w 0 \(count - 1)); do "
            + "head -c 384000 /dev/urandom | base64 -w0 | head -c \(PayloadLimitsBytes.max) > '\(directory)'/s$i; done")
        let expected = try cluster.shell("cat '\(directory)'/s* | cksum").output.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(expected.hasSuffix(" \(count * PayloadLimitsBytes.max)"), expected)
        var flags: [String] = []
        for index in 0..<count {
            let name = String(format: "s%02d", index)
            try swarmctl(["secret", "create", name, "\(directory)/\(name)"])
            flags += ["--secret", name]
        }
        try swarmctl(["service", "create", "--detach", "--name", "big", "--constraint", "node.role==worker"] + flags
            + ["busybox", "sh", "-c", #"echo "files $(ls "$SWARMCTL_SECRETS_DIR" | wc -l) sum $(cat "$SWARMCTL_SECRETS_DIR"/s* | cksum)"; sleep 3600"#])
        do {
            try cluster.waitUntil("the task on w1 printed its checksum", timeoutSeconds: 60) {
                try self.swarmctl(["service", "logs", "big"]).contains("files \(count) sum \(expected)")
            }
        } catch {
            let diagnosis: [String?] = [try? swarmctl(["service", "ps", "--no-trunc", "big"]), try? swarmctl(["service", "logs", "big"]),
                             cluster.log("w1").split(separator: "\n").filter { !$0.contains("transport: connection") }.suffix(30).joined(separator: "\n"),
                             cluster.log("m1").split(separator: "\n").filter { $0.contains("assign") || $0.contains("frame") || $0.contains("refus") }.prefix(30).joined(separator: "\n")]
            XCTFail(diagnosis.map { $0 ?? "" }.joined(separator: "\n---\n"))
            throw error
        }
    }
}

/// The largest secret the API takes: less than 500 KiB.
private enum PayloadLimitsBytes {
    static let max = 500 * 1024 - 1
}
