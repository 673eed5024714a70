import Dispatch
import Foundation
import Platform
import Raft
import Storage
import XCTest

@testable import SwarmNode

/// The storage writer's group commit (issue 15): Readys submitted while it is busy are written
/// together, in order, with one fsync; their completions reach the loop in submission order, and
/// what they carried is there after a reopen.
final class StorageWriterTests: XCTestCase {
    func testSavesWaitingForTheWriterShareOneGroupAndCompleteInOrder() throws {
        let directory = try FileSystem.makeTemporaryDirectory(prefix: "storage-writer-")
        defer { try? FileSystem.removeTree(directory) }
        let loopThread = try EventLoopThread(name: "storage-writer-test")
        defer { loopThread.shutdown() }
        var writer: StorageWriter? = StorageWriter(storage: try RaftStorage.open(dataDirectory: directory).0)

        // Hold the writer so the next saves queue up behind it.
        let release = DispatchSemaphore(value: 0)
        writer!.enqueue { _ in release.wait() }
        let done = DispatchSemaphore(value: 0)
        let lock = NSLock()
        nonisolated(unsafe) var seen: [(Int, StorageWriter.SaveReport)] = []
        for index in 1...3 {
            var ready = Ready()
            ready.entries = [Entry(term: 1, index: UInt64(index), data: [UInt8(index)])]
            ready.hardState = HardState(term: 1, vote: 0, commit: UInt64(index - 1))
            ready.mustSync = index == 2
            let loop = loopThread.loop
            writer!.save(ready, on: loop) { report in
                XCTAssertTrue(loop.inEventLoop, "completions run on the loop")
                lock.lock()
                seen.append((index, report))
                lock.unlock()
                done.signal()
            }
        }
        release.signal()
        for _ in 1...3 { XCTAssertEqual(done.wait(timeout: .now() + 10), .success) }

        lock.lock()
        let reports = seen
        lock.unlock()
        XCTAssertEqual(reports.map(\.0), [1, 2, 3], "completions in submission order")
        XCTAssertEqual(reports.map(\.1.groupSaves), [3, 0, 0], "one group of three, counted once")
        XCTAssertEqual(reports.map(\.1.groupEntries), [3, 0, 0])
        XCTAssertTrue(reports.allSatisfy { $0.1.failure == nil })
        XCTAssertEqual(Set(reports.map(\.1.finishedAt)).count, 1, "written and made durable together")

        // The group's fsync covered every batch in it: all three are there after a reopen.
        writer!.perform { _ in }
        writer = nil
        let recovered = try RaftStorage.open(dataDirectory: directory).1
        XCTAssertEqual(recovered.entries.map(\.data), [[1], [2], [3]])
        XCTAssertEqual(recovered.hardState.commit, 2)
    }
}
