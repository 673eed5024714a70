@testable import API
import ClusterState
import XCTest

final class LenientJSONDecoderTests: XCTestCase {
    func testKeysMatchCaseInsensitivelyAndMapKeysAreKept() throws {
        let spec = try LenientJSONDecoder.decode(NodeSpec.self, from: Array(#"{"labels":{"Zone":"east"},"ROLE":"manager","availability":"drain"}"#.utf8))
        XCTAssertEqual(spec, NodeSpec(labels: ["Zone": "east"], role: .manager, availability: .drain))
    }

    func testExactKeyWinsOverFoldedKey() throws {
        let spec = try LenientJSONDecoder.decode(NodeSpec.self, from: Array(#"{"role":"worker","Role":"manager","Availability":"active"}"#.utf8))
        XCTAssertEqual(spec.role, .manager)
    }

    func testMissingAndNullFieldsTakeZeroValues() throws {
        let spec = try LenientJSONDecoder.decode(NodeSpec.self, from: Array(#"{"Labels":null,"Role":"worker","Availability":"pause"}"#.utf8))
        XCTAssertEqual(spec.labels, [:])
        XCTAssertNil(spec.name)
        let cluster = try LenientJSONDecoder.decode(ClusterSpec.self, from: Array(#"{"Name":"default","Raft":{"ElectionTick":0,"HeartbeatTick":0}}"#.utf8))
        XCTAssertEqual(cluster.orchestration.taskHistoryRetentionLimit, 0)
        XCTAssertEqual(cluster.raft.electionTick, 0)
    }

    func testErrorsNameTheFieldAndThePosition() {
        XCTAssertThrowsError(try LenientJSONDecoder.decode(NodeSpec.self, from: Array(#"{"Role":"captain","Availability":"active"}"#.utf8))) {
            XCTAssertTrue(("\($0)").contains("Role"), "\($0)")
        }
        XCTAssertThrowsError(try LenientJSONDecoder.decode(NodeSpec.self, from: Array(#"{"Role":"#.utf8))) {
            XCTAssertTrue(("\($0)").contains("malformed JSON"), "\($0)")
        }
        XCTAssertThrowsError(try LenientJSONDecoder.decode(NodeSpec.self, from: Array(#"{"Role":["manager"]}"#.utf8)))
    }

    func testParserRejectsHostileDocumentsWithoutCrashing() {
        let deep = String(repeating: "[", count: 100_000)
        XCTAssertThrowsError(try JSONValue.parse(deep))
        for bad in ["", "{", "{\"a\"", "{\"a\":}", "[1,]", "01", "1.", "\"\\x\"", "\"\u{01}\"", "tru", "{} {}", "\"\\ud800\""] {
            if bad == "\"\\ud800\"" {
                XCTAssertEqual(try JSONValue.parse(bad), .string("\u{FFFD}"))
            } else {
                XCTAssertThrowsError(try JSONValue.parse(bad), bad)
            }
        }
    }

    func testRoundTripOfStringsAndNumbers() throws {
        let text = #"{"a":"x\"y\\z\n\u00e9\ud83d\ude00","n":18446744073709551615,"f":-1.5e3,"b":[true,false,null]}"#
        let value = try JSONValue.parse(text)
        XCTAssertEqual(try JSONValue.parse(value.serialized()), value)
        XCTAssertEqual(value["A"]?.stringValue, "x\"y\\z\né😀")
        struct Numbers: Decodable { var n: UInt64; var f: Double }
        let numbers = try LenientJSONDecoder.decode(Numbers.self, from: value)
        XCTAssertEqual(numbers.n, UInt64.max)
        XCTAssertEqual(numbers.f, -1500)
    }
}
