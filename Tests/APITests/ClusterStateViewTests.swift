@testable import API
import ClusterState
import XCTest

/// `ManagerStatus.Reachability` as the reading manager presents it.
final class ClusterStateViewTests: XCTestCase {
    private func manager(raftID: UInt64) -> Node {
        Node(id: "n\(raftID)", version: ObjectVersion(index: 1), createdAt: Timestamp(millisecondsSinceEpoch: 0),
             spec: NodeSpec(role: .manager),
             description: NodeDescription(hostname: "h", platform: .init(architecture: "x86_64", os: "linux"),
                                          resources: .init(nanoCPUs: 1, memoryBytes: 1), engine: .init(engineVersion: "1")),
             status: NodeStatus(state: .ready, addr: "127.0.0.1"), managerStatus: ManagerStatus(raftID: raftID, addr: "127.0.0.1:1"))
    }

    func testAManagerThatDoesNotVoteYetIsJoiningEvenWhenConnected() {
        let view = ClusterStateView(state: ClusterState(), leaderRaftID: 1, reachableRaftIDs: [1, 2, 3], voterRaftIDs: [1, 3])
        XCTAssertEqual(view.presented(manager(raftID: 2)).managerStatus?.reachability, "joining")
        XCTAssertEqual(view.presented(manager(raftID: 3)).managerStatus?.reachability, "reachable")
        XCTAssertEqual(view.presented(manager(raftID: 1)).managerStatus?.leader, true)
    }

    func testAVoterNotHeardFromIsUnreachableAndUnknownMembershipKeepsTheOldRule() {
        let voting = ClusterStateView(state: ClusterState(), leaderRaftID: 1, reachableRaftIDs: [1], voterRaftIDs: [1, 2])
        XCTAssertEqual(voting.presented(manager(raftID: 2)).managerStatus?.reachability, "unreachable")
        let unknown = ClusterStateView(state: ClusterState(), leaderRaftID: 1, reachableRaftIDs: [1, 2])
        XCTAssertEqual(unknown.presented(manager(raftID: 2)).managerStatus?.reachability, "reachable")
    }
}
