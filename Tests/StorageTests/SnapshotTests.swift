import Platform
import Raft
@testable import Storage
import XCTest

/// Snapshot files, their WAL markers, refusal of a damaged one, and compaction.
final class SnapshotTests: StorageTestCase {
    private func snapshot(_ index: UInt64, term: UInt64 = 1) -> Snapshot {
        Snapshot(metadata: SnapshotMetadata(index: index, term: term, confState: ConfState(voters: [1, 2, 3])),
                 data: payload(index: index, term: term, size: 300))
    }

    /// Entries 1...40 with snapshots at 10 and 20, as a node compacting its own log would write.
    private func writeLogWithTwoSnapshots() throws {
        try withStorage { storage in
            try storage.append(entries: makeEntries(1...30, term: 1), hardState: HardState(term: 1, commit: 30), sync: true)
            try storage.saveSnapshot(snapshot(10))
            try storage.append(entries: makeEntries(31...40, term: 1), hardState: HardState(term: 1, commit: 35), sync: true)
            try storage.saveSnapshot(snapshot(20))
        }
    }

    func testNewestSnapshotAndTheEntriesAfterItAreRecovered() throws {
        try writeLogWithTwoSnapshots()
        let state = try reopen()
        XCTAssertEqual(state.snapshot, snapshot(20))
        XCTAssertEqual(state.entries, makeEntries(21...40, term: 1))
        XCTAssertEqual(state.hardState, HardState(term: 1, commit: 35))
    }

    /// A recorded snapshot was fsynced before its WAL marker: a flipped byte in it is an
    /// alteration, and falling back to the older snapshot would hide it (issue 17).
    func testFlippedByteInTheNewestSnapshotRefusesToStartNamingFileAndOffsetWithoutFallingBack() throws {
        try writeLogWithTwoSnapshots()
        let newest = try snapshotPaths().last!
        let original = try readFile(newest)
        for position in [3, 17, SnapshotStore.headerSize + 5, original.count - 5] {
            var bytes = original
            bytes[position] ^= 0x40
            try writeFile(newest, bytes)
            let offset = position < SnapshotStore.headerSize ? 0 : SnapshotStore.headerSize
            assertCorruption(try self.reopen(), mentioning: [newest, "at byte \(offset)", "Refusing to start"], "byte \(position)")
            XCTAssertFalse(capture.messages.contains { $0.contains("falling back") }, "\(capture.messages)")
            XCTAssertEqual(try snapshotPaths().last, newest, "the damaged file stays in place for inspection")
        }
        try writeFile(newest, original)
        XCTAssertEqual(try reopen().snapshot, snapshot(20), "the intact file opens again")
    }

    func testEveryCorruptSnapshotRefusesToStart() throws {
        try writeLogWithTwoSnapshots()
        for path in try snapshotPaths() {
            var bytes = try readFile(path)
            bytes[30] ^= 0x01
            try writeFile(path, bytes)
        }
        assertCorruption(try self.reopen(), mentioning: [try snapshotPaths().last!, "at byte 24", "backup"])
    }

    func testSnapshotFileWithoutWALMarkerIsIgnored() throws {
        try writeLogWithTwoSnapshots()
        // A crash after the snapshot file became durable but before its WAL marker did.
        let orphan = try SnapshotStore.encode(snapshot(38), keys: nil)
        let path = snapDirectory + "/" + SnapshotFile.name(term: 1, index: 38)
        let file = try File.create(path)
        try file.write(orphan, at: 0)
        let state = try reopen()
        XCTAssertEqual(state.snapshot.metadata.index, 20)
        XCTAssertFalse(FileSystem.exists(path))
    }

    func testOnlyTheNewestSnapshotsAreKept() throws {
        try withStorage { storage in
            try storage.append(entries: makeEntries(1...50, term: 1), hardState: HardState(term: 1, commit: 50), sync: true)
            for index in stride(from: UInt64(10), through: 50, by: 10) { try storage.saveSnapshot(snapshot(index)) }
        }
        XCTAssertEqual(try snapshotPaths().map { ($0 as NSString).lastPathComponent },
                       [30, 40, 50].map { SnapshotFile.name(term: 1, index: $0) })
    }

    func testSnapshotFromTheLeaderReplacesTheLog() throws {
        try withStorage { storage in
            try storage.append(entries: makeEntries(1...20, term: 1), hardState: HardState(term: 1, commit: 5), sync: true)
            let ready = makeReady(hardState: HardState(term: 3, commit: 500), snapshot: snapshot(500, term: 3),
                              entries: makeEntries(501...502, term: 3), mustSync: true)
            try storage.save(ready)
            XCTAssertEqual(storage.lastIndex, 502)
        }
        let state = try reopen()
        XCTAssertEqual(state.snapshot, snapshot(500, term: 3))
        XCTAssertEqual(state.entries, makeEntries(501...502, term: 3))
        XCTAssertEqual(state.hardState, HardState(term: 3, commit: 500))
    }

    func testCompactionDeletesOldSegmentsAndRecoveryStillWorks() throws {
        try withStorage { storage in
            for start in stride(from: UInt64(1), through: 291, by: 10) {
                try storage.append(entries: makeEntries(start...start + 9, term: 1, size: 100),
                                   hardState: HardState(term: 1, commit: start + 9), sync: true)
            }
            let before = storage.segmentNames.count
            XCTAssertGreaterThan(before, 8)
            try storage.saveSnapshot(snapshot(100))
            XCTAssertGreaterThan(try storage.compact(), 0)
            try storage.saveSnapshot(snapshot(250))
            XCTAssertGreaterThan(try storage.compact(), 0)
            XCTAssertLessThan(storage.segmentNames.count, before)
            let first = SegmentFile.parse(name: storage.segmentNames[0], directory: "")!
            XCTAssertLessThanOrEqual(first.firstIndex, 101, "entries after the previous snapshot are kept")
            XCTAssertGreaterThan(first.firstIndex, 1)
        }
        let state = try reopen()
        XCTAssertEqual(state.snapshot, snapshot(250))
        XCTAssertEqual(state.entries, makeEntries(251...300, term: 1, size: 100))
        XCTAssertEqual(state.hardState.commit, 300)
        // A damaged newest snapshot is refused, not replaced by the previous one the log could continue.
        let newest = try snapshotPaths().last!
        var bytes = try readFile(newest)
        bytes[40] ^= 0x02
        try writeFile(newest, bytes)
        assertCorruption(try self.reopen(), mentioning: [newest, "at byte 24"])
    }

    /// etcd #10219: the hard state must be durable before the segments holding older copies go.
    func testCompactionSyncsTheHardStateBeforeDeleting() throws {
        try withStorage { storage in
            for start in stride(from: UInt64(1), through: 191, by: 10) {
                try storage.append(entries: makeEntries(start...start + 9, term: 1, size: 100), hardState: nil, sync: true)
            }
            try storage.saveSnapshot(snapshot(180))
            try storage.append(entries: [], hardState: HardState(term: 1, commit: 200), sync: false)
            let syncs = storage.batchSyncCount
            XCTAssertGreaterThan(try storage.compact(), 0)
            XCTAssertEqual(storage.batchSyncCount, syncs + 1)
        }
        XCTAssertEqual(try reopen().hardState.commit, 200)
    }

    func testCompactedLogKeepsAppendingAcrossReopen() throws {
        try withStorage { storage in
            for start in stride(from: UInt64(1), through: 191, by: 10) {
                try storage.append(entries: makeEntries(start...start + 9, term: 1, size: 100), hardState: nil, sync: true)
            }
            try storage.saveSnapshot(snapshot(150))
            try storage.compact()
        }
        try withStorage { storage in
            try storage.append(entries: makeEntries(201...210, term: 2, size: 100), hardState: HardState(term: 2, commit: 205), sync: true)
        }
        let state = try reopen()
        XCTAssertEqual(state.snapshot.metadata.index, 150)
        XCTAssertEqual(state.entries, makeEntries(151...200, term: 1, size: 100) + makeEntries(201...210, term: 2, size: 100))
    }
}
