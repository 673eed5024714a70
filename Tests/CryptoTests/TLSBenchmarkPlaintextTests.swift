import XCTest
@testable import Crypto

/// The benchmark-only plaintext mode: the handshake (and its certificate checks) is unchanged,
/// frames go unencrypted only when both ends asked for it, and one end alone changes nothing.
final class TLSBenchmarkPlaintextTests: XCTestCase {
    private var pki: TestPKI!

    override func setUpWithError() throws { pki = try TestPKI() }

    private func pair(client clientPlaintext: Bool, server serverPlaintext: Bool, clientRoots: [Certificate]? = nil) throws -> TLSPair {
        try TLSPair(client: TLSContext(role: .client, identity: pki.identity(node: "node-w1"), trustedRoots: clientRoots ?? [pki.ca.certificate],
                                       peerVerification: .required, benchmarkPlaintext: clientPlaintext),
                    server: TLSContext(role: .server, identity: pki.identity(node: "node-m1"), trustedRoots: [pki.ca.certificate],
                                       peerVerification: .required, benchmarkPlaintext: serverPlaintext))
    }

    func testBothEndsAgreeingSendFramesInTheClearAfterAVerifiedHandshake() throws {
        let pair = try pair(client: true, server: true)
        try pair.client.start()
        XCTAssertEqual(try pair.server.receive(pair.client.takeOutgoing()), [])
        XCTAssertEqual(try pair.client.receive(pair.server.takeOutgoing()), [])
        XCTAssertTrue(pair.client.isBenchmarkPlaintext)
        // Data right behind the client's Finished, in the same read: the server hands it over as is.
        let marker = Array("frame-in-the-clear".utf8)
        try pair.client.send(marker)
        let wire = pair.client.takeOutgoing()
        XCTAssertEqual(Array(wire.suffix(marker.count)), marker, "visible on the wire")
        XCTAssertEqual(try pair.server.receive(wire), marker)
        XCTAssertTrue(pair.server.isBenchmarkPlaintext)
        XCTAssertEqual(pair.server.peerCertificateChain.first?.subject.commonName, "node-w1", "the identity was still verified")
        try pair.server.send(Array(repeating: 9, count: 50_000))
        XCTAssertEqual(try pair.client.receive(pair.server.takeOutgoing()), Array(repeating: 9, count: 50_000))
    }

    func testOneEndAloneKeepsTheLinkEncrypted() throws {
        for (client, server) in [(true, false), (false, true)] {
            let pair = try pair(client: client, server: server)
            pair.handshake()
            XCTAssertNil(pair.clientError)
            XCTAssertNil(pair.serverError)
            XCTAssertFalse(pair.client.isBenchmarkPlaintext)
            XCTAssertFalse(pair.server.isBenchmarkPlaintext)
            let marker = Array("secret-env-value".utf8)
            try pair.client.send(marker)
            let wire = pair.client.takeOutgoing()
            XCTAssertNil(wire.firstRange(of: marker), "encrypted (client \(client), server \(server))")
            XCTAssertEqual(try pair.server.receive(wire), marker)
        }
    }

    func testCertificateChecksStillRefuseAStranger() throws {
        let other = try TestPKI()
        let pair = try pair(client: true, server: true, clientRoots: [other.ca.certificate])
        pair.handshake()
        XCTAssertNotNil(pair.clientError, "the client does not trust the server's CA")
        XCTAssertFalse(pair.client.isBenchmarkPlaintext)
    }
}
