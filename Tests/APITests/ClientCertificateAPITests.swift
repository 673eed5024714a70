@testable import API
import ClusterState
import Crypto
import Foundation
import Glibc
import XCTest

/// `POST /swarmctl/client-certificate`: a manager signs a client's CSR (its key stays with the
/// client) as an OU=client certificate of the cluster CA; bad CSRs and non-managers are refused.
final class ClientCertificateAPITests: XCTestCase {
    private var plane: FakeControlPlane!
    private var api: DockerAPI!

    override func setUp() {
        plane = FakeControlPlane()
        api = DockerAPI(controlPlane: plane, identity: ServerIdentity(version: "0.1.0", gitCommit: "abc", arch: "amd64", kernelVersion: "6.1"),
                        now: { Timestamp(millisecondsSinceEpoch: 1_800_000_000_000) })
    }

    private func call(_ method: String, _ body: String?) -> HTTPResponse {
        var answers: [HTTPResponse] = []
        api.handle(HTTPRequest(method: method, target: "/v1.41/swarmctl/client-certificate", body: body.map { Array($0.utf8) } ?? [])) {
            answers.append($0)
        }
        XCTAssertEqual(answers.count, 1)
        return answers.first ?? HTTPResponse(status: 0)
    }

    private func csrBody(_ key: PrivateKey) throws -> String {
        let csr = try CertificateSigningRequest(key: key, subject: CertificateSubject(commonName: "asks-for-anything", organizationalUnit: "swarm-manager"))
        return String(decoding: try JSONEncoder().encode(ClientCertificateRequest(csr: csr.pem)), as: UTF8.self)
    }

    func testAManagerSignsTheCSRAsAClientCertificateOfItsCA() throws {
        let now = Int64(time(nil))
        let ca = try CertificateAuthority.createRoot(commonName: "root", organization: "cluster0123456789abcdefgh", validitySeconds: 3600, now: now)
        plane.clientCA = ca
        let key = try PrivateKey.generateP256()
        let response = call("POST", try csrBody(key))
        XCTAssertEqual(response.status, 200, response.bodyText)
        let issued = try JSONDecoder().decode(ClientCertificateResponse.self, from: Data(response.body))
        let leaf = try XCTUnwrap(Certificate.parseChain(pem: issued.certificate).first)
        XCTAssertEqual(leaf.subject.organizationalUnit, "client", "the manager assigns the role, not the CSR")
        XCTAssertNoThrow(try Certificate.verify(leaf, intermediates: [], roots: Certificate.parseChain(pem: issued.ca), at: now))
        // The certificate is for the CSR's key, which never left the client.
        XCTAssertNoThrow(try TLSIdentity(chain: [leaf], key: key).assertUsable())
    }

    func testBadCSRsOtherMethodsAndNodesWithoutACAAreRefused() throws {
        plane.clientCA = try CertificateAuthority.createRoot(commonName: "root", organization: "c", validitySeconds: 3600, now: Int64(time(nil)))
        XCTAssertEqual(call("POST", #"{"CSR":"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}"#).status, 400)
        XCTAssertEqual(call("POST", "not json").status, 400)
        XCTAssertEqual(call("GET", nil).status, 405)
        plane.clientCA = nil
        let refused = call("POST", try csrBody(try PrivateKey.generateP256()))
        XCTAssertEqual(refused.status, 503)
        XCTAssertTrue(refused.bodyText.contains("no certificate authority"), refused.bodyText)
        plane.local.role = .worker
        XCTAssertEqual(call("POST", try csrBody(try PrivateKey.generateP256())).status, 503, "workers do not sign")
    }
}

private extension TLSIdentity {
    /// Throws unless the key matches the leaf (a server context checks exactly that).
    func assertUsable() throws {
        _ = try TLSContext(role: .server, identity: self, trustedRoots: [], peerVerification: .none)
    }
}
