import API
import ClusterState
import Crypto
import Foundation
import Platform
import Storage
@testable import SwarmNode
import XCTest

/// A locked manager's data dir and its locked API, without processes: the TLS key is sealed under
/// the KEK, a wrong key opens nothing and changes nothing, and only `_ping`, `info` and
/// `swarm/unlock` answer while locked.
final class LockedManagerTests: XCTestCase {
    private func lockedDataDirectory() throws -> (directory: String, key: String, certificates: NodeCertificates) {
        let directory = try FileSystem.makeTemporaryDirectory(prefix: "swarmctl-locked-")
        addTeardownBlock { try? FileSystem.removeTree(directory) }
        let now = Clock.unixSeconds()
        let root = try ClusterSigner.createRoot(clusterID: "clusterA", now: now)
        let ca = ClusterCA(rootCertificatePEM: root.certificate.pem, rootKeyPEM: root.key.pem)
        let key = try PrivateKey.generateP256()
        let issued = try ClusterSigner.issue(csr: CertificateSigningRequest(key: key, subject: CertificateSubject(commonName: "x")),
                                             nodeID: "node1", role: .manager, clusterID: "clusterA", ca: ca, validitySeconds: 3600, now: now)
        let certificates = NodeCertificates(key: key, chain: issued.chain, roots: issued.roots)
        let kek = try ManagerKeyLock.currentOrNewKey(dataDirectory: directory)
        let unlockKey = try ManagerKeyLock.generateUnlockKey()
        try ManagerKeyLock.lock(dataDirectory: directory, kek: kek, unlockKey: unlockKey)
        try certificates.save(to: directory, sealingKey: kek)
        return (directory, unlockKey, certificates)
    }

    private func files(_ directory: String) throws -> [String: [UInt8]] {
        var contents: [String: [UInt8]] = [:]
        for sub in ["keys", "certificates"] {
            for name in try FileSystem.list(directory + "/" + sub) {
                contents[sub + "/" + name] = try File.openForReading(directory + "/" + sub + "/" + name).readAll()
            }
        }
        return contents
    }

    func testTLSKeyIsSealedAtRestAndOpensOnlyWithTheUnlockKey() throws {
        let (directory, unlockKey, certificates) = try lockedDataDirectory()
        let stored = try File.openForReading(NodeCertificates.directory(in: directory) + "/node-key.pem").readAll()
        XCTAssertTrue(SealedNodeKey.isSealed(stored))
        XCTAssertFalse(String(decoding: stored, as: UTF8.self).contains("PRIVATE KEY"), "the PEM is in clear")
        XCTAssertThrowsError(try NodeCertificates.load(from: directory)) { error in
            XCTAssertTrue("\(error)".contains("swarm unlock"), "\(error)")
        }
        let logger = NodeLogger(nodeID: "test", levelName: "error")
        let before = try files(directory)
        for wrong in ["SWMKEY-1-" + String(repeating: "0", count: 64), "SWMKEY-1-123", "", "not a key"] {
            guard case let .failure(refusal) = LockedManager.attemptUnlock(wrong, dataDirectory: directory, logger: logger) else {
                return XCTFail("\(wrong) unlocked the manager")
            }
            XCTAssertTrue(refusal.message.hasPrefix("swarm could not be unlocked"), refusal.message)
        }
        XCTAssertEqual(try files(directory), before, "a refused key changed the data dir")
        guard case let .success(unlocked) = LockedManager.attemptUnlock(unlockKey + "\n", dataDirectory: directory, logger: logger) else {
            return XCTFail("the right key was refused")
        }
        XCTAssertEqual(unlocked.certificates.key.pem, certificates.key.pem)
        XCTAssertEqual(unlocked.unlockKey, unlockKey)
        XCTAssertEqual(try files(directory), before, "unlocking alone rewrites nothing")
    }

    func testLockedAPIAnswersOnlyPingInfoAndUnlock() throws {
        var tried: [String] = []
        func respond(_ method: String, _ target: String, _ body: String = "", accept: Bool = false) -> HTTPResponse {
            LockedManager.respond(to: HTTPRequest(method: method, target: target, body: Array(body.utf8)), nodeID: "node1",
                                  nodeAddress: "127.0.0.1:4242") { key in
                tried.append(key)
                return accept ? .success(()) : .failure(LockedManager.LockedRefusal(message: "swarm could not be unlocked: wrong"))
            }
        }
        XCTAssertEqual(respond("GET", "/_ping").status, 200)
        XCTAssertEqual(respond("HEAD", "/v1.41/_ping").status, 200)
        let info = respond("GET", "/v1.41/info")
        XCTAssertEqual(info.status, 200)
        let swarm = (try JSONSerialization.jsonObject(with: Data(info.body)) as? [String: Any])?["Swarm"] as? [String: Any]
        XCTAssertEqual(swarm?["LocalNodeState"] as? String, "locked", "the docker CLI asks for the key only in this state")
        for (method, target) in [("GET", "/v1.41/swarm"), ("GET", "/services"), ("POST", "/v1.41/services/create"), ("GET", "/swarm/unlockkey")] {
            let answer = respond(method, target)
            XCTAssertEqual(answer.status, 503, target)
            XCTAssertTrue(String(decoding: answer.body, as: UTF8.self).contains("this node is locked: run swarmctl swarm unlock"), target)
        }
        XCTAssertEqual(respond("POST", "/v1.41/swarm/unlock", #"{"UnlockKey":"SWMKEY-1-AA"}"#).status, 400)
        XCTAssertEqual(respond("POST", "/v1.41/swarm/unlock", "{}").status, 400)
        XCTAssertEqual(respond("POST", "/swarm/unlock", #"{"UnlockKey":"SWMKEY-1-BB"}"#, accept: true).status, 200)
        XCTAssertEqual(tried, ["SWMKEY-1-AA", "SWMKEY-1-BB"])
    }
}
