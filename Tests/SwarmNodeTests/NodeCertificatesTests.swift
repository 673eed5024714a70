import ClusterState
import Crypto
import Foundation
import Glibc
import Platform
@testable import SwarmNode
import XCTest

/// The node's certificate files: 0600, replaced crash-safely, renewed at 50–80% of their life.
final class NodeCertificatesTests: XCTestCase {
    private func issue(_ nodeID: String, role: NodeRole = .worker, validity: Int64 = 90 * 86_400) throws -> NodeCertificates {
        let now = Clock.unixSeconds()
        let root = try ClusterSigner.createRoot(clusterID: "clusterA", now: now)
        let ca = ClusterCA(rootCertificatePEM: root.certificate.pem, rootKeyPEM: root.key.pem)
        let key = try PrivateKey.generateP256()
        let issued = try ClusterSigner.issue(csr: CertificateSigningRequest(key: key, subject: CertificateSubject(commonName: "x")),
                                             nodeID: nodeID, role: role, clusterID: "clusterA", ca: ca, validitySeconds: validity, now: now)
        return NodeCertificates(key: key, chain: issued.chain, roots: issued.roots)
    }

    private func temporaryDirectory() throws -> String {
        let directory = try FileSystem.makeTemporaryDirectory(prefix: "swarmctl-certs-")
        addTeardownBlock { try? FileSystem.removeTree(directory) }
        return directory
    }

    func testFilesAreOwnerOnlyAndRoundTrip() throws {
        let directory = try temporaryDirectory()
        let certificates = try issue("node1")
        try certificates.save(to: directory)
        for name in ["node-key.pem", "node-cert.pem", "ca.pem"] {
            var info = stat()
            XCTAssertEqual(stat(NodeCertificates.directory(in: directory) + "/" + name, &info), 0)
            XCTAssertEqual(info.st_mode & 0o777, 0o600, name)
        }
        let loaded = try NodeCertificates.load(from: directory)
        XCTAssertEqual(loaded.chain, certificates.chain)
        XCTAssertEqual(loaded.roots, certificates.roots)
        XCTAssertEqual(loaded.key.pem, certificates.key.pem)
        XCTAssertEqual(loaded.role, .worker)
        XCTAssertNoThrow(try loaded.transportTLS(), "the key matches the certificate")
    }

    func testACrashDuringReplacementKeepsAMatchingPair() throws {
        let directory = try temporaryDirectory()
        let old = try issue("node1")
        try old.save(to: directory)
        let new = try issue("node1")
        let folder = NodeCertificates.directory(in: directory)
        // Crash before the certificate was renamed: both .new files exist; the old pair stays.
        try Data(new.key.pem.utf8).write(to: URL(fileURLWithPath: folder + "/node-key.pem.new"))
        try Data(new.chain.map(\.pem).joined().utf8).write(to: URL(fileURLWithPath: folder + "/node-cert.pem.new"))
        XCTAssertEqual(try NodeCertificates.load(from: directory).leaf, old.leaf)
        XCTAssertFalse(FileSystem.exists(folder + "/node-key.pem.new"))
        // Crash between the renames: the new certificate is in place, its key still .new.
        try Data(new.key.pem.utf8).write(to: URL(fileURLWithPath: folder + "/node-key.pem.new"))
        try FileSystem.remove(folder + "/node-cert.pem")
        try Data(new.chain.map(\.pem).joined().utf8).write(to: URL(fileURLWithPath: folder + "/node-cert.pem"))
        let recovered = try NodeCertificates.load(from: directory)
        XCTAssertEqual(recovered.leaf, new.leaf)
        XCTAssertEqual(recovered.key.pem, new.key.pem, "the key that matches the certificate")
        XCTAssertNoThrow(try recovered.transportTLS())
    }

    func testRenewalFallsBetweenHalfAndFourFifthsOfTheValidity() throws {
        // The validity counts from the issue time, not from the backdated notBefore: a 1-minute
        // certificate renews 30-48 s after it was issued (it was renewed at once before).
        for validity: Int64 in [60, 3_600, 10_000] {
            let issuedAt = Clock.unixSeconds()
            let certificates = try issue("node1", validity: validity)
            XCTAssertEqual(certificates.leaf.notAfter - certificates.leaf.notBefore, validity + CertificateAuthority.backdateSeconds)
            for _ in 0..<50 {
                let renewal = certificates.renewalTime()
                XCTAssertGreaterThanOrEqual(renewal, issuedAt + validity / 2, "validity \(validity) s")
                XCTAssertLessThanOrEqual(renewal, issuedAt + 1 + validity * 8 / 10 + 1, "validity \(validity) s")
            }
        }
    }

    func testSigningUsesTheClusterSpecsExpiry() {
        var spec = ClusterSpec()
        XCTAssertEqual(ClusterSigner.nodeValiditySeconds(spec), 90 * 86_400)
        spec.caConfig = ClusterSpec.CAConfig(nodeCertExpiry: 7_200 * 1_000_000_000)
        XCTAssertEqual(ClusterSigner.nodeValiditySeconds(spec), 7_200)
        spec.caConfig = ClusterSpec.CAConfig(nodeCertExpiry: 5 * 1_000_000_000)
        XCTAssertEqual(ClusterSigner.nodeValiditySeconds(spec), 60, "never below the test clusters' minute")
    }
}
