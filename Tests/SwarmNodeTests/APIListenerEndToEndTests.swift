import Foundation
import Glibc
import Platform
import XCTest
@testable import SwarmNode

/// Who can reach the API: the unix socket is 0660 root-owned (an `--api-group` may connect), and
/// a `tcp:` API refuses to start without TLS unless `--api-insecure` is given, warning each start.
final class APIListenerEndToEndTests: XCTestCase {
    private var cluster: TestCluster!
    private var base = ""

    override func setUpWithError() throws {
        cluster = try TestCluster()
        base = try FileSystem.makeTemporaryDirectory(prefix: "swarmctl-api-")
        // Traversable by everyone, so only the socket's own mode decides who connects.
        XCTAssertEqual(chmod(base, 0o755), 0)
    }

    override func tearDown() {
        cluster?.tearDown()
        if !base.isEmpty { try? FileSystem.removeTree(base) }
    }

    func testTheUnixSocketIs0660AndOnlyItsGroupBesidesRootConnects() throws {
        guard geteuid() == 0 else { throw XCTSkip("needs root: connects as the user nobody") }
        let socket = base + "/api.sock"
        try cluster.initialize("m1", apiAddress: "unix:" + socket, extraFlags: ["--api-group", "nogroup"])
        var info = stat()
        XCTAssertEqual(stat(socket, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o660)
        XCTAssertEqual(info.st_uid, 0)
        XCTAssertEqual(info.st_gid, 65534)
        let asGroupMember = try runAs(group: "nogroup", [cluster.binary, "-H", "unix:" + socket, "info"])
        XCTAssertEqual(asGroupMember.status, 0, asGroupMember.output)
        let asOutsider = try runAs(group: "65533", [cluster.binary, "-H", "unix:" + socket, "info"])
        XCTAssertNotEqual(asOutsider.status, 0, asOutsider.output)
        XCTAssertTrue(asOutsider.output.contains("ermission denied"), asOutsider.output)
    }

    func testWithoutAGroupTheSocketBelongsToTheNodesUserAndGroupOnly() throws {
        let socket = base + "/api.sock"
        try cluster.initialize("m1", apiAddress: "unix:" + socket)
        var info = stat()
        XCTAssertEqual(stat(socket, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o660)
        XCTAssertEqual(info.st_uid, geteuid())
        XCTAssertEqual(info.st_gid, getegid())
        if geteuid() == 0 {
            let outsider = try runAs(group: "nogroup", [cluster.binary, "-H", "unix:" + socket, "info"])
            XCTAssertNotEqual(outsider.status, 0, outsider.output)
        }
    }

    /// A `tcp:` API never serves plain text by default: without --api-tls* files it serves TLS with
    /// the node's own cluster certificate (clients need a certificate from the cluster CA).
    func testATCPAPIServesTLSWithTheNodeCertificateUnlessInsecureAndInsecureIsWarnedAboutAtEveryStart() throws {
        let api = "tcp:127.0.0.1:\(try TestCluster.freePort())"
        try cluster.initialize("m0", dataDirectory: base + "/secure", apiAddress: api) {
            self.cluster.log("m0").contains("API listening")
        }
        let plain = try cluster.runOnce(["-H", api, "info"])
        XCTAssertEqual(plain.status, 1, "a plain-text client must not get in: \(plain.output)")
        XCTAssertEqual(warnings(in: cluster.log("m0")), 0)
        cluster.kill("m0", signal: SIGTERM)

        let data = base + "/data"
        let insecureAPI = "tcp:127.0.0.1:\(try TestCluster.freePort())"
        try cluster.initialize("m1", dataDirectory: data, apiAddress: insecureAPI, extraFlags: ["--api-insecure"])
        XCTAssertEqual(warnings(in: cluster.log("m1")), 1)
        cluster.kill("m1", signal: SIGTERM)
        // run restores --api-insecure from DATA/node.conf, and warns again.
        try cluster.restart("m1", flags: [])
        try cluster.waitUntil("m1 answers after the restart", timeoutSeconds: 20) { (try? self.cluster.cli("m1", ["info"]))?.status == 0 }
        XCTAssertEqual(warnings(in: cluster.log("m1")), 2, cluster.log("m1"))
    }

    func testSettingsThatCannotApplyAreRefusedNotIgnored() throws {
        var configuration = NodeConfiguration()
        configuration.apiAddress = "tcp:127.0.0.1:1"
        configuration.apiGroup = "nogroup"
        configuration.apiInsecure = true
        XCTAssertThrowsError(try APIListenerSecurity.resolve(apiAddress: "tcp:127.0.0.1:1", configuration: configuration, dataDirectory: base)) {
            XCTAssertTrue("\($0)".contains("api-group applies to a unix: api-addr only"), "\($0)")
        }
        configuration.apiGroup = nil
        XCTAssertThrowsError(try APIListenerSecurity.resolve(apiAddress: "unix:/tmp/x.sock", configuration: configuration, dataDirectory: base))
        configuration.apiInsecure = false
        configuration.apiGroup = "no-such-group-here"
        XCTAssertThrowsError(try APIListenerSecurity.resolve(apiAddress: "unix:/tmp/x.sock", configuration: configuration, dataDirectory: base)) {
            XCTAssertTrue("\($0)".contains("api-group no-such-group-here: no such group"), "\($0)")
        }
        var partial = NodeConfiguration()
        XCTAssertNoThrow(try partial.set("api-tlscert", "/x/cert.pem"))
        XCTAssertThrowsError(try partial.validate()) { XCTAssertTrue("\($0)".contains("give all three"), "\($0)") }
    }

    // MARK: Helpers

    private func warnings(in log: String) -> Int {
        log.components(separatedBy: "WITHOUT TLS (--api-insecure)").count - 1
    }

    /// Runs `command` as the user nobody with `group` as its only group; status and output.
    private func runAs(group: String, _ command: [String]) throws -> (status: Int32, output: String) {
        let process = try ChildProcess.spawn("/usr/bin/setpriv", arguments: [
            "--reuid=nobody", "--regid=\(group)", "--clear-groups", "/bin/sh", "-c", "exec \"$@\" 2>&1", "sh",
        ] + command)
        var output: [UInt8] = []
        while let chunk = try process.readOutput(timeoutMilliseconds: 30_000), !chunk.isEmpty { output += chunk }
        let result = try process.wait()
        return (result.exitCode ?? -1, String(decoding: output, as: UTF8.self))
    }
}
