import Foundation
import XCTest
@testable import SwarmNode

final class NodeConfigurationTests: XCTestCase {
    private func write(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "swarmctl-conf-\(UUID().uuidString)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testTheExampleFileParses() throws {
        var configuration = NodeConfiguration()
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("cluster.conf.example").path
        let uncommented = try String(contentsOfFile: example, encoding: .utf8)
            .split(separator: "\n").map { line in
                let key = line.dropFirst(2).split(separator: " ").first.map(String.init) ?? ""
                let isSetting = line.hasPrefix("# ") && line.dropFirst(2).first != " " && line.contains(" = ")
                return isSetting && NodeConfiguration.keys.contains(key) ? String(line.dropFirst(2)) : String(line)
            }
            .joined(separator: "\n")
        let path = try write(uncommented)
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertNoThrow(try configuration.load(file: path))
        XCTAssertEqual(configuration.raftTickMillis, 100)
        XCTAssertEqual(configuration.walSegmentSize, 64 << 20)
    }

    func testValuesAndComments() throws {
        let path = try write("raft-tick = 50ms  # faster\n\nelection-ticks=8\nenable-chaos = true\nsnapshot-chunk-size = 64KiB\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var configuration = NodeConfiguration()
        try configuration.load(file: path)
        XCTAssertEqual(configuration.raftTickMillis, 50)
        XCTAssertEqual(configuration.electionTicks, 8)
        XCTAssertTrue(configuration.enableChaos)
        XCTAssertEqual(configuration.snapshotChunkSize, 64 << 10)
    }

    func testUnknownKeysAndBadValuesNameTheLine() throws {
        for (text, expected) in [
            ("raft-tick = 1s\ncolour = blue\n", ":2: unknown key 'colour'"),
            ("election-ticks = many\n", ":1: election-ticks 'many'"),
            ("executor = docker\n", ":1: executor 'docker'"),
            ("just words\n", ":1: expected KEY = VALUE"),
            ("heartbeat-ticks = 9\nelection-ticks = 5\n", "election-ticks (5) must exceed heartbeat-ticks (9)"),
        ] {
            let path = try write(text)
            defer { try? FileManager.default.removeItem(atPath: path) }
            var configuration = NodeConfiguration()
            XCTAssertThrowsError(try configuration.load(file: path)) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(error) should contain \(expected)")
            }
        }
    }

    func testDispatcherAckTimeoutDefaultsToFiveHeartbeatsAndMustCoverTwo() throws {
        var configuration = NodeConfiguration()
        XCTAssertEqual(configuration.effectiveDispatcherAckTimeoutMillis, 5_000)
        try configuration.set("dispatcher-heartbeat", "2s")
        XCTAssertEqual(configuration.effectiveDispatcherAckTimeoutMillis, 10_000)
        try configuration.set("dispatcher-ack-timeout", "3s")
        XCTAssertThrowsError(try configuration.validate()) { error in
            XCTAssertTrue("\(error)".contains("dispatcher-ack-timeout (3000 ms) must be at least twice dispatcher-heartbeat"), "\(error)")
        }
        try configuration.set("dispatcher-ack-timeout", "4s")
        XCTAssertNoThrow(try configuration.validate())
        XCTAssertEqual(configuration.effectiveDispatcherAckTimeoutMillis, 4_000)
        XCTAssertThrowsError(try configuration.set("dispatcher-ack-timeout", "soon"))
    }

    func testCertExpiryIsAtLeastAnHourExceptOnATestCluster() throws {
        var configuration = NodeConfiguration()
        try configuration.set("cert-expiry", "2m")
        XCTAssertThrowsError(try configuration.validate()) { error in
            XCTAssertTrue("\(error)".contains("cert-expiry (120s) must be at least 1h"), "\(error)")
        }
        try configuration.set("enable-chaos", "true")
        XCTAssertNoThrow(try configuration.validate(), "a test cluster may exercise renewal with short certificates")
        XCTAssertEqual(configuration.certificateExpirySeconds, 120)
        for nonsense in ["59s", "0", "500ms", "soon"] {
            XCTAssertThrowsError(try configuration.set("cert-expiry", nonsense), nonsense)
        }
        try configuration.set("enable-chaos", "false")
        try configuration.set("cert-expiry", "1h")
        XCTAssertNoThrow(try configuration.validate())
    }

    func testMissingFileIsAClearError() {
        var configuration = NodeConfiguration()
        XCTAssertThrowsError(try configuration.load(file: "/nonexistent/cluster.conf")) {
            XCTAssertTrue("\($0)".contains("cannot read config file /nonexistent/cluster.conf"))
        }
    }
}

final class JoinTokenTests: XCTestCase {
    func testTokensRoundTripAndRejectGarbage() throws {
        let token = JoinToken(caDigest: try RandomID.base36(count: 50), secret: try RandomID.base36(count: 25))
        XCTAssertEqual(JoinToken(parsing: token.description), token)
        XCTAssertTrue(token.description.hasPrefix("SWMTKN-1-"))
        for bad in ["", "SWMTKN-1-abc-def", "SWMTKN-2-\(token.caDigest)-\(token.secret)", token.description + "x",
                    token.description.uppercased()] {
            XCTAssertNil(JoinToken(parsing: bad), bad)
        }
    }
}
