import API
import Foundation
import Glibc
import Platform
import XCTest

/// Autolock on three real managers (issue 17): turned on, every manager wraps its keys under the
/// unlock key; a restarted manager stays locked (API 503, no cluster port, no vote) until the
/// right key is given, then catches up; a rotated key replaces the old one everywhere; turned off,
/// managers restart unlocked.
final class AutoLockEndToEndTests: XCTestCase {
    private var cluster: TestCluster!

    override func setUpWithError() throws {
        cluster = try TestCluster()
    }

    override func tearDown() {
        cluster?.tearDown()
    }

    private func formThreeManagers() throws {
        try cluster.initialize("m1")
        for (count, name) in [(2, "m2"), (3, "m3")] {
            try cluster.join(name, as: "manager", via: "m1")
            try cluster.waitUntil("\(name) is a reachable manager", timeoutSeconds: 30) {
                let managers = try self.cluster.nodes(via: "m1").compactMap { $0["ManagerStatus"] as? [String: Any] }
                return managers.count == count && managers.allSatisfy { $0["Reachability"] as? String == "reachable" }
            }
        }
    }

    private func keysDirectory(_ name: String) -> String { cluster.members[name]!.dataDirectory + "/keys" }

    private func lockedKEK(_ name: String) -> [UInt8]? {
        FileManager.default.contents(atPath: keysDirectory(name) + "/raft-kek.locked").map(Array.init)
    }

    /// NAME's data dir holds its KEK only wrapped, and its TLS key only sealed.
    private func isWrapped(_ name: String) -> Bool {
        let key = FileManager.default.contents(atPath: cluster.members[name]!.dataDirectory + "/certificates/node-key.pem")
        return lockedKEK(name) != nil && !FileSystem.exists(keysDirectory(name) + "/raft-kek")
            && key.map { String(decoding: $0.prefix(11), as: UTF8.self) == "SWNODEKEY1\n" } == true
    }

    private func unlock(_ name: String, with key: String) throws -> (status: Int32, output: String) {
        try cluster.shell("printf '%s\\n' '\(key)' | '\(cluster.binary)' -H '\(cluster.members[name]!.apiAddress)' swarm unlock")
    }

    /// A committed write through NAME (a 0-replica service, so no task follows).
    private func write(via name: String, _ service: String) throws -> (status: Int32, output: String) {
        try cluster.cli(name, ["service", "create", "--detach", "--name", service, "--replicas", "0", "busybox", "true"])
    }

    private func apiStatus(_ name: String, _ path: String) -> (Int, String) {
        guard let client = try? cluster.apiClient(name), let response = try? client.send("GET", path) else { return (0, "") }
        return (response.status, String(decoding: response.body, as: UTF8.self))
    }

    private func clusterPortAccepts(_ name: String) -> Bool {
        guard let address = try? SocketAddress(parsing: cluster.members[name]!.clusterAddress),
              let (socket, connected) = try? Socket.connect(to: address) else { return false }
        defer { socket.close() }
        if connected { return true }
        usleep(200_000)  // a loopback connect settles at once; refused shows as the pending error
        return socket.pendingError() == 0
    }

    private func waitLocked(_ name: String) throws {
        try cluster.waitUntil("\(name) answers as locked", timeoutSeconds: 20) {
            let (status, body) = self.apiStatus(name, "/v1.41/swarm")
            return status == 503 && body.contains("this node is locked: run swarmctl swarm unlock")
        }
    }

    func testLockedManagerDoesNotVoteUntilUnlockedAndTheKeyRotatesWhileTheClusterRuns() throws {
        try formThreeManagers()
        let enabled = try cluster.cli("m1", ["swarm", "update", "--autolock=true"])
        XCTAssertEqual(enabled.status, 0, enabled.output)
        let key = try XCTUnwrap(enabled.output.split(whereSeparator: { $0 == " " || $0 == "\n" }).first { $0.hasPrefix("SWMKEY-1-") }
            .map(String.init), enabled.output)
        XCTAssertEqual(try cluster.cli("m2", ["swarm", "unlock-key", "-q"]).output.trimmingCharacters(in: .whitespacesAndNewlines), key)
        try cluster.waitUntil("every manager wrapped its keys", timeoutSeconds: 20) { ["m1", "m2", "m3"].allSatisfy(self.isWrapped) }

        // m2 restarts locked: 503 with what to do, no cluster port, and no vote — with m3 down
        // too, m1 alone cannot commit.
        cluster.kill("m2")
        try cluster.restart("m2")
        try waitLocked("m2")
        XCTAssertFalse(clusterPortAccepts("m2"), "a locked manager must not open its cluster port")
        let info = try cluster.cli("m2", ["service", "ls"])
        XCTAssertEqual(info.status, 1)
        XCTAssertTrue(info.output.contains("this node is locked"), info.output)
        cluster.kill("m3")
        XCTAssertNotEqual(try write(via: "m1", "while-locked").status, 0, "a locked manager was counted in the quorum")

        // A wrong key (well-formed) and a malformed one are refused and change nothing.
        let before = lockedKEK("m2")
        let wrong = try unlock("m2", with: "SWMKEY-1-" + String(repeating: "0", count: 64))
        XCTAssertEqual(wrong.status, 1, wrong.output)
        XCTAssertTrue(wrong.output.contains("unlock key is wrong"), wrong.output)
        let malformed = try unlock("m2", with: "SWMKEY-1-nothex")
        XCTAssertEqual(malformed.status, 1, malformed.output)
        XCTAssertEqual(lockedKEK("m2"), before)
        try waitLocked("m2")

        // The right key: m2 starts Raft, m1 and m2 form a quorum again and m2 catches up.
        let unlocked = try unlock("m2", with: key)
        XCTAssertEqual(unlocked.status, 0, unlocked.output)
        try cluster.waitUntil("m1 and m2 commit again", timeoutSeconds: 30) { try self.write(via: "m1", "after-unlock").status == 0 }
        try cluster.waitUntil("m2 caught up", timeoutSeconds: 20) {
            try self.cluster.cli("m2", ["service", "ls", "-q"]).output.contains(where: { !$0.isWhitespace })
                && (try self.cluster.cli("m2", ["service", "inspect", "after-unlock"]).status == 0)
        }
        XCTAssertTrue(clusterPortAccepts("m2"))

        // m3 back (unlocked), then the key rotates with the whole cluster running.
        try cluster.restart("m3")
        try waitLocked("m3")
        XCTAssertEqual(try unlock("m3", with: key).status, 0)
        try cluster.waitUntil("m3 serves again", timeoutSeconds: 20) { self.apiStatus("m3", "/v1.41/swarm").0 == 200 }
        let wrappedBefore = ["m1", "m2", "m3"].map(lockedKEK)
        let rotation = try cluster.cli("m3", ["swarm", "unlock-key", "--rotate", "-q"])
        XCTAssertEqual(rotation.status, 0, rotation.output)
        let newKey = rotation.output.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(newKey.hasPrefix("SWMKEY-1-") && newKey != key, newKey)
        try cluster.waitUntil("every manager rewrapped under the new key", timeoutSeconds: 20) {
            zip(["m1", "m2", "m3"], wrappedBefore).allSatisfy { self.lockedKEK($0) != $1 && self.isWrapped($0) }
        }
        cluster.kill("m2")
        try cluster.restart("m2")
        try waitLocked("m2")
        let old = try unlock("m2", with: key)
        XCTAssertEqual(old.status, 1, "the rotated-out key still unlocks: \(old.output)")
        XCTAssertEqual(try unlock("m2", with: newKey).status, 0)
        try cluster.waitUntil("m2 serves again", timeoutSeconds: 20) { self.apiStatus("m2", "/v1.41/swarm").0 == 200 }

        // Autolock off: keys stored unwrapped again, and a restart needs no key.
        XCTAssertEqual(try cluster.cli("m1", ["swarm", "update", "--autolock=false"]).status, 0)
        try cluster.waitUntil("every manager unwrapped its keys", timeoutSeconds: 20) {
            ["m1", "m2", "m3"].allSatisfy { self.lockedKEK($0) == nil && FileSystem.exists(self.keysDirectory($0) + "/raft-kek") }
        }
        cluster.kill("m3")
        try cluster.restart("m3")
        try cluster.waitUntil("m3 restarts unlocked", timeoutSeconds: 20) { self.apiStatus("m3", "/v1.41/swarm").0 == 200 }
    }

    /// The docker CLI against a locked manager: its error shows the locked message, and
    /// `docker swarm unlock` (key on stdin) unlocks it.
    func testDockerCLIUnlocksALockedManager() throws {
        let docker = "/usr/local/bin/docker"
        guard FileSystem.exists(docker) else { throw XCTSkip("the docker CLI is not installed at \(docker)") }
        try cluster.initialize("m1")
        let enabled = try cluster.shell("DOCKER_HOST='unix://\(cluster.members["m1"]!.apiAddress.dropFirst(5))' \(docker) swarm update --autolock=true")
        XCTAssertEqual(enabled.status, 0, enabled.output)
        let key = try XCTUnwrap(enabled.output.split(whereSeparator: { $0 == " " || $0 == "\n" }).first { $0.hasPrefix("SWMKEY-1-") }
            .map(String.init), enabled.output)
        try cluster.waitUntil("m1 wrapped its keys", timeoutSeconds: 20) { self.isWrapped("m1") }
        cluster.kill("m1")
        try cluster.restart("m1")
        try waitLocked("m1")
        let host = "DOCKER_HOST='unix://\(cluster.members["m1"]!.apiAddress.dropFirst(5))'"
        let refused = try cluster.shell("\(host) \(docker) service ls")
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.output.contains("this node is locked"), refused.output)
        let wrong = try cluster.shell("echo SWMKEY-1-\(String(repeating: "A", count: 64)) | \(host) \(docker) swarm unlock")
        XCTAssertNotEqual(wrong.status, 0, wrong.output)
        let right = try cluster.shell("echo \(key) | \(host) \(docker) swarm unlock")
        XCTAssertEqual(right.status, 0, right.output)
        try cluster.waitUntil("m1 serves again", timeoutSeconds: 20) { self.apiStatus("m1", "/v1.41/swarm").0 == 200 }

        // swarmctl swarm update --cert-expiry reaches the CA's spec (docker's route).
        let expiry = try cluster.cli("m1", ["swarm", "update", "--cert-expiry", "720h"])
        XCTAssertEqual(expiry.status, 0, expiry.output)
        XCTAssertTrue(apiStatus("m1", "/v1.41/swarm").1.contains(#""NodeCertExpiry":2592000000000000"#), apiStatus("m1", "/v1.41/swarm").1)
        XCTAssertEqual(try cluster.cli("m1", ["swarm", "update", "--cert-expiry", "10m"]).status, 2, "below 1h is a usage error")
    }
}
