import XCTest
import ClusterState
@testable import Orchestration

final class PlacementConstraintTests: XCTestCase {
    func testParsesKeysOperatorsAndSpaces() throws {
        let label = try PlacementConstraint.parse(" node.labels.Zone == Eu-West ")
        XCTAssertEqual(label.key, .nodeLabel("Zone"))
        XCTAssertTrue(label.equals)
        XCTAssertEqual(label.value, "Eu-West")
        XCTAssertEqual(label.description, "node.labels.Zone==Eu-West")
        XCTAssertEqual(try PlacementConstraint.parse("NODE.ROLE!=manager").key, .role)
        XCTAssertFalse(try PlacementConstraint.parse("node.role!=manager").equals)
        XCTAssertEqual(try PlacementConstraint.parse("node.hostname==a").key, .hostname)
        XCTAssertEqual(try PlacementConstraint.parse("node.id==a").key, .nodeID)
        XCTAssertEqual(try PlacementConstraint.parse("node.platform.os==linux").key, .platformOS)
        XCTAssertEqual(try PlacementConstraint.parse("node.platform.arch==arm64").key, .platformArch)
    }

    func testRejectsMalformedConstraints() {
        for text in ["node.labels.zone=a", "node.labels.zone", "==a", "node.labels.zone==", "node.labels.==a",
                     "engine.labels.x==y", "node.color==red", "node.id==a==b"] {
            XCTAssertThrowsError(try PlacementConstraint.parse(text), text)
        }
        XCTAssertThrowsError(try PlacementConstraint.parseAll(["node.id==a", "bogus"]))
        XCTAssertEqual(try PlacementConstraint.parseAll(nil), [])
    }

    func testMatching() throws {
        var node = Harness.node("n1", labels: ["zone": "a"])
        XCTAssertTrue(try PlacementConstraint.parse("node.labels.zone==A").matches(node), "values compare case-insensitively")
        XCTAssertFalse(try PlacementConstraint.parse("node.labels.zone!=a").matches(node))
        XCTAssertFalse(try PlacementConstraint.parse("node.labels.rack==1").matches(node), "a missing label equals nothing")
        XCTAssertTrue(try PlacementConstraint.parse("node.labels.rack!=1").matches(node))
        XCTAssertTrue(try PlacementConstraint.parse("node.platform.arch==x86_64").matches(node))
        XCTAssertTrue(try PlacementConstraint.parse("node.platform.arch==amd64").matches(node))
        XCTAssertFalse(try PlacementConstraint.parse("node.platform.arch==arm64").matches(node))
        XCTAssertTrue(try PlacementConstraint.parse("node.role==worker").matches(node))
        node.spec.role = .manager
        XCTAssertTrue(try PlacementConstraint.parse("node.role==manager").matches(node))
    }
}
