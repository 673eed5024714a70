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
}
