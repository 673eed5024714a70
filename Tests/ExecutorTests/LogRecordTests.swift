import Foundation
import Glibc
import Platform
import XCTest

@testable import Executor

/// The timestamped line records the log pump writes beside the raw streams: lines cut at
/// newlines, stamped when their first byte arrived, numbered in write order across stdout and
/// stderr, never split across rotated files.
final class LogRecordTests: XCTestCase {
    private var root = ""

    override func setUpWithError() throws {
        root = try FileSystem.makeTemporaryDirectory(prefix: "log-record-tests-")
    }

    override func tearDownWithError() throws {
        try FileSystem.removeTree(root)
    }

    private func append(_ writer: LogRecordWriter, _ stream: LogStream, _ text: String) {
        Array(text.utf8).withUnsafeBytes { writer.append(stream, $0) }
    }

    func testLinesAreCutStampedWhenTheyBeganAndNumberedAcrossStreams() throws {
        var clock: Int64 = 100
        let writer = try LogRecordWriter(base: root + "/records.log", limits: LogLimits()) { clock }
        append(writer, .stdout, "one\ntw")
        clock = 200
        append(writer, .stderr, "err\n")
        clock = 300
        append(writer, .stdout, "o\nthree")
        writer.finish(.stdout)
        let records = try LogRecordFile.read(base: root + "/records.log", maxFiles: 3)
        XCTAssertEqual(records.map { text($0.bytes) }, ["one\n", "err\n", "two\n", "three"])
        XCTAssertEqual(records.map(\.stream), [.stdout, .stderr, .stdout, .stdout])
        XCTAssertEqual(records.map(\.timeNanos), [100, 200, 100, 300], "a line's time is when its first byte came")
        XCTAssertEqual(records.map(\.sequence), [1, 2, 3, 4])
    }

    func testLongLinesAreCutAndRotationKeepsRecordsWhole() throws {
        let writer = try LogRecordWriter(base: root + "/records.log", limits: LogLimits(maxFileBytes: 100, maxFiles: 2)) { 1 }
        append(writer, .stdout, String(repeating: "x", count: LogRecordWriter.maxLineBytes + 5) + "\n")
        for index in 0..<20 { append(writer, .stdout, "line \(index)\n") }
        let records = try LogRecordFile.read(base: root + "/records.log", maxFiles: 2)
        XCTAssertFalse(records.isEmpty)
        XCTAssertEqual(records.last.map { text($0.bytes) }, "line 19\n")
        XCTAssertEqual(records.map(\.sequence), Array(records.first!.sequence...records.last!.sequence), "whole records, none torn")
        XCTAssertTrue(records.allSatisfy { text($0.bytes).hasPrefix("line ") }, "the oldest files rotated away")
        let cut = try LogRecordWriter(base: root + "/cut.log", limits: LogLimits()) { 1 }
        append(cut, .stderr, String(repeating: "y", count: LogRecordWriter.maxLineBytes + 5) + "\n")
        XCTAssertEqual(try LogRecordFile.read(base: root + "/cut.log", maxFiles: 1).map(\.bytes.count), [LogRecordWriter.maxLineBytes, 6])
    }

    func testATornLastRecordIsSkipped() {
        let whole = LogRecord(stream: .stderr, timeNanos: 5, sequence: 1, bytes: Array("ok\n".utf8)).encoded()
        let torn = LogRecord(stream: .stdout, timeNanos: 6, sequence: 2, bytes: Array("lost\n".utf8)).encoded().dropLast(2)
        XCTAssertEqual(LogRecord.decodeAll(whole + torn).map(\.sequence), [1])
    }

    func testAProcessTasksOutputIsRecordedInWriteOrderWithWriteTimes() throws {
        let executor = try ProcessExecutor(root: root + "/executor")
        defer { executor.removeAll() }
        let before = LogRecordWriter.realtimeNanos()
        let id = try executor.prepare(shell("echo a; sleep 0.2; echo b >&2; sleep 0.2; printf c"))
        try executor.start(id) { _ in }
        XCTAssertEqual(try executor.wait(id, timeoutMillis: 5_000), .exited(code: 0))
        let records = try executor.logRecords(id)
        XCTAssertEqual(records.map { text($0.bytes) }, ["a\n", "b\n", "c"])
        XCTAssertEqual(records.map(\.stream), [.stdout, .stderr, .stdout])
        XCTAssertTrue(records.allSatisfy { $0.timeNanos >= before && $0.timeNanos <= LogRecordWriter.realtimeNanos() })
        XCTAssertGreaterThanOrEqual(records[1].timeNanos - records[0].timeNanos, 150_000_000, "times are write times, not read times")
        XCTAssertEqual(text(try executor.logs(id, stream: .stdout)), "a\nc", "the raw streams are kept as before")
    }
}
