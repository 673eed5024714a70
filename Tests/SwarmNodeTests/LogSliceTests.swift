import API
@testable import SwarmNode
import XCTest

/// What a node sends of a task's output: from an offset, or the last N lines, capped.
final class LogSliceTests: XCTestCase {
    private let text = Array("one\ntwo\nthree\n".utf8)

    func testFromOffsetSendsOnlyNewBytes() {
        let chunk = SwarmNode.slice(text, from: 4, tail: nil, taskID: "t", stream: 1)
        XCTAssertEqual(String(decoding: chunk.data, as: UTF8.self), "two\nthree\n")
        XCTAssertEqual(chunk.nextOffset, UInt64(text.count))
        XCTAssertEqual(SwarmNode.slice(text, from: 99, tail: nil, taskID: "t", stream: 1).data, [])
    }

    func testTailKeepsTheLastLines() {
        XCTAssertEqual(String(decoding: SwarmNode.slice(text, from: 0, tail: 2, taskID: "t", stream: 1).data, as: UTF8.self), "two\nthree\n")
        XCTAssertEqual(String(decoding: SwarmNode.slice(text, from: 0, tail: 5, taskID: "t", stream: 1).data, as: UTF8.self), "one\ntwo\nthree\n")
        XCTAssertEqual(SwarmNode.slice(text, from: 0, tail: 0, taskID: "t", stream: 1).data, [])
    }
}
