import XCTest
@testable import Agent

final class AgentTests: XCTestCase {
    func testPlaceholder() { XCTAssertNotNil(Agent()) }
}
