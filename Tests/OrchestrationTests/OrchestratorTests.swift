import XCTest
import ClusterState
@testable import Orchestration

final class OrchestratorTests: XCTestCase {
    func testEmptyStateNeedsNoCommands() {
        var orchestrator = Orchestrator(seed: 1)
        XCTAssertTrue(orchestrator.reconcile(ClusterState(), now: Timestamp(millisecondsSinceEpoch: 0)).isEmpty)
    }
}
