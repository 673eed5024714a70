@testable import API
import Crypto
import Glibc
import Platform
import XCTest

/// The HTTP server and client over TLS with required client certificates: a certificate of the
/// trusted CA gets in, none or one whose role (OU) is not admitted does not.
final class HTTPTLSTests: XCTestCase {
    private struct PKI {
        let ca: CertificateAuthority
        let server: TLSIdentity
        let now = Int64(time(nil))

        init() throws {
            ca = try CertificateAuthority.createRoot(commonName: "test-ca", organization: "cluster", validitySeconds: 3600, now: now)
            server = try Self.identity(ca, subject: CertificateSubject(commonName: "node"), now: now, ip: "127.0.0.1")
        }

        static func identity(_ ca: CertificateAuthority, subject: CertificateSubject, now: Int64, ip: String? = nil) throws -> TLSIdentity {
            let key = try PrivateKey.generateP256()
            let certificate = try ca.issue(csr: CertificateSigningRequest(key: key, subject: subject), subject: subject, validitySeconds: 600,
                                           now: now, ipAddresses: ip.map { [$0] } ?? [])
            return TLSIdentity(chain: [certificate], key: key)
        }

        func client(unit: String?) throws -> TLSContext {
            let identity = try unit.map { try Self.identity(ca, subject: CertificateSubject(commonName: "c", organizationalUnit: $0), now: now) }
            return try TLSContext(role: .client, identity: identity, trustedRoots: [ca.certificate], peerVerification: .required)
        }
    }

    private func startTLSServer(_ pki: PKI, allowedUnits: Set<String>?) throws -> ServerHarness {
        var configuration = HTTPServerConfiguration()
        configuration.tls = try TLSContext(role: .server, identity: pki.server, trustedRoots: [pki.ca.certificate], peerVerification: .required)
        configuration.allowedClientUnits = allowedUnits
        return try startServer(tcp: true, configuration: configuration, handler: echoHandler)
    }

    func testAClientCertificateOfTheCAGetsInOverKeptAliveTLS() throws {
        let pki = try PKI()
        let harness = try startTLSServer(pki, allowedUnits: ["client"])
        let client = HTTPClient(address: harness.address, tls: HTTPClientTLS(context: try pki.client(unit: "client"), serverName: "127.0.0.1"))
        for index in 0..<3 {
            let response = try client.send("POST", "/v1.41/echo", body: Array("{\"n\":\(index)}".utf8))
            XCTAssertEqual(response.bodyText, "POST /v1.41/echo  body={\"n\":\(index)}")
        }
        XCTAssertEqual(harness.connectionCount, 1)
    }

    func testNoCertificateIsRefusedByTheHandshake() throws {
        let pki = try PKI()
        let harness = try startTLSServer(pki, allowedUnits: nil)
        let client = HTTPClient(address: harness.address, tls: HTTPClientTLS(context: try pki.client(unit: nil), serverName: "127.0.0.1"))
        XCTAssertThrowsError(try client.send("GET", "/v1.41/_ping")) { error in
            XCTAssertEqual((error as? HTTPClientError)?.kind, .tlsFailed, "\(error)")
            XCTAssertTrue("\(error)".contains("certificate required"), "\(error)")
        }
    }

    func testAWorkerCertificateOfTheClusterCAGets403() throws {
        let pki = try PKI()
        let harness = try startTLSServer(pki, allowedUnits: ["client", "swarm-manager"])
        let worker = HTTPClient(address: harness.address, tls: HTTPClientTLS(context: try pki.client(unit: "swarm-worker"), serverName: "127.0.0.1"))
        let response = try worker.send("POST", "/v1.41/services/create", body: Array("{}".utf8))
        XCTAssertEqual(response.status, 403)
        XCTAssertTrue(response.bodyText.contains("OU=swarm-worker may not use this API"), response.bodyText)
        let manager = HTTPClient(address: harness.address, tls: HTTPClientTLS(context: try pki.client(unit: "swarm-manager"), serverName: "127.0.0.1"))
        XCTAssertEqual(try manager.send("GET", "/v1.41/_ping").status, 200)
    }

    func testAFurtherCheckCanRefuseACertificate() throws {
        let pki = try PKI()
        var configuration = HTTPServerConfiguration()
        configuration.tls = try TLSContext(role: .server, identity: pki.server, trustedRoots: [pki.ca.certificate], peerVerification: .required)
        configuration.authorizeClient = { leaf in leaf.subject.commonName == "c" ? "node c was removed from the cluster" : nil }
        let harness = try startServer(tcp: true, configuration: configuration, handler: echoHandler)
        let client = HTTPClient(address: harness.address, tls: HTTPClientTLS(context: try pki.client(unit: "client"), serverName: "127.0.0.1"))
        let response = try client.send("GET", "/v1.41/_ping")
        XCTAssertEqual(response.status, 403)
        XCTAssertTrue(response.bodyText.contains("node c was removed"), response.bodyText)
    }

    func testTheServerCertificateMustNameTheAddress() throws {
        let pki = try PKI()
        let harness = try startTLSServer(pki, allowedUnits: nil)
        let client = HTTPClient(address: harness.address, tls: HTTPClientTLS(context: try pki.client(unit: "client"), serverName: "10.9.9.9"))
        XCTAssertThrowsError(try client.send("GET", "/v1.41/_ping")) { error in
            XCTAssertEqual((error as? HTTPClientError)?.kind, .tlsFailed, "\(error)")
        }
    }

    func testARenewedCertificateServesNewConnections() throws {
        let pki = try PKI()
        let harness = try startTLSServer(pki, allowedUnits: nil)
        let renewed = try PKI()   // another root: only a client trusting it can tell the switch
        let trustsRenewed = try TLSContext(role: .client, identity: try PKI.identity(pki.ca, subject: CertificateSubject(commonName: "c"), now: pki.now),
                                           trustedRoots: [renewed.ca.certificate], peerVerification: .required)
        XCTAssertThrowsError(try HTTPClient(address: harness.address, tls: HTTPClientTLS(context: trustsRenewed, serverName: "127.0.0.1"))
            .send("GET", "/v1.41/_ping"))
        let context = try TLSContext(role: .server, identity: renewed.server, trustedRoots: [pki.ca.certificate], peerVerification: .required)
        try harness.onLoop { harness.server.replaceTLS(context) }
        let client = HTTPClient(address: harness.address, tls: HTTPClientTLS(context: trustsRenewed, serverName: "127.0.0.1"))
        XCTAssertEqual(try client.send("GET", "/v1.41/_ping").status, 200)
    }

    func testPlainHTTPToATLSServerGetsNoAnswer() throws {
        let pki = try PKI()
        let harness = try startTLSServer(pki, allowedUnits: nil)
        let raw = try RawClient(harness.address)
        try raw.send("GET /v1.41/_ping HTTP/1.1\r\n\r\n")
        XCTAssertNil(try raw.readResponse())
        waitUntil("the server drops it") { harness.connectionCount == 0 }
    }
}
