import Foundation
import XCTest
@testable import Crypto

/// Keys, CSRs, certificates and the CA: encodings round-trip, issued fields are what the CA chose,
/// and verification refuses what it must.
final class CertificateTests: XCTestCase {
    func testPrivateKeyPEMRoundTripsAndRefusesGarbage() throws {
        let key = try PrivateKey.generateP256()
        XCTAssertTrue(key.pem.hasPrefix("-----BEGIN PRIVATE KEY-----"), "PKCS#8")
        XCTAssertEqual(try PrivateKey(pem: key.pem), key)
        XCTAssertNotEqual(try PrivateKey.generateP256(), key)
        XCTAssertThrowsError(try PrivateKey(pem: "not a key"))
        XCTAssertThrowsError(try PrivateKey(pem: key.pem.replacingOccurrences(of: "A", with: "B")))
        XCTAssertThrowsError(try PrivateKey(pem: "-----BEGIN PRIVATE KEY-----\n\0\n-----END PRIVATE KEY-----\n"))
    }

    func testOnlyUnencryptedP256KeysAndRequestsAreAccepted() throws {
        XCTAssertThrowsError(try PrivateKey(pem: ForeignKeyFixtures.p384Key)) { XCTAssertTrue("\($0)".contains("P-256"), "\($0)") }
        XCTAssertThrowsError(try CertificateSigningRequest(pem: ForeignKeyFixtures.p384Request)) {
            XCTAssertTrue("\($0)".contains("P-256"), "\($0)")
        }
        // Refused without prompting for a passphrase on the terminal.
        XCTAssertThrowsError(try PrivateKey(pem: ForeignKeyFixtures.encryptedP256Key))
    }

    func testRootCertificateFields() throws {
        let now: Int64 = 1_800_000_000
        let ca = try CertificateAuthority.createRoot(commonName: "swarm-ca", organization: "cluster-a", validitySeconds: 10 * 86_400, now: now)
        let root = ca.certificate
        XCTAssertTrue(root.isCertificateAuthority)
        XCTAssertEqual(root.subject, CertificateSubject(commonName: "swarm-ca", organizationalUnit: nil, organization: "cluster-a"))
        XCTAssertEqual(root.issuer, root.subject)
        XCTAssertEqual(root.notBefore, now - 3600, "backdated one hour for clock skew")
        XCTAssertEqual(root.notAfter, now + 10 * 86_400)
        XCTAssertEqual(root.sha256Digest, Crypto.sha256(root.der))
        XCTAssertNoThrow(try Certificate.verify(root, intermediates: [], roots: [root], at: now))
    }

    func testIssuedLeafCarriesTheSubjectTheCAChoseNotTheRequested() throws {
        let now = TestPKI.now
        let ca = try CertificateAuthority.createRoot(commonName: "swarm-ca", organization: "cluster-a", validitySeconds: 365 * 86_400, now: now)
        let key = try PrivateKey.generateP256()
        let csr = try CertificateSigningRequest(key: key, subject: CertificateSubject(commonName: "node-m1", organizationalUnit: "swarm-manager"))
        let chosen = CertificateSubject(commonName: "node-7", organizationalUnit: "swarm-worker", organization: "cluster-a")
        let leaf = try ca.issue(csr: csr, subject: chosen, validitySeconds: 90 * 86_400, now: now)
        XCTAssertEqual(leaf.subject, chosen)
        XCTAssertEqual(leaf.issuer, ca.certificate.subject)
        XCTAssertFalse(leaf.isCertificateAuthority)
        XCTAssertEqual(leaf.notBefore, now - 3600)
        XCTAssertEqual(leaf.notAfter, now + 90 * 86_400)
        XCTAssertNoThrow(try Certificate.verify(leaf, intermediates: [], roots: [ca.certificate], at: now))
        // The leaf is for the CSR's key: a TLS identity with that key is accepted, with another key refused.
        XCTAssertNoThrow(try TLSContext(role: .server, identity: TLSIdentity(chain: [leaf], key: key), trustedRoots: [ca.certificate],
                                        peerVerification: .required))
        // Random 128-bit serials differ.
        let again = try ca.issue(csr: csr, subject: chosen, validitySeconds: 90 * 86_400, now: now)
        XCTAssertNotEqual(leaf.serialNumber, again.serialNumber)
        XCTAssertGreaterThan(leaf.serialNumber.count, 16)
        // A leaf cannot act as a CA.
        XCTAssertThrowsError(try CertificateAuthority(certificate: leaf, key: key))
    }

    func testLeafNeverOutlivesItsCAAndBadValidityIsRefused() throws {
        let now: Int64 = 1_800_000_000
        let ca = try CertificateAuthority.createRoot(commonName: "swarm-ca", organization: "c", validitySeconds: 86_400, now: now)
        let csr = try CertificateSigningRequest(key: PrivateKey.generateP256(), subject: CertificateSubject(commonName: "x"))
        let leaf = try ca.issue(csr: csr, subject: CertificateSubject(commonName: "n"), validitySeconds: 90 * 86_400, now: now)
        XCTAssertEqual(leaf.notAfter, ca.certificate.notAfter)
        XCTAssertThrowsError(try ca.issue(csr: csr, subject: CertificateSubject(commonName: "n"), validitySeconds: 0, now: now))
        XCTAssertThrowsError(try ca.issue(csr: csr, subject: CertificateSubject(commonName: ""), validitySeconds: 60, now: now))
        XCTAssertThrowsError(try ca.issue(csr: csr, subject: CertificateSubject(commonName: String(repeating: "a", count: 65)),
                                          validitySeconds: 60, now: now))
    }

    func testVerifyRefusesExpiredNotYetValidAndForeignCertificates() throws {
        let now = TestPKI.now
        let pki = try TestPKI(now: now)
        let leaf = try pki.identity(node: "node-1", now: now, validity: 86_400).chain[0]
        XCTAssertThrowsError(try Certificate.verify(leaf, intermediates: [], roots: [pki.ca.certificate], at: leaf.notAfter + 1)) {
            XCTAssertTrue("\($0)".contains("certificate has expired"), "\($0)")
        }
        XCTAssertThrowsError(try Certificate.verify(leaf, intermediates: [], roots: [pki.ca.certificate], at: leaf.notBefore - 1)) {
            XCTAssertTrue("\($0)".contains("certificate is not yet valid"), "\($0)")
        }
        let other = try TestPKI(now: now)
        XCTAssertThrowsError(try Certificate.verify(leaf, intermediates: [], roots: [other.ca.certificate], at: now)) {
            XCTAssertTrue("\($0)".contains("unable to get local issuer certificate"), "\($0)")
        }
        XCTAssertThrowsError(try Certificate.verify(leaf, intermediates: [], roots: [], at: now))
    }

    func testCrossSignedNewRootVerifiesNewLeavesForOldRootOnlyNodes() throws {
        let now = TestPKI.now
        let old = try TestPKI(now: now)
        let new = try TestPKI(now: now)   // same subject "swarm-ca"/"cluster-a": the key identifiers tell them apart
        let newLeaf = try new.identity(node: "node-1", now: now).chain[0]
        let crossSigned = try old.ca.crossSign(new.ca.certificate, validitySeconds: 86_400, now: now)
        XCTAssertEqual(crossSigned.subject, new.ca.certificate.subject)
        XCTAssertTrue(crossSigned.isCertificateAuthority)
        XCTAssertNoThrow(try Certificate.verify(newLeaf, intermediates: [crossSigned], roots: [old.ca.certificate], at: now))
        XCTAssertNoThrow(try Certificate.verify(newLeaf, intermediates: [crossSigned], roots: [new.ca.certificate], at: now))
        XCTAssertThrowsError(try Certificate.verify(newLeaf, intermediates: [], roots: [old.ca.certificate], at: now))
        // Old leaves still verify for nodes that trust the old root.
        let oldLeaf = try old.identity(node: "node-2", now: now).chain[0]
        XCTAssertNoThrow(try Certificate.verify(oldLeaf, intermediates: [], roots: [old.ca.certificate, new.ca.certificate], at: now))
        // Only CA certificates can be cross-signed.
        XCTAssertThrowsError(try old.ca.crossSign(newLeaf, validitySeconds: 86_400, now: now))
    }

    func testCSRRoundTripsAndATamperedCSRIsRefused() throws {
        let key = try PrivateKey.generateP256()
        let csr = try CertificateSigningRequest(key: key, subject: CertificateSubject(commonName: "node-abcdef", organizationalUnit: "swarm-worker"))
        let parsed = try CertificateSigningRequest(pem: csr.pem)
        XCTAssertEqual(parsed, csr)
        XCTAssertEqual(parsed.requestedSubject.commonName, "node-abcdef")

        var tampered = csr.der
        let name = Array("node-abcdef".utf8)
        let at = try XCTUnwrap((0...(tampered.count - name.count)).first { Array(tampered[$0..<($0 + name.count)]) == name })
        tampered[at + 5] = UInt8(ascii: "z")   // node-zbcdef: the signature no longer covers it
        let tamperedPEM = "-----BEGIN CERTIFICATE REQUEST-----\n"
            + Data(tampered).base64EncodedString(options: .lineLength64Characters) + "\n-----END CERTIFICATE REQUEST-----\n"
        XCTAssertThrowsError(try CertificateSigningRequest(pem: tamperedPEM)) {
            XCTAssertTrue("\($0)".contains("signature does not verify"), "\($0)")
        }
        XCTAssertThrowsError(try CertificateSigningRequest(pem: "garbage"))
    }

    func testCertificatePEMAndDERRoundTripAndChainParsing() throws {
        let pki = try TestPKI()
        let leaf = try pki.identity(node: "node-1").chain[0]
        XCTAssertEqual(try Certificate(pem: leaf.pem), leaf)
        XCTAssertEqual(try Certificate(der: leaf.der), leaf)
        XCTAssertEqual(Set([leaf, try Certificate(der: leaf.der)]).count, 1)
        let bundle = "leading text\n" + leaf.pem + "between\n" + pki.ca.certificate.pem
        XCTAssertEqual(try Certificate.parseChain(pem: bundle), [leaf, pki.ca.certificate])
        XCTAssertThrowsError(try Certificate(pem: bundle), "one certificate expected")
        XCTAssertThrowsError(try Certificate.parseChain(pem: ""))
        XCTAssertThrowsError(try Certificate.parseChain(pem: leaf.pem + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
        XCTAssertThrowsError(try Certificate(der: []))
        XCTAssertThrowsError(try Certificate(der: Array(leaf.der.dropLast())))
        XCTAssertThrowsError(try Certificate(der: leaf.der + [0]))
    }

    func testCAKeyMustMatchItsCertificate() throws {
        let pki = try TestPKI()
        XCTAssertNoThrow(try CertificateAuthority(certificate: pki.ca.certificate, key: pki.ca.key))
        XCTAssertThrowsError(try CertificateAuthority(certificate: pki.ca.certificate, key: PrivateKey.generateP256())) {
            XCTAssertTrue("\($0)".contains("does not belong"), "\($0)")
        }
    }

    func testSubjectAlternativeNamesForTCPAPICertificates() throws {
        let pki = try TestPKI()
        let csr = try CertificateSigningRequest(key: PrivateKey.generateP256(), subject: CertificateSubject(commonName: "x"))
        let leaf = try pki.ca.issue(csr: csr, subject: CertificateSubject(commonName: "node-1"), validitySeconds: 3600, now: TestPKI.now,
                                    dnsNames: ["localhost"], ipAddresses: ["127.0.0.1", "::1"])
        XCTAssertTrue(leaf.matches(host: "127.0.0.1"))
        XCTAssertTrue(leaf.matches(host: "::1"))
        XCTAssertTrue(leaf.matches(host: "localhost"))
        XCTAssertFalse(leaf.matches(host: "10.0.0.1"))
        XCTAssertFalse(leaf.matches(host: "example.com"))
        XCTAssertThrowsError(try pki.ca.issue(csr: csr, subject: CertificateSubject(commonName: "n"), validitySeconds: 60, now: TestPKI.now,
                                              dnsNames: ["a,IP:1.2.3.4"]))
        XCTAssertThrowsError(try pki.ca.issue(csr: csr, subject: CertificateSubject(commonName: "n"), validitySeconds: 60, now: TestPKI.now,
                                              ipAddresses: ["300.1.1.1"]))
    }
}
