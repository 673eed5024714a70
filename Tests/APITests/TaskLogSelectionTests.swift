@testable import API
import XCTest

/// What a node sends of a task's lines (`TaskLogChunk.select`): after a sequence, in the chosen
/// streams and window, the last N across both streams, capped in bytes.
final class TaskLogSelectionTests: XCTestCase {
    private let lines = [
        TaskLogLine(stream: 1, timeNanos: 100, sequence: 1, data: Array("one\n".utf8)),
        TaskLogLine(stream: 2, timeNanos: 200, sequence: 2, data: Array("oops\n".utf8)),
        TaskLogLine(stream: 1, timeNanos: 300, sequence: 3, data: Array("two\n".utf8)),
        TaskLogLine(stream: 2, timeNanos: 400, sequence: 4, data: Array("again\n".utf8)),
    ]

    private func texts(_ chunk: TaskLogChunk) -> [String] { chunk.lines.map { String(decoding: $0.data, as: UTF8.self) } }

    func testAfterSequenceSendsOnlyNewLinesAndTheCursorAdvancesPastFilteredOnes() {
        let chunk = TaskLogChunk.select(lines, for: TaskLogRequest(taskID: "t", nodeID: "n", afterSequence: 2, stderr: false))
        XCTAssertEqual(texts(chunk), ["two\n"])
        XCTAssertEqual(chunk.lastSequence, 4, "a stderr line not asked for still moves the cursor")
        XCTAssertEqual(TaskLogChunk.select(lines, for: TaskLogRequest(taskID: "t", nodeID: "n", afterSequence: 9)).lastSequence, 9)
    }

    func testTailCountsBothStreamsTogetherAfterTheWindow() {
        XCTAssertEqual(texts(TaskLogChunk.select(lines, for: TaskLogRequest(taskID: "t", nodeID: "n", tail: 3))), ["oops\n", "two\n", "again\n"])
        XCTAssertEqual(texts(TaskLogChunk.select(lines, for: TaskLogRequest(taskID: "t", nodeID: "n", tail: 2, until: 300))), ["oops\n", "two\n"])
        XCTAssertEqual(texts(TaskLogChunk.select(lines, for: TaskLogRequest(taskID: "t", nodeID: "n", since: 200, until: 300))), ["oops\n", "two\n"])
        XCTAssertEqual(TaskLogChunk.select(lines, for: TaskLogRequest(taskID: "t", nodeID: "n", tail: 0)).lines, [])
        XCTAssertEqual(texts(TaskLogChunk.select(lines, for: TaskLogRequest(taskID: "t", nodeID: "n", tail: 9, stdout: false))), ["oops\n", "again\n"])
    }

    func testByteCapKeepsTheNewestLines() {
        XCTAssertEqual(texts(TaskLogChunk.select(lines, for: TaskLogRequest(taskID: "t", nodeID: "n"), maxBytes: 10)), ["two\n", "again\n"])
    }

    func testTimestampsHaveNineFractionDigitsInUTC() {
        XCTAssertEqual(ServiceLogStream.timestamp(1_800_000_000_000_000_123), "2027-01-15T08:00:00.000000123Z")
        XCTAssertEqual(ServiceLogStream.timestamp(1_800_000_000_500_000_000), "2027-01-15T08:00:00.500000000Z")
    }
}
