import ClusterState
import Crypto
import Raft
@testable import SwarmNode
import Transport
import XCTest

/// Every rule of the cluster port's authorization table, on the pure function.
final class FrameAuthorizationTests: XCTestCase {
    private let manager = PeerIdentity(nodeID: "manager1", role: .manager)
    private let worker = PeerIdentity(nodeID: "worker1", role: .worker)
    private let demoted = PeerIdentity(nodeID: "demoted1", role: .manager)

    /// A manager's view: manager1 leads and is a Raft member; worker1 runs task t1; demoted1 holds
    /// a manager certificate but the state made it a worker; removed1 was removed.
    private func facts(localIsManager: Bool = true, hasState: Bool = true) -> AuthorizationFacts {
        let roles: [String: NodeRole] = ["manager1": .manager, "worker1": .worker, "demoted1": .worker]
        let tasks: [String: TaskOwner] = ["t1": .node("worker1"), "t2": .node("other"), "t3": .unassigned]
        return AuthorizationFacts(localIsManager: localIsManager, hasState: hasState, stateRole: { roles[$0] },
                                  isDenied: { $0 == "removed1" }, raftMembers: [manager.transportID, demoted.transportID],
                                  leader: manager.transportID, taskOwner: { tasks[$0] ?? .unknown })
    }

    private func check(_ request: FrameRequest, _ peer: PeerIdentity?, direction: ConnectionInfo.Direction = .inbound,
                       facts: AuthorizationFacts? = nil) -> FrameVerdict {
        FrameAuthorization.check(request, from: peer, direction: direction, facts: facts ?? self.facts())
    }

    private func assertRefused(_ verdict: FrameVerdict, closes: Bool? = nil, file: StaticString = #filePath, line: UInt = #line) {
        guard case let .refused(_, close) = verdict else { return XCTFail("expected a refusal, got \(verdict)", file: file, line: line) }
        if let closes { XCTAssertEqual(close, closes, file: file, line: line) }
    }

    func testRaftMessagesOnlyFromManagerMembersUnderTheirOwnID() {
        XCTAssertEqual(check(.raftMessage(from: manager.transportID), manager), .allowed)
        assertRefused(check(.raftMessage(from: worker.transportID), worker))
        XCTAssertEqual(check(.raftMessage(from: demoted.transportID), demoted), .allowed,
                       "a node being demoted answers Raft until the membership change removing it commits")
        var removedFromRaft = facts()
        removedFromRaft.raftMembers = [manager.transportID]
        assertRefused(check(.raftMessage(from: demoted.transportID), demoted, facts: removedFromRaft), closes: false)
        assertRefused(check(.raftMessage(from: 42), manager), closes: true)
        let outsider = PeerIdentity(nodeID: "manager9", role: .manager)
        var view = facts()
        view.stateRole = { _ in .manager }
        assertRefused(check(.raftMessage(from: outsider.transportID), outsider, facts: view))
        assertRefused(check(.raftMessage(from: manager.transportID), manager, facts: facts(localIsManager: false)))
        var fresh = facts(hasState: false)
        fresh.raftMembers = nil
        XCTAssertEqual(check(.raftMessage(from: outsider.transportID), outsider, facts: fresh), .allowed,
                       "before it knows the membership a new manager accepts Raft from manager certificates")
        assertRefused(check(.raftMessage(from: worker.transportID), worker, facts: fresh))
    }

    func testForwardedCommandsOnlyFromManagers() {
        XCTAssertEqual(check(.forwardCommand, manager), .allowed)
        assertRefused(check(.forwardCommand, worker))
        assertRefused(check(.forwardCommand, demoted), closes: false)
        XCTAssertEqual(check(.forwardResult, manager), .allowed)
        assertRefused(check(.forwardResult, worker))
    }

    func testAssignmentsOnlyFromTheCurrentLeader() {
        XCTAssertEqual(check(.assignments, manager, direction: .outbound), .allowed)
        assertRefused(check(.assignments, worker, direction: .outbound))
        var view = facts()
        view.leader = demoted.transportID
        assertRefused(check(.assignments, manager, direction: .outbound, facts: view), closes: false)
        view.leader = noNode
        assertRefused(check(.assignments, manager, direction: .outbound, facts: view))
    }

    func testTaskReportsOnlyForTheSendersOwnTasks() {
        XCTAssertEqual(check(.taskReports(taskIDs: ["t1"]), worker), .allowed)
        XCTAssertEqual(check(.taskReports(taskIDs: ["t1", "gone"]), worker), .allowed, "a report for a task that is gone changes nothing")
        assertRefused(check(.taskReports(taskIDs: ["t1", "t2"]), worker), closes: false)
        assertRefused(check(.taskReports(taskIDs: ["t3"]), worker))
        assertRefused(check(.taskReports(taskIDs: ["t1"]), worker, facts: facts(localIsManager: false)))
    }

    func testHeartbeatsOnlyForTheSendersOwnNodeID() {
        XCTAssertEqual(check(.heartbeat(nodeID: "worker1"), worker), .allowed)
        assertRefused(check(.heartbeat(nodeID: "manager1"), worker), closes: false)
        XCTAssertEqual(check(.heartbeatResponse, manager, direction: .outbound), .allowed)
        assertRefused(check(.heartbeatResponse, worker, direction: .outbound))
    }

    func testLogsRequestsOnlyFromManagers() {
        XCTAssertEqual(check(.logsRequest, manager, direction: .outbound), .allowed)
        assertRefused(check(.logsRequest, worker))
        assertRefused(check(.logsRequest, demoted))
        XCTAssertEqual(check(.logsResponse, worker), .allowed)
    }

    func testJoinsOnlyOnConnectionsWithoutACertificate() {
        XCTAssertEqual(check(.joinRequest, nil), .allowed)
        assertRefused(check(.joinRequest, worker), closes: true)
        assertRefused(check(.joinRequest, manager), closes: true)
        XCTAssertEqual(check(.joinResponse, nil, direction: .outbound), .allowed)
        for request: FrameRequest in [.heartbeat(nodeID: "x"), .forwardCommand, .assignments, .logsRequest, .taskReports(taskIDs: []),
                                      .raftMessage(from: 1), .certificateRequest, .joinResponse] {
            assertRefused(check(request, nil), closes: true)
        }
    }

    func testCertificatesAreRequestedFromManagersAndAnsweredByManagersOnly() {
        XCTAssertEqual(check(.certificateRequest, worker), .allowed)
        assertRefused(check(.certificateRequest, worker, facts: facts(localIsManager: false)))
        XCTAssertEqual(check(.certificateResponse, manager, direction: .outbound), .allowed)
        assertRefused(check(.certificateResponse, worker, direction: .outbound))
    }

    func testARemovedNodeIsRefusedWhateverItSends() {
        let removed = PeerIdentity(nodeID: "removed1", role: .manager)
        for request: FrameRequest in [.heartbeat(nodeID: "removed1"), .raftMessage(from: removed.transportID), .logsResponse,
                                      .certificateRequest] {
            assertRefused(check(request, removed), closes: true)
        }
    }

    /// The attack: a worker (or a manager that is not the leader) pushes forged network tables,
    /// which would point another node's DNS and load balancing at addresses of its choosing.
    func testNetworkTablesOnlyFromTheCurrentLeader() {
        XCTAssertEqual(check(.networkTables, manager, direction: .outbound), .allowed)
        assertRefused(check(.networkTables, worker, direction: .outbound), closes: false)
        assertRefused(check(.networkTables, worker, direction: .inbound), closes: false)
        assertRefused(check(.networkTables, demoted, direction: .outbound), closes: false)
        var view = facts()
        view.leader = demoted.transportID
        assertRefused(check(.networkTables, manager, direction: .outbound, facts: view), closes: false)
        view.leader = noNode
        assertRefused(check(.networkTables, manager, direction: .outbound, facts: view))
        assertRefused(check(.networkTables, nil), closes: true)
        XCTAssertEqual(FrameRequest.networkTables.description, "network-tables")
    }
}

/// The CA digest in join tokens, and the joiner's check of a manager's chain before it sends
/// the secret.
final class JoinPinningTests: XCTestCase {
    func testTheJoinerPinsTheTokensRootAndRefusesAnotherCA() throws {
        let now = Clock.unixSeconds()
        let root = try ClusterSigner.createRoot(clusterID: "clusterA", now: now)
        let otherRoot = try ClusterSigner.createRoot(clusterID: "clusterA", now: now)
        let ca = ClusterCA(rootCertificatePEM: root.certificate.pem, rootKeyPEM: root.key.pem)
        let key = try PrivateKey.generateP256()
        let csr = try CertificateSigningRequest(key: key, subject: CertificateSubject(commonName: "x"))
        let issued = try ClusterSigner.issue(csr: csr, nodeID: "manager1", role: .manager, clusterID: "clusterA", ca: ca,
                                             validitySeconds: 3_600, now: now)
        XCTAssertEqual(issued.chain[0].subject, CertificateSubject(commonName: "manager1", organizationalUnit: "swarm-manager",
                                                                   organization: "clusterA"))
        let token = JoinToken(root: root.certificate, secret: try RandomID.base36(count: 25))
        XCTAssertEqual(token.caDigest.count, 50)
        XCTAssertEqual(JoinToken(parsing: token.description), token)
        XCTAssertTrue(token.pins(root.certificate))
        XCTAssertFalse(token.pins(otherRoot.certificate))

        let presented = issued.chain + issued.roots
        XCTAssertEqual(try JoinClient.pin(presented, to: token, now: now).get(), root.certificate)
        let otherToken = JoinToken(root: otherRoot.certificate, secret: token.secret)
        XCTAssertThrowsError(try JoinClient.pin(presented, to: otherToken, now: now).get()) {
            XCTAssertTrue("\($0)".contains("does not match the token's CA digest"), "\($0)")
        }
        // A chain that includes the pinned root but whose leaf another CA signed.
        let impostor = try CertificateAuthority(certificate: otherRoot.certificate, key: otherRoot.key)
            .issue(csr: csr, subject: issued.chain[0].subject, validitySeconds: 3_600, now: now)
        XCTAssertThrowsError(try JoinClient.pin([impostor, root.certificate], to: token, now: now).get()) {
            XCTAssertTrue("\($0)".contains("does not verify against the token's CA"), "\($0)")
        }
    }

    func testDuringARotationChainsFromTheNewRootVerifyAgainstTheOldOne() throws {
        let now = Clock.unixSeconds()
        let old = try ClusterSigner.createRoot(clusterID: "clusterA", now: now)
        let new = try ClusterSigner.createRoot(clusterID: "clusterA", now: now)
        let crossSigned = try old.crossSign(new.certificate, validitySeconds: 3_600, now: now)
        let ca = ClusterCA(rootCertificatePEM: old.certificate.pem, rootKeyPEM: old.key.pem,
                           rotation: CARotation(newRootCertificatePEM: new.certificate.pem, newRootKeyPEM: new.key.pem,
                                                crossSignedCertificatePEM: crossSigned.pem))
        let csr = try CertificateSigningRequest(key: try PrivateKey.generateP256(), subject: CertificateSubject(commonName: "x"))
        let issued = try ClusterSigner.issue(csr: csr, nodeID: "worker1", role: .worker, clusterID: "clusterA", ca: ca,
                                             validitySeconds: 3_600, now: now)
        XCTAssertEqual(issued.roots, [old.certificate, new.certificate])
        XCTAssertNoThrow(try Certificate.verify(issued.chain[0], intermediates: [], roots: [new.certificate], at: now))
        XCTAssertNoThrow(try Certificate.verify(issued.chain[0], intermediates: Array(issued.chain.dropFirst()), roots: [old.certificate],
                                                at: now), "a node that trusts only the old root still accepts it")
        let oldToken = JoinToken(root: old.certificate, secret: try RandomID.base36(count: 25))
        XCTAssertEqual(try JoinClient.pin(issued.chain + issued.roots, to: oldToken, now: now).get(), old.certificate)
    }
}
