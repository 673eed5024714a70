import Executor
import Foundation
import XCTest
@testable import Agent

final class AgentTests: XCTestCase {
    func testNothingAssignedMeansNothingToReport() throws {
        let root = NSTemporaryDirectory() + "agent-stub-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let agent = try Agent(dataDirectory: root, executor: try ProcessExecutor(root: root + "/containers"),
                              now: { .init(millisecondsSinceEpoch: 0) }, onReport: {})
        agent.setAssignments([])
        XCTAssertTrue(agent.pendingReports().isEmpty)
    }
}
