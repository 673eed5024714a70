import XCTest

@testable import SwarmNode

/// The node's bound on concurrent container starts: from its cores, or the environment's value,
/// and a value that is not a positive number refused with the variable's name.
final class StartSlotsTests: XCTestCase {
    func testTheBoundFollowsTheCoresUnlessTheEnvironmentSetsIt() throws {
        XCTAssertEqual(try StartSlots.count(environment: [:], cores: 2), 2 * StartSlots.perCore)
        XCTAssertEqual(try StartSlots.count(environment: [:], cores: 1), StartSlots.perCore)
        XCTAssertEqual(try StartSlots.count(environment: [StartSlots.variable: "3"], cores: 2), 3)
    }

    func testANonPositiveOrNonNumericValueIsRefusedNamingTheVariable() {
        for bad in ["0", "-1", "four", ""] {
            XCTAssertThrowsError(try StartSlots.count(environment: [StartSlots.variable: bad], cores: 2)) { error in
                XCTAssertTrue("\(error)".contains(StartSlots.variable), "\(error)")
            }
        }
    }
}
