import Platform
import Raft
@testable import Storage
import XCTest

/// Round trips through the WAL: what was appended (and synced) is what `open` returns.
final class WALTests: StorageTestCase {
    func testFreshDirectoryRecoversEmptyState() throws {
        let (_, state) = try open()
        XCTAssertEqual(state, PersistentState())
        XCTAssertEqual(try segmentPaths().map { ($0 as NSString).lastPathComponent },
                       ["0000000000000000-0000000000000001.wal"])
    }

    func testEntriesAndHardStateSurviveReopen() throws {
        try withStorage { storage in
            try storage.append(entries: makeEntries(1...3, term: 1), hardState: HardState(term: 1, vote: 2, commit: 0), sync: true)
            try storage.append(entries: makeEntries(4...5, term: 2), hardState: HardState(term: 2, vote: 3, commit: 4), sync: true)
            try storage.append(entries: [], hardState: HardState(term: 2, vote: 3, commit: 5), sync: true)
        }
        let state = try reopen()
        XCTAssertEqual(state.hardState, HardState(term: 2, vote: 3, commit: 5))
        XCTAssertEqual(state.entries, makeEntries(1...3, term: 1) + makeEntries(4...5, term: 2))
        XCTAssertTrue(state.snapshot.isEmpty)
        XCTAssertTrue(capture.messages.isEmpty, "\(capture.messages)")
    }

    func testReopenedLogKeepsAppendingWhereItStopped() throws {
        try withStorage { try $0.append(entries: makeEntries(1...3, term: 1), hardState: nil, sync: true) }
        try withStorage { storage in
            XCTAssertEqual(storage.lastIndex, 3)
            try storage.append(entries: makeEntries(4...6, term: 1), hardState: HardState(term: 1, commit: 6), sync: true)
        }
        let state = try reopen()
        XCTAssertEqual(state.entries, makeEntries(1...6, term: 1))
        XCTAssertEqual(state.hardState.commit, 6)
    }

    /// Ready contract: an entry at index i replaces every persisted entry at i or later.
    func testLaterRecordAtLowerIndexReplacesLogSuffix() throws {
        try withStorage { storage in
            try storage.append(entries: makeEntries(1...10, term: 1), hardState: HardState(term: 1), sync: true)
            try storage.append(entries: makeEntries(6...8, term: 2), hardState: HardState(term: 2), sync: true)
        }
        let state = try reopen()
        XCTAssertEqual(state.entries, makeEntries(1...5, term: 1) + makeEntries(6...8, term: 2))
        XCTAssertEqual(state.hardState.term, 2)
    }

    func testSuffixReplacementThatStartsANewSegmentIsReplayed() throws {
        try withStorage { storage in
            for start in stride(from: UInt64(1), through: 91, by: 10) {
                try storage.append(entries: makeEntries(start...start + 9, term: 1, size: 100), hardState: nil, sync: true)
            }
            try storage.append(entries: makeEntries(50...52, term: 3, size: 3000), hardState: HardState(term: 3), sync: true)
        }
        let state = try reopen()
        XCTAssertEqual(state.entries, makeEntries(1...49, term: 1, size: 100) + makeEntries(50...52, term: 3, size: 3000))
    }

    func testSegmentsRollOverAndChainAcrossFiles() throws {
        try withStorage { storage in
            for index in UInt64(1)...200 {
                try storage.append(entries: [makeEntry(index, term: 1, size: 100)], hardState: HardState(term: 1, commit: index - 1), sync: index % 10 == 0)
            }
            try storage.sync()
            XCTAssertGreaterThan(storage.segmentNames.count, 5)
        }
        let paths = try segmentPaths()
        for (position, path) in paths.enumerated() {
            let name = (path as NSString).lastPathComponent
            XCTAssertTrue(name.hasPrefix(hex16(UInt64(position)) + "-"), name)
        }
        let state = try reopen()
        XCTAssertEqual(state.entries, makeEntries(1...200, term: 1, size: 100))
        XCTAssertEqual(state.hardState.commit, 199)
    }

    func testReopenedFullSegmentIsCutOnTheNextAppend() throws {
        try withStorage { storage in
            // 120 bytes of opening records + 22 records of 176 bytes (144 + 32 of encryption framing)
            // = 3992 of 4096 bytes.
            for index in UInt64(1)...22 {
                try storage.append(entries: [makeEntry(index, term: 1, size: 120)], hardState: nil, sync: true)
            }
            XCTAssertEqual(storage.segmentNames.count, 1)
        }
        try withStorage { storage in
            try storage.append(entries: makeEntries(23...40, term: 1, size: 120), hardState: nil, sync: true)
            XCTAssertEqual(storage.segmentNames, ["0000000000000000-0000000000000001.wal", "0000000000000001-0000000000000017.wal"])
        }
        XCTAssertEqual(try reopen().entries, makeEntries(1...40, term: 1, size: 120))
    }

    /// A failed write (here: the next segment cannot be created) poisons the instance: retrying
    /// an fsync after a failure can report success for data the kernel already dropped.
    func testAfterAWriteFailureEveryWriteFails() throws {
        let (storage, _) = try open()
        try storage.append(entries: makeEntries(1...3, term: 1, size: 100), hardState: nil, sync: true)
        try FileSystem.removeTree(walDirectory)
        XCTAssertThrowsError(try storage.append(entries: makeEntries(4...60, term: 1, size: 100), hardState: nil, sync: true))
        XCTAssertThrowsError(try storage.append(entries: [], hardState: HardState(term: 1), sync: true)) { error in
            XCTAssertEqual((error as? StorageError)?.kind, .io, "\(error)")
        }
        XCTAssertThrowsError(try storage.sync())
    }

    func testMissingMiddleSegmentIsRefused() throws {
        try withStorage { storage in
            for index in UInt64(1)...100 {
                try storage.append(entries: [makeEntry(index, term: 1, size: 200)], hardState: nil, sync: true)
            }
        }
        let paths = try segmentPaths()
        XCTAssertGreaterThan(paths.count, 3)
        try FileSystem.remove(paths[2])
        assertCorruption(try self.reopen(), mentioning: [paths[3], "segment is missing", "backup"])
    }

    func testBrokenChainBetweenSegmentsIsRefused() throws {
        try withStorage { storage in
            for index in UInt64(1)...60 {
                try storage.append(entries: [makeEntry(index, term: 1, size: 200)], hardState: nil, sync: true)
            }
        }
        let paths = try segmentPaths()
        // Replace segment 1 with a valid-looking one whose header links to another chain.
        var bytes = try readFile(paths[1])
        var encoder = RecordEncoder(chain: 0, keys: nil)
        let name = SegmentFile.parse(name: (paths[1] as NSString).lastPathComponent, directory: walDirectory)!
        encoder.beginBatch(chain: 0xDEAD_BEEF, precededBySync: true, sequence: name.sequence, offset: 0)
        try encoder.append(.segmentHeader, payload: SegmentHeader(sequence: name.sequence, firstIndex: name.firstIndex, previousChain: 0xDEAD_BEEF,
                                                                  isEncrypted: true).encoded())
        bytes.replaceSubrange(0..<encoder.bytes.count, with: encoder.bytes)
        try writeFile(paths[1], bytes)
        assertCorruption(try self.reopen(), mentioning: [paths[1], "at byte 0", "chain"])
    }

    func testBadSegmentHeaderIsRefusedEvenInTheLastSegment() throws {
        try withStorage { try $0.append(entries: makeEntries(1...3, term: 1), hardState: nil, sync: true) }
        let path = try segmentPaths()[0]
        var bytes = try readFile(path)
        bytes[20] ^= 0x01
        try writeFile(path, bytes)
        assertCorruption(try self.reopen(), mentioning: [path, "segment header"])
    }

    func testLeftoverTemporaryFilesAreRemovedOnOpen() throws {
        try withStorage { try $0.append(entries: makeEntries(1...3, term: 1), hardState: nil, sync: true) }
        let leftovers = [walDirectory + "/0000000000000001.tmp", snapDirectory + "/x.snap.tmp"]
        for path in leftovers { _ = try File.create(path) }
        XCTAssertEqual(try reopen().entries, makeEntries(1...3, term: 1))
        for path in leftovers { XCTAssertFalse(FileSystem.exists(path), path) }
    }

    func testSecondOpenOfTheSameDirectoryIsRefused() throws {
        let (storage, _) = try open()
        XCTAssertThrowsError(try open()) { error in
            XCTAssertEqual((error as? StorageError)?.kind, .locked)
        }
        withExtendedLifetime(storage) {}
    }

    func testGroupCommitSyncsEachBatchOnce() throws {
        try withStorage { storage in
            let before = storage.batchSyncCount
            try storage.append(entries: makeEntries(1...256, term: 1, size: 128), hardState: HardState(term: 1, commit: 256), sync: true)
            XCTAssertEqual(storage.batchSyncCount, before + 1)
            try storage.append(entries: makeEntries(257...300, term: 1, size: 128), hardState: nil, sync: false)
            XCTAssertEqual(storage.batchSyncCount, before + 1)
            try storage.save(makeReady(hardState: HardState(term: 1, commit: 300), entries: makeEntries(301...301, term: 1), mustSync: true))
            XCTAssertEqual(storage.batchSyncCount, before + 2)
        }
        let state = try reopen()
        XCTAssertEqual(state.entries, makeEntries(1...256, term: 1, size: 128) + makeEntries(257...300, term: 1, size: 128) + makeEntries(301...301, term: 1))
        XCTAssertEqual(state.hardState.commit, 300)
    }
}
