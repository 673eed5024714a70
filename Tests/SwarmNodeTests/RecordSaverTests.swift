import Agent
import Foundation
import Glibc
import Platform
import XCTest
@testable import SwarmNode

/// The agent's record saves: a burst of snapshots ends with the newest on disk, whether the node
/// flushes or not, and a save after a flush is not lost.
final class RecordSaverTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = try FileSystem.makeTemporaryDirectory(prefix: "record-saver-")
    }

    override func tearDown() {
        try? FileSystem.removeTree(directory)
    }

    private func snapshot(_ count: Int) -> [String: AgentRecord] {
        Dictionary(uniqueKeysWithValues: (0..<count).map { ("t\($0)", AgentRecord(task: nil, container: "c\($0)", status: nil, pid: Int64($0))) })
    }

    func testABurstOfSnapshotsEndsWithTheNewestOnDiskWithoutAFlush() throws {
        let store = try AgentStore(directory: directory)
        let saver = RecordSaver(store: store, logger: NodeLogger(nodeID: "t", minimum: .error))
        for count in 1...200 { saver.save(snapshot(count)) }
        let deadline = Date().addingTimeInterval(10)
        while (try? store.load().count) != 200 {
            guard Date() < deadline else { return XCTFail("the newest snapshot never reached the disk") }
            usleep(5_000)
        }
        XCTAssertEqual(try store.load(), snapshot(200))
    }

    func testFlushSavesThePendingSnapshotAtOnceAndALaterSaveStillLands() throws {
        let store = try AgentStore(directory: directory)
        let saver = RecordSaver(store: store, logger: NodeLogger(nodeID: "t", minimum: .error))
        saver.save(snapshot(1))
        saver.save(snapshot(2))
        saver.save(snapshot(3))
        saver.flush()
        XCTAssertEqual(try store.load(), snapshot(3))
        saver.save(snapshot(4))
        saver.flush()
        XCTAssertEqual(try store.load(), snapshot(4))
        // A save after a flush that emptied the queue's pending snapshot is not lost either.
        saver.save(snapshot(5))
        let deadline = Date().addingTimeInterval(10)
        while (try? store.load().count) != 5 {
            guard Date() < deadline else { return XCTFail("the save after the flush never reached the disk") }
            usleep(5_000)
        }
    }
}
