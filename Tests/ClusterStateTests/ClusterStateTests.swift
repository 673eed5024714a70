import Foundation
import XCTest
@testable import ClusterState

final class ClusterStateTests: XCTestCase {
    private let t0 = Timestamp(millisecondsSinceEpoch: 1_764_000_000_000)

    private func node(_ id: String, role: NodeRole, raftID: UInt64, state: NodeState = .ready) -> Node {
        Node(id: id, version: ObjectVersion(index: 0), createdAt: t0, spec: NodeSpec(role: role),
             description: NodeDescription(hostname: "host-\(id)", platform: .init(architecture: "x86_64", os: "linux"),
                                          resources: .init(nanoCPUs: 2_000_000_000, memoryBytes: 1 << 30),
                                          engine: .init(engineVersion: "test")),
             status: NodeStatus(state: state, addr: "127.0.0.1:\(raftID)"),
             managerStatus: role == .manager ? ManagerStatus(raftID: raftID, addr: "127.0.0.1:\(raftID)") : nil)
    }

    private func initialized() -> ClusterState {
        var state = ClusterState()
        let cluster = Cluster(id: "c1", version: ObjectVersion(index: 0), createdAt: t0, spec: ClusterSpec(),
                              joinTokens: JoinTokens(worker: "W", manager: "M"))
        let secrets = ClusterSecrets(workerSecret: "ws", managerSecret: "ms",
                                     members: ["1": ClusterMember(nodeID: "m1")])
        XCTAssertNoThrow(try state.apply(.initialize(cluster: cluster, firstNode: node("m1", role: .manager, raftID: 1), secrets: secrets), index: 3).get())
        return state
    }

    func testInitializeSetsVersionsToTheRaftIndex() {
        let state = initialized()
        XCTAssertEqual(state.cluster?.version, ObjectVersion(index: 3))
        XCTAssertEqual(state.nodes["m1"]?.version, ObjectVersion(index: 3))
        XCTAssertEqual(state.member(transportID: 1)?.id, "m1")
    }

    func testStaleVersionIsRejectedAndChangesNothing() {
        var state = initialized()
        var spec = state.nodes["m1"]!.spec
        spec.labels["zone"] = "a"
        let stale = state.apply(.updateNodeSpec(id: "m1", version: ObjectVersion(index: 2), spec: spec, at: t0), index: 4)
        XCTAssertEqual(stale.failureValue, .staleVersion(kind: "node", id: "m1", expected: 2, actual: 3))
        XCTAssertNil(state.nodes["m1"]?.spec.labels["zone"])
        XCTAssertNoThrow(try state.apply(.updateNodeSpec(id: "m1", version: ObjectVersion(index: 3), spec: spec, at: t0), index: 5).get())
        XCTAssertEqual(state.nodes["m1"]?.spec.labels["zone"], "a")
        XCTAssertEqual(state.nodes["m1"]?.version, ObjectVersion(index: 5))
    }

    func testPromotionRecordsRaftIdentityAndTheLastManagerCannotBeDemoted() {
        var state = initialized()
        XCTAssertNoThrow(try state.apply(.addNode(node: node("w1", role: .worker, raftID: 9), transportID: 9), index: 4).get())
        var spec = state.nodes["w1"]!.spec
        spec.role = .manager
        XCTAssertNoThrow(try state.apply(.updateNodeSpec(id: "w1", version: state.nodes["w1"]!.version, spec: spec, at: t0), index: 5).get())
        XCTAssertEqual(state.nodes["w1"]?.managerStatus?.raftID, 9)
        XCTAssertEqual(state.managers.count, 2)

        for id in ["w1", "m1"] {
            var demoted = state.nodes[id]!.spec
            demoted.role = .worker
            let result = state.apply(.updateNodeSpec(id: id, version: state.nodes[id]!.version, spec: demoted, at: t0),
                                     index: state.appliedIndex + 1)
            if id == "w1" {
                XCTAssertNoThrow(try result.get())
            } else {
                XCTAssertEqual(result.failureValue, .invalid("attempting to demote the last manager of the swarm"))
            }
        }
    }

    func testRemovalNeedsADemotedAndDownNodeOrForce() {
        var state = initialized()
        XCTAssertNoThrow(try state.apply(.addNode(node: node("w1", role: .worker, raftID: 9), transportID: 9), index: 4).get())
        XCTAssertNotNil(state.apply(.removeNode(id: "m1", force: true, at: t0), index: 5).failureValue, "a manager must be demoted first")
        XCTAssertNotNil(state.apply(.removeNode(id: "w1", force: false, at: t0), index: 6).failureValue, "a live node needs --force")
        XCTAssertNoThrow(try state.apply(.removeNode(id: "w1", force: true, at: t0), index: 7).get())
        XCTAssertNil(state.nodes["w1"])
        XCTAssertNil(state.member(transportID: 9), "the removed node's transport identity is gone too")
        XCTAssertTrue(state.isDenied(nodeID: "w1"), "certificates naming the removed node are refused from now on")
        XCTAssertFalse(state.isDenied(nodeID: "m1"))
        XCTAssertEqual(state.apply(.addNode(node: node("w1", role: .worker, raftID: 10), transportID: 10), index: 8).failureValue,
                       .conflict("node w1 already exists or was removed"), "a removed id never comes back")
    }

    func testAJoinCannotTakeAnotherNodesTransportID() {
        var state = initialized()
        XCTAssertEqual(state.apply(.addNode(node: node("w1", role: .worker, raftID: 2), transportID: 1), index: 4).failureValue,
                       .conflict("transport id 1 is already taken"))
        XCTAssertEqual(state.member(transportID: 1)?.id, "m1")
    }

    func testCARotationTrustsBothRootsUntilItFinishes() {
        var state = initialized()
        let ca = ClusterCA(rootCertificatePEM: "OLD", rootKeyPEM: "OLDKEY")
        XCTAssertEqual(ca.trustedRootsPEM, ["OLD"])
        var withCA = ClusterState()
        let secrets = ClusterSecrets(workerSecret: "ws", managerSecret: "ms", members: ["1": ClusterMember(nodeID: "m1")], ca: ca)
        XCTAssertNoThrow(try withCA.apply(.initialize(cluster: state.cluster!, firstNode: node("m1", role: .manager, raftID: 1),
                                                      secrets: secrets), index: 1).get())
        let rotation = CARotation(newRootCertificatePEM: "NEW", newRootKeyPEM: "NEWKEY", crossSignedCertificatePEM: "CROSS")
        XCTAssertNotNil(state.apply(.startCARotation(rotation: rotation, forceRotate: 1, at: t0), index: 4).failureValue,
                        "a state without a CA cannot rotate one")
        XCTAssertNoThrow(try withCA.apply(.startCARotation(rotation: rotation, forceRotate: 1, at: t0), index: 2).get())
        XCTAssertEqual(withCA.certificateAuthority?.trustedRootsPEM, ["OLD", "NEW"])
        XCTAssertEqual(withCA.certificateAuthority?.signingKeyPEM, "NEWKEY")
        XCTAssertEqual(withCA.certificateAuthority?.forceRotate, 1)
        XCTAssertNotNil(withCA.apply(.finishCARotation(rootCertificatePEM: "OTHER", tokens: JoinTokens(worker: "W", manager: "M"), at: t0),
                                     index: 3).failureValue, "only the rotation in progress can finish")
        XCTAssertNoThrow(try withCA.apply(.finishCARotation(rootCertificatePEM: "NEW", tokens: JoinTokens(worker: "W", manager: "M"), at: t0),
                                          index: 4).get())
        XCTAssertEqual(withCA.certificateAuthority, ClusterCA(rootCertificatePEM: "NEW", rootKeyPEM: "NEWKEY", forceRotate: 1))
        XCTAssertEqual(withCA.cluster?.joinTokens, JoinTokens(worker: "W", manager: "M"), "the tokens pin the new root")
        let decoded = try? CommandCodec.decodeState(CommandCodec.encodeState(withCA))
        XCTAssertEqual(decoded, withCA, "the CA survives a snapshot")
    }

    func testTokenRotationReplacesTheSecret() {
        var state = initialized()
        XCTAssertNoThrow(try state.apply(.rotateJoinToken(role: .worker, secret: "new", token: "W2", at: t0), index: 4).get())
        XCTAssertEqual(state.secrets?.workerSecret, "new")
        XCTAssertEqual(state.cluster?.joinTokens.worker, "W2")
        XCTAssertEqual(state.secrets?.managerSecret, "ms")
    }

    func testFindNodeByIDPrefixAndHostname() {
        var state = initialized()
        XCTAssertNoThrow(try state.apply(.addNode(node: node("m2xyz", role: .worker, raftID: 5), transportID: 5), index: 4).get())
        XCTAssertEqual(try state.findNode("m2").get().id, "m2xyz")
        XCTAssertEqual(try state.findNode("host-m1").get().id, "m1")
        XCTAssertEqual(state.findNode("m").failureValue, .conflict("node m is ambiguous (2 matches)"))
        XCTAssertEqual(state.findNode("nope").failureValue, .notFound(kind: "node", id: "nope"))
    }

    func testStateAndCommandsRoundTripThroughTheCodec() throws {
        let state = initialized()
        XCTAssertEqual(try CommandCodec.decodeState(CommandCodec.encodeState(state)), state)
        let command = ClusterCommand.setNodeStatus(id: "m1", state: .down, message: "heartbeat failure", at: t0)
        XCTAssertEqual(try CommandCodec.decode(CommandCodec.encode(command)), command)
        XCTAssertThrowsError(try CommandCodec.decode([0xff, 0x00, 0x13]))
    }

    func testNodesEncodeInDockersShape() throws {
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(node("m1", role: .manager, raftID: 1))) as! [String: Any]
        XCTAssertEqual(json["ID"] as? String, "m1")
        XCTAssertEqual((json["Spec"] as? [String: Any])?["Role"] as? String, "manager")
        XCTAssertEqual((json["Status"] as? [String: Any])?["State"] as? String, "ready")
        XCTAssertEqual(json["CreatedAt"] as? String, "2025-11-24T16:00:00.000Z")
    }

    func testRFC3339RoundTrips() {
        for millis: UInt64 in [0, 951_782_400_000, 1_764_000_000_123, 4_102_444_799_999] {
            XCTAssertEqual(RFC3339.parse(RFC3339.format(millis)), millis)
        }
        XCTAssertEqual(RFC3339.parse("2026-11-26T14:20:01.495278869Z"), 1_795_702_801_495)
        XCTAssertNil(RFC3339.parse("yesterday"))
    }
}

extension Result {
    var failureValue: Failure? {
        if case let .failure(error) = self { return error }
        return nil
    }
}
