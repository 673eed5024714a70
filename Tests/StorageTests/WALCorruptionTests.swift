import Platform
import Raft
@testable import Storage
import XCTest

/// Damage at start-up: a torn tail is repaired (and logged with file and offset); anything before
/// the tail is refused, because repairing it could drop a record that was acknowledged as durable.
final class WALCorruptionTests: StorageTestCase {
    /// Three synced batches, the last a single entry with no hard state, in one segment.
    private func writeSmallLog() throws -> (path: String, bytes: [UInt8], spans: [Range<Int>]) {
        try withStorage { storage in
            try storage.append(entries: makeEntries(1...2, term: 1), hardState: HardState(term: 1, vote: 1, commit: 0), sync: true)
            try storage.append(entries: makeEntries(3...3, term: 1), hardState: HardState(term: 1, vote: 1, commit: 2), sync: true)
            try storage.append(entries: makeEntries(4...4, term: 1), hardState: nil, sync: true)
        }
        let path = try segmentPaths().first!
        let bytes = try readFile(path)
        let spans = recordSpans(bytes)
        XCTAssertEqual(spans.count, 8, "header, initial hard state, 2 entries + hs, entry + hs, entry")
        return (path, bytes, spans)
    }

    private var durablePrefix: PersistentState {
        PersistentState(hardState: HardState(term: 1, vote: 1, commit: 2), entries: makeEntries(1...3, term: 1))
    }

    func testTruncatingTheLastRecordAtEveryByteRecoversTheDurablePrefix() throws {
        let log = try writeSmallLog()
        let last = log.spans.last!
        for cut in last.lowerBound..<last.upperBound {
            try writeFile(log.path, Array(log.bytes[0..<cut]))
            let state = try reopen()
            XCTAssertEqual(state, durablePrefix, "cut at byte \(cut)")
        }
        // The repaired segment takes new appends, which survive another reopen.
        try withStorage { try $0.append(entries: makeEntries(4...5, term: 2), hardState: nil, sync: true) }
        XCTAssertEqual(try reopen().entries, makeEntries(1...3, term: 1) + makeEntries(4...5, term: 2))
    }

    func testTornTailIsLoggedWithFileAndOffsetAndZeroed() throws {
        let log = try writeSmallLog()
        let last = log.spans.last!
        try writeFile(log.path, Array(log.bytes[0..<(last.lowerBound + 20)]) + [UInt8](repeating: 0, count: 4096))
        XCTAssertEqual(try reopen(), durablePrefix)
        XCTAssertTrue(capture.messages.contains { $0.contains(log.path) && $0.contains("at byte \(last.lowerBound)") },
                      "\(capture.messages)")
        let repaired = try readFile(log.path)
        XCTAssertTrue(repaired[last.lowerBound...].allSatisfy { $0 == 0 }, "bytes after the repaired tail must be zero")
    }

    func testFlippingAnySingleBitIsDetected() throws {
        let log = try writeSmallLog()
        let last = log.spans.last!
        let end = last.upperBound
        for bit in 0..<((end + 16) * 8) {
            var damaged = log.bytes
            damaged[bit / 8] ^= UInt8(1) << UInt8(bit % 8)
            try writeFile(log.path, damaged)
            if bit / 8 < last.lowerBound {
                assertCorruption(try self.reopen(), mentioning: [log.path, "byte"], "bit \(bit)")
            } else if bit / 8 < last.lowerBound + 4 {
                // The length word: a changed length can look like a write cut short; either is fine,
                // applying the record is not.
                do {
                    let state = try reopen()
                    XCTAssertEqual(state, durablePrefix, "bit \(bit) in the last record's length")
                } catch let error as StorageError {
                    XCTAssertEqual(error.kind, .corruption, "bit \(bit)")
                }
            } else if bit / 8 < end {
                // A crash loses sectors, not bits: a flip in the last record is refused, never dropped as a torn tail.
                assertCorruption(try self.reopen(), mentioning: [log.path, "at byte \(last.lowerBound)"], "bit \(bit) in the last record")
            } else {
                XCTAssertEqual(try reopen(), PersistentState(hardState: durablePrefix.hardState, entries: makeEntries(1...4, term: 1)),
                               "bit \(bit) after the data")
            }
        }
    }

    func testZeroedRecordBeforeALaterSyncedBatchIsRefused() throws {
        let log = try writeSmallLog()
        var damaged = log.bytes
        let victim = log.spans[3]  // entry 2, followed by batches written after an fsync
        damaged.replaceSubrange(victim, with: repeatElement(0, count: victim.count))
        try writeFile(log.path, damaged)
        assertCorruption(try self.reopen(), mentioning: [log.path, "at byte \(victim.lowerBound)", "fsync", "backup"])
    }

    func testCRCMismatchFollowedByValidRecordInTheSameBatchIsRefused() throws {
        try withStorage { try $0.append(entries: makeEntries(1...5, term: 1, size: 40), hardState: nil, sync: true) }
        let path = try segmentPaths()[0]
        var bytes = try readFile(path)
        let spans = recordSpans(bytes)
        bytes[spans[3].lowerBound + 30] ^= 0x10
        try writeFile(path, bytes)
        assertCorruption(try self.reopen(), mentioning: [path, "at byte \(spans[3].lowerBound)", "CRC", "valid record"])
    }

    /// Power loss in the middle of an unsynced batch: a sector of it never reached the disk while
    /// a later one did. Nothing proves the batch was durable, so it is a torn tail.
    func testLostSectorInsideTheLastUnsyncedBatchIsATornTail() throws {
        try withStorage { storage in
            try storage.append(entries: makeEntries(1...3, term: 1, size: 100), hardState: HardState(term: 1, commit: 3), sync: true)
            try storage.append(entries: makeEntries(4...20, term: 1, size: 100), hardState: nil, sync: false)
        }
        let path = try segmentPaths()[0]
        var bytes = try readFile(path)
        let spans = recordSpans(bytes)
        let lostSector = 1024..<1536
        bytes.replaceSubrange(lostSector, with: repeatElement(0, count: 512))
        try writeFile(path, bytes)
        let firstDamaged = spans.first { $0.overlaps(lostSector) }!
        let state = try reopen()
        // Records before the damage: segment header, two hard states, and the surviving entries.
        let survivingEntries = UInt64(spans.filter { $0.upperBound <= firstDamaged.lowerBound }.count - 3)
        XCTAssertGreaterThan(survivingEntries, 3)
        XCTAssertEqual(state.entries, makeEntries(1...survivingEntries, term: 1, size: 100))
        XCTAssertTrue(capture.messages.contains { $0.contains("at byte \(firstDamaged.lowerBound)") }, "\(capture.messages)")
    }

    /// Power loss during the last, unsynced batch, at sector granularity: any subset of the
    /// sectors it touched may have kept their previous contents. Recovery must always start and
    /// return the synced prefix plus some prefix of the lost batch, never garbage.
    func testLosingAnySectorsOfTheLastUnsyncedBatchIsRepaired() throws {
        let unsynced = (UInt64(6)...40).map { makeEntry($0, term: 2, size: 20 + Int($0 * 13 % 90)) }
        options.segmentSize = 8192  // both batches in one segment, with 32 bytes of encryption framing per record
        try withStorage { storage in
            try storage.append(entries: makeEntries(1...5, term: 1, size: 100), hardState: HardState(term: 1, commit: 5), sync: true)
            try storage.append(entries: unsynced, hardState: HardState(term: 2, commit: 6), sync: false)
        }
        let path = try segmentPaths()[0]
        let original = try readFile(path)
        let spans = recordSpans(original)
        let syncedEnd = spans[spans.count - unsynced.count - 2].upperBound
        let sectors = Array(stride(from: syncedEnd / 512 * 512, to: spans.last!.upperBound, by: 512))
        XCTAssertGreaterThan(sectors.count, 4)
        let full = makeEntries(1...5, term: 1, size: 100) + unsynced
        var random = SplitMix64(seed: 0x70_55)
        for trial in 0..<400 {
            var bytes = original
            for sector in sectors where random.next() % 10 < 4 {
                let lost = max(sector, syncedEnd)..<(sector + 512)
                bytes.replaceSubrange(lost, with: repeatElement(0, count: lost.count))
            }
            try writeFile(path, bytes)
            let state = try reopen()
            XCTAssertGreaterThanOrEqual(state.entries.count, 5, "trial \(trial)")
            XCTAssertEqual(state.entries, Array(full.prefix(state.entries.count)), "trial \(trial)")
            XCTAssertEqual(state.hardState.commit == 6, state.entries.count == full.count && bytes == original, "trial \(trial)")
        }
    }

    func testCorruptionInAnEarlierSegmentIsRefused() throws {
        try withStorage { storage in
            for index in UInt64(1)...60 {
                try storage.append(entries: [makeEntry(index, term: 1, size: 200)], hardState: nil, sync: true)
            }
        }
        let paths = try segmentPaths()
        var bytes = try readFile(paths[1])
        let spans = recordSpans(bytes)
        let last = spans.last!
        bytes[last.lowerBound + 20] ^= 0x01  // the last record of a sealed segment
        try writeFile(paths[1], bytes)
        assertCorruption(try self.reopen(), mentioning: [paths[1], "at byte \(last.lowerBound)", "not the last"])
    }
}
