import Foundation
import Platform
import Raft
@testable import Storage
import XCTest

/// Collects storage warnings so tests can assert what was repaired and where.
final class LogCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    var messages: [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }

    var logger: StorageLogger {
        StorageLogger { [self] message in
            lock.lock()
            lines.append(message)
            lock.unlock()
        }
    }
}

/// Base class: a fresh data directory per test, removed even when the test fails.
class StorageTestCase: XCTestCase {
    var dataDirectory = ""
    let capture = LogCapture()
    /// Small segments so rollover, compaction and corruption tests stay small and fast.
    var options = RaftStorage.Options(segmentSize: 4096, retainedEntries: 50, keptSnapshots: 3)

    var walDirectory: String { dataDirectory + "/raft/wal" }
    var snapDirectory: String { dataDirectory + "/raft/snap" }

    override func setUpWithError() throws {
        dataDirectory = try FileSystem.makeTemporaryDirectory(prefix: "storage-test-")
    }

    override func tearDownWithError() throws {
        try FileSystem.removeTree(dataDirectory)
    }

    func open() throws -> (RaftStorage, PersistentState) {
        try RaftStorage.open(dataDirectory: dataDirectory, options: options, logger: capture.logger)
    }

    /// Opens, runs `body`, and closes again (the storage is released when `body` returns).
    func withStorage(_ body: (RaftStorage) throws -> Void) throws {
        let (storage, _) = try open()
        try body(storage)
    }

    func reopen() throws -> PersistentState {
        try open().1
    }

    func segmentPaths() throws -> [String] {
        try FileSystem.list(walDirectory).filter { $0.hasSuffix(".wal") }.map { walDirectory + "/" + $0 }
    }

    func snapshotPaths() throws -> [String] {
        try FileSystem.list(snapDirectory).filter { $0.hasSuffix(".snap") }.map { snapDirectory + "/" + $0 }
    }

    func readFile(_ path: String) throws -> [UInt8] {
        try File.openForReading(path).readAll()
    }

    /// Replaces the whole contents of `path` with `bytes`.
    func writeFile(_ path: String, _ bytes: [UInt8]) throws {
        let file = try File.openForUpdate(path)
        try file.truncate(to: 0)
        try file.write(bytes, at: 0)
    }

    /// Byte ranges of the records in a segment's bytes, in order, up to the clean end.
    func recordSpans(_ bytes: [UInt8]) -> [Range<Int>] {
        var spans: [Range<Int>] = []
        var offset = 0
        while case let .record(view) = RecordReader.probe(bytes, at: offset) {
            spans.append(offset..<view.end)
            offset = view.end
        }
        return spans
    }

    func assertCorruption(_ body: @autoclosure () throws -> Any, mentioning fragments: [String] = [],
                          _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), message, file: file, line: line) { error in
            guard let storage = error as? StorageError else {
                return XCTFail("expected StorageError, got \(error)", file: file, line: line)
            }
            XCTAssertEqual(storage.kind, .corruption, "\(storage)", file: file, line: line)
            for fragment in fragments {
                XCTAssertTrue(storage.description.contains(fragment), "'\(storage)' lacks '\(fragment)'", file: file, line: line)
            }
        }
    }
}

/// An entry whose payload is a recognisable, non-zero function of its index and term.
func makeEntry(_ index: UInt64, term: UInt64, size: Int = 8) -> Entry {
    Entry(term: term, index: index, data: payload(index: index, term: term, size: size))
}

func payload(index: UInt64, term: UInt64, size: Int) -> [UInt8] {
    (0..<size).map { UInt8(truncatingIfNeeded: (index &* 31 &+ term &* 7 &+ UInt64($0)) % 251 + 1) }
}

/// A `Ready` carrying only what storage persists.
func makeReady(hardState: HardState? = nil, snapshot: Snapshot? = nil, entries: [Entry] = [], mustSync: Bool) -> Ready {
    var ready = Ready()
    ready.hardState = hardState
    ready.snapshot = snapshot
    ready.entries = entries
    ready.mustSync = mustSync
    return ready
}

func makeEntries(_ range: ClosedRange<UInt64>, term: UInt64, size: Int = 8) -> [Entry] {
    range.map { makeEntry($0, term: term, size: size) }
}
