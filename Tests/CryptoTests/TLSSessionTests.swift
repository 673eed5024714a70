import XCTest
@testable import Crypto

/// Mutual TLS 1.3 between two in-memory sessions: who is accepted, who is refused, and how each side learns it.
final class TLSSessionTests: XCTestCase {
    private var pki: TestPKI!

    override func setUpWithError() throws { pki = try TestPKI() }

    private func context(_ role: TLSRole, _ identity: TLSIdentity?, roots: [Certificate]? = nil,
                         verification: TLSPeerVerification = .required) throws -> TLSContext {
        try TLSContext(role: role, identity: identity, trustedRoots: roots ?? [pki.ca.certificate], peerVerification: verification)
    }

    func testMutualHandshakeExchangesDataBothWaysAndServerSeesClientSubject() throws {
        let pair = try TLSPair(client: context(.client, pki.identity(node: "node-w1", role: "swarm-worker")),
                               server: context(.server, pki.identity(node: "node-m1")))
        pair.handshake()
        XCTAssertNil(pair.clientError)
        XCTAssertNil(pair.serverError)
        XCTAssertTrue(pair.client.isHandshakeComplete)
        XCTAssertTrue(pair.server.isHandshakeComplete)
        XCTAssertEqual(pair.client.protocolVersion, "TLSv1.3")
        XCTAssertEqual(pair.serverBytesAfterHandshake, 0, "no session tickets after the handshake")

        let clientSeen = try XCTUnwrap(pair.server.peerCertificateChain.first).subject
        XCTAssertEqual(clientSeen, CertificateSubject(commonName: "node-w1", organizationalUnit: "swarm-worker", organization: "cluster-a"))
        XCTAssertEqual(pair.client.peerCertificateChain.map(\.subject.commonName), ["node-m1"])

        try pair.client.send(Array("ping from client".utf8))
        try pair.server.send(Array(repeating: 7, count: 100_000))   // several records
        pair.pump()
        XCTAssertEqual(String(decoding: pair.serverReceived, as: UTF8.self), "ping from client")
        XCTAssertEqual(pair.clientReceived, Array(repeating: 7, count: 100_000))
        XCTAssertNil(pair.clientError)
        XCTAssertNil(pair.serverError)
    }

    func testDataSentRightAfterTheClientHandshakeArrivesWithItsFinished() throws {
        let pair = try TLSPair(client: context(.client, pki.identity(node: "node-w1")), server: context(.server, pki.identity(node: "node-m1")))
        try pair.client.start()
        XCTAssertEqual(try pair.server.receive(pair.client.takeOutgoing()), [])
        XCTAssertEqual(try pair.client.receive(pair.server.takeOutgoing()), [])
        XCTAssertTrue(pair.client.isHandshakeComplete)
        XCTAssertFalse(pair.server.isHandshakeComplete)
        try pair.client.send(Array("hello".utf8))
        XCTAssertEqual(try pair.server.receive(pair.client.takeOutgoing()), Array("hello".utf8), "Finished and data in one read")
        XCTAssertTrue(pair.server.isHandshakeComplete)
        XCTAssertEqual(pair.server.takeOutgoing(), [], "no session tickets")
    }

    func testClientCertificateFromAnotherCAIsRefusedAndTheClientLearnsItOnItsFirstRead() throws {
        let other = try TestPKI(cluster: "cluster-a")   // same names, different root key
        let pair = try TLSPair(client: context(.client, other.identity(node: "node-m9"), roots: [pki.ca.certificate]),
                               server: context(.server, pki.identity(node: "node-m1")))
        try pair.client.start()
        // ClientHello → server; server flight → client: the client's TLS 1.3 handshake completes here.
        _ = try pair.server.receive(pair.client.takeOutgoing())
        XCTAssertEqual(try pair.client.receive(pair.server.takeOutgoing()), [])
        XCTAssertTrue(pair.client.isHandshakeComplete, "TLS 1.3: the client finishes before the server checked its cert")
        // Client Finished (with its certificate) → server refuses it.
        XCTAssertThrowsError(try pair.server.receive(pair.client.takeOutgoing())) { error in
            let tlsError = error as? TLSError
            XCTAssertEqual(tlsError?.isHandshakeFailure, true)
            XCTAssertTrue(tlsError?.reason.contains("certificate verify failed") == true, "\(error)")
            XCTAssertTrue(tlsError?.reason.contains("unable to get local issuer certificate") == true, "\(error)")
        }
        XCTAssertFalse(pair.server.isHandshakeComplete)
        XCTAssertTrue(pair.server.peerCertificateChain.isEmpty)
        // The server's alert reaches the client on its first read: a handshake failure, no data.
        XCTAssertThrowsError(try pair.client.receive(pair.server.takeOutgoing())) { error in
            XCTAssertEqual((error as? TLSError)?.isHandshakeFailure, true, "\(error)")
            XCTAssertTrue((error as? TLSError)?.reason.contains("unknown ca") == true, "\(error)")
        }
        XCTAssertFalse(pair.client.isHandshakeComplete)
        XCTAssertThrowsError(try pair.client.send([1]), "a dead session stays dead")
    }

    func testExpiredClientCertificateIsRefused() throws {
        let longAgo = TestPKI.now - 30 * 86_400
        let expired = try pki.identity(node: "node-old", now: longAgo, validity: 86_400)
        XCTAssertLessThan(expired.chain[0].notAfter, TestPKI.now)
        let pair = try TLSPair(client: context(.client, expired), server: context(.server, pki.identity(node: "node-m1")))
        pair.handshake()
        XCTAssertEqual(pair.serverError?.isHandshakeFailure, true)
        XCTAssertTrue(pair.serverError?.reason.contains("certificate has expired") == true, "\(String(describing: pair.serverError))")
        XCTAssertEqual(pair.clientError?.isHandshakeFailure, true)
        XCTAssertTrue(pair.clientError?.reason.contains("certificate expired") == true, "\(String(describing: pair.clientError))")
    }

    func testExpiredServerCertificateIsRefusedByTheClientDuringItsHandshake() throws {
        let expired = try pki.identity(node: "node-old", now: TestPKI.now - 30 * 86_400, validity: 86_400)
        let pair = try TLSPair(client: context(.client, pki.identity(node: "node-w1")), server: context(.server, expired))
        pair.handshake()
        XCTAssertEqual(pair.clientError?.isHandshakeFailure, true)
        XCTAssertTrue(pair.clientError?.reason.contains("certificate has expired") == true, "\(String(describing: pair.clientError))")
        XCTAssertFalse(pair.client.isHandshakeComplete)
    }

    func testMissingClientCertificateIsRefusedWhenRequired() throws {
        let pair = try TLSPair(client: context(.client, nil), server: context(.server, pki.identity(node: "node-m1")))
        pair.handshake()
        XCTAssertEqual(pair.serverError?.isHandshakeFailure, true)
        XCTAssertTrue(pair.serverError?.reason.contains("peer did not return a certificate") == true, "\(String(describing: pair.serverError))")
        XCTAssertEqual(pair.clientError?.isHandshakeFailure, true, "the client learns it on its first read")
        XCTAssertTrue(pair.clientError?.reason.contains("certificate required") == true, "\(String(describing: pair.clientError))")
    }

    func testMissingClientCertificateIsAcceptedWhenOnlyVerifiedIfPresented() throws {
        let pair = try TLSPair(client: context(.client, nil, verification: .required),
                               server: context(.server, pki.identity(node: "node-m1"), verification: .ifPresented))
        pair.handshake()
        XCTAssertNil(pair.serverError)
        XCTAssertNil(pair.clientError)
        XCTAssertTrue(pair.server.isHandshakeComplete)
        XCTAssertEqual(pair.server.peerCertificateChain, [])
        XCTAssertEqual(pair.client.peerCertificateChain.first?.subject.commonName, "node-m1")
        try pair.client.send(Array("join".utf8))
        pair.pump()
        XCTAssertEqual(pair.serverReceived, Array("join".utf8))
    }

    func testIfPresentedStillRefusesAClientCertificateFromAnotherCA() throws {
        let other = try TestPKI()
        let pair = try TLSPair(client: context(.client, other.identity(node: "node-x"), roots: [pki.ca.certificate]),
                               server: context(.server, pki.identity(node: "node-m1"), verification: .ifPresented))
        pair.handshake()
        XCTAssertEqual(pair.serverError?.isHandshakeFailure, true)
        XCTAssertEqual(pair.clientError?.isHandshakeFailure, true)
    }

    func testNoneClientAcceptsAnyServerAndExposesItsChainWhileARequiredClientRefusesIt() throws {
        let stranger = try TestPKI(cluster: "elsewhere")
        let serverIdentity = try stranger.identity(node: "node-s")
        let joining = try TLSPair(client: TLSContext(role: .client, identity: nil, trustedRoots: [], peerVerification: .none),
                                  server: TLSContext(role: .server, identity: serverIdentity, trustedRoots: [stranger.ca.certificate],
                                                     peerVerification: .ifPresented))
        joining.handshake()
        XCTAssertNil(joining.clientError)
        XCTAssertNil(joining.serverError)
        XCTAssertEqual(joining.client.peerCertificateChain, serverIdentity.chain)

        let verifying = try TLSPair(client: context(.client, pki.identity(node: "node-w1")),
                                    server: TLSContext(role: .server, identity: serverIdentity, trustedRoots: [stranger.ca.certificate],
                                                       peerVerification: .ifPresented))
        verifying.handshake()
        XCTAssertEqual(verifying.clientError?.isHandshakeFailure, true)
        XCTAssertTrue(verifying.clientError?.reason.contains("certificate verify failed") == true, "\(String(describing: verifying.clientError))")
        XCTAssertFalse(verifying.client.isHandshakeComplete)
    }

    func testCrossSignedNewRootLetsANodeTrustingOnlyTheOldRootAcceptTheNewChain() throws {
        let now = TestPKI.now
        let newPKI = try TestPKI()
        let crossSigned = try pki.ca.crossSign(newPKI.ca.certificate, validitySeconds: 86_400, now: now)
        let newLeaf = try newPKI.identity(node: "node-m2")
        let serverIdentity = TLSIdentity(chain: [newLeaf.chain[0], crossSigned], key: newLeaf.key)

        for roots in [[pki.ca.certificate], [newPKI.ca.certificate]] {
            let pair = try TLSPair(client: context(.client, pki.identity(node: "node-w1"), roots: roots),
                                   server: context(.server, serverIdentity, roots: [pki.ca.certificate]))
            pair.handshake()
            XCTAssertNil(pair.clientError, "trusting \(roots.map(\.sha256Digest))")
            XCTAssertNil(pair.serverError)
            XCTAssertEqual(pair.client.peerCertificateChain, serverIdentity.chain)
        }
        // Without the cross-signed certificate, an old-root-only node refuses the new leaf.
        let pair = try TLSPair(client: context(.client, pki.identity(node: "node-w1")),
                               server: context(.server, newLeaf, roots: [pki.ca.certificate]))
        pair.handshake()
        XCTAssertEqual(pair.clientError?.isHandshakeFailure, true)
    }

    func testGarbageBytesThrowInsteadOfTrapping() throws {
        var generator = SystemRandomNumberGenerator()
        func garbage(_ size: Int) -> [UInt8] { (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) } }
        for size in [5, 300, 20_000] {
            // First byte 0: not a TLS record type, so the outcome does not depend on the random draw.
            let bytes = [0] + garbage(size)
            let server = try TLSSession(context: context(.server, pki.identity(node: "node-m1")))
            XCTAssertThrowsError(try server.receive(bytes)) { XCTAssertEqual(($0 as? TLSError)?.isHandshakeFailure, true, "\($0)") }
            let client = try TLSSession(context: context(.client, pki.identity(node: "node-w1")))
            try client.start()
            XCTAssertThrowsError(try client.receive(bytes)) { XCTAssertEqual(($0 as? TLSError)?.isHandshakeFailure, true, "\($0)") }
        }
        // Fully random input, many times: either refused or (a prefix that could still be a record) waiting
        // for more, never data, never a completed handshake, never a trap.
        let serverContext = try context(.server, pki.identity(node: "node-m1"))
        for _ in 0..<200 {
            let server = try TLSSession(context: serverContext)
            let bytes = garbage(Int.random(in: 1...600, using: &generator))
            if let data = try? server.receive(bytes) {
                XCTAssertEqual(data, [])
                XCTAssertFalse(server.isHandshakeComplete)
            }
        }
        // A plausible TLS record header followed by junk.
        let server = try TLSSession(context: context(.server, pki.identity(node: "node-m1")))
        XCTAssertThrowsError(try server.receive([0x16, 0x03, 0x01, 0x00, 0x10] + Array(repeating: 0xff, count: 16)))

        // Garbage after an established handshake: a protocol error, and the session stays dead.
        let pair = try TLSPair(client: context(.client, pki.identity(node: "node-w1")), server: context(.server, pki.identity(node: "node-m1")))
        pair.handshake()
        XCTAssertTrue(pair.server.isHandshakeComplete)
        let junk = [0x17, 0x03, 0x03, 0x00, 0x20] + (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        XCTAssertThrowsError(try pair.server.receive(junk)) { error in
            guard case .protocolError = error as? TLSError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try pair.server.receive([]))
        XCTAssertFalse(pair.server.isHandshakeComplete)
    }

    func testKeyUpdatesKeepTheConnectionWorkingBothWays() throws {
        let pair = try TLSPair(client: context(.client, pki.identity(node: "node-w1")), server: context(.server, pki.identity(node: "node-m1")))
        pair.handshake()
        XCTAssertThrowsError(try TLSSession(context: context(.client, nil)).updateKeys(), "not before the handshake")
        try pair.client.send([0])
        let first = pair.client.takeOutgoing()
        let plainRecord = first.count
        XCTAssertEqual(try pair.server.receive(first), [0])
        for round in 1...3 {
            try pair.client.updateKeys()
            try pair.client.send([UInt8(round)])
            let withUpdate = pair.client.takeOutgoing()
            XCTAssertGreaterThan(withUpdate.count, plainRecord, "a KeyUpdate record precedes the data")
            XCTAssertEqual(try pair.server.receive(withUpdate), [UInt8(round)])
            try pair.server.send([UInt8(round + 10)])
            let answer = pair.server.takeOutgoing()
            XCTAssertGreaterThan(answer.count, plainRecord, "the server answers the requested update with its own")
            XCTAssertEqual(try pair.client.receive(answer), [UInt8(round + 10)])
        }
        XCTAssertNil(pair.clientError)
        XCTAssertNil(pair.serverError)
    }

    func testShutdownReachesThePeerAsClosedByPeerAfterPendingData() throws {
        let pair = try TLSPair(client: context(.client, pki.identity(node: "node-w1")), server: context(.server, pki.identity(node: "node-m1")))
        pair.handshake()
        try pair.client.send([1, 2, 3])
        pair.client.shutdown()
        XCTAssertEqual(try pair.server.receive(pair.client.takeOutgoing()), [1, 2, 3])
        XCTAssertTrue(pair.server.isClosedByPeer)
        XCTAssertThrowsError(try pair.server.receive([])) { XCTAssertEqual($0 as? TLSError, .closedByPeer) }
    }

    func testSendBeforeHandshakeIsRefused() throws {
        let client = try TLSSession(context: context(.client, pki.identity(node: "node-w1")))
        XCTAssertThrowsError(try client.send([1])) { error in
            guard case .protocolError = error as? TLSError else { return XCTFail("\(error)") }
        }
    }

    func testContextRefusesInconsistentSettings() throws {
        let identity = try pki.identity(node: "node-m1")
        XCTAssertThrowsError(try TLSContext(role: .server, identity: nil, trustedRoots: [pki.ca.certificate], peerVerification: .required))
        XCTAssertThrowsError(try TLSContext(role: .client, identity: identity, trustedRoots: [], peerVerification: .required))
        let otherKey = try PrivateKey.generateP256()
        XCTAssertThrowsError(try TLSContext(role: .server, identity: TLSIdentity(chain: identity.chain, key: otherKey),
                                            trustedRoots: [pki.ca.certificate], peerVerification: .required)) { error in
            XCTAssertTrue("\(error)".contains("does not match"), "\(error)")
        }
    }
}

/// Clients that check the server's name (a `tcp:` API, image registries), and the system-trust client.
final class TLSServerNameTests: XCTestCase {
    private func server(_ pki: TestPKI) throws -> TLSContext {
        let key = try PrivateKey.generateP256()
        let csr = try CertificateSigningRequest(key: key, subject: CertificateSubject(commonName: "x"))
        let leaf = try pki.ca.issue(csr: csr, subject: CertificateSubject(commonName: "node-m1", organizationalUnit: "swarm-manager"),
                                    validitySeconds: 3600, now: TestPKI.now, dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"])
        return try TLSContext(role: .server, identity: TLSIdentity(chain: [leaf], key: key), trustedRoots: [pki.ca.certificate],
                              peerVerification: .ifPresented)
    }

    private func connect(_ client: TLSContext, _ server: TLSContext, serverName: String) throws -> TLSPair {
        let pair = try TLSPair(client: client, server: server, serverName: serverName)
        pair.handshake()
        return pair
    }

    func testClientAcceptsOnlyTheNamesInTheServerCertificate() throws {
        let pki = try TestPKI()
        let serverContext = try server(pki)
        let client = try TLSContext(role: .client, identity: nil, trustedRoots: [pki.ca.certificate], peerVerification: .required)
        for name in ["localhost", "127.0.0.1"] {
            let pair = try connect(client, serverContext, serverName: name)
            XCTAssertNil(pair.clientError, name)
            XCTAssertTrue(pair.client.isHandshakeComplete, name)
        }
        for (name, reason) in [("other.example", "hostname mismatch"), ("10.0.0.1", "IP address mismatch")] {
            let pair = try connect(client, serverContext, serverName: name)
            XCTAssertEqual(pair.clientError?.isHandshakeFailure, true, name)
            XCTAssertTrue(pair.clientError?.reason.contains(reason) == true, "\(String(describing: pair.clientError))")
        }
        let none = try TLSContext(role: .client, identity: nil, trustedRoots: [], peerVerification: .none)
        XCTAssertThrowsError(try TLSSession(context: none, serverName: "localhost"), "a name check without verification would be ignored")
        XCTAssertThrowsError(try TLSSession(context: serverContext, serverName: "localhost"))
        XCTAssertThrowsError(try TLSSession(context: client, serverName: ""))
    }

    func testSystemTrustClientRefusesAClusterCAAndAcceptsItOnlyWhenAdded() throws {
        let pki = try TestPKI()
        let serverContext = try server(pki)
        let system = try TLSContext.systemTrustClient()
        let refused = try connect(system, serverContext, serverName: "localhost")
        XCTAssertEqual(refused.clientError?.isHandshakeFailure, true)
        XCTAssertTrue(refused.clientError?.reason.contains("unable to get local issuer certificate") == true,
                      "\(String(describing: refused.clientError))")
        let withRoot = try connect(TLSContext.systemTrustClient(additionalRoots: [pki.ca.certificate]), serverContext, serverName: "localhost")
        XCTAssertNil(withRoot.clientError)
        XCTAssertEqual(withRoot.client.protocolVersion, "TLSv1.3")
    }
}
