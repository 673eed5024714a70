import ClusterState
import Crypto
import Raft
@testable import SwarmNode
import Transport
import XCTest

/// The removal notice makes a node stop itself, so only a manager may send it: a worker (or a
/// connection without a certificate) telling another node it was removed is refused.
final class NodeRemovedFrameTests: XCTestCase {
    /// A worker's view: it holds no cluster state.
    private let facts = AuthorizationFacts(localIsManager: false, hasState: false, stateRole: { _ in nil }, isDenied: { _ in false },
                                           raftMembers: nil, leader: noNode, taskOwner: { _ in .unknown })

    func testOnlyAManagerMayTellANodeItWasRemoved() {
        let fromManager = FrameAuthorization.check(.nodeRemoved, from: PeerIdentity(nodeID: "m1", role: .manager), direction: .outbound, facts: facts)
        XCTAssertEqual(fromManager, .allowed)
        let fromWorker = FrameAuthorization.check(.nodeRemoved, from: PeerIdentity(nodeID: "w2", role: .worker), direction: .inbound, facts: facts)
        guard case .refused = fromWorker else { return XCTFail("a worker's removal notice was accepted") }
        let anonymous = FrameAuthorization.check(.nodeRemoved, from: nil, direction: .inbound, facts: facts)
        guard case .refused = anonymous else { return XCTFail("a removal notice without a certificate was accepted") }
    }
}
