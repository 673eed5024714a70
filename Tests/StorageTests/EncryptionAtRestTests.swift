import Crypto
import Foundation
import Glibc
import Platform
import Raft
import Wire
@testable import Storage
import XCTest

/// Encryption at rest: nothing written is readable without the keys, and bytes that were altered
/// or moved are refused even when the attacker recomputes every CRC (they are not secret).
final class EncryptionAtRestTests: StorageTestCase {
    private func snapshot(_ index: UInt64, data: [UInt8]) -> Snapshot {
        Snapshot(metadata: SnapshotMetadata(index: index, term: 1, confState: ConfState(voters: [1, 2, 3])), data: data)
    }

    private func entries(_ range: ClosedRange<UInt64>, containing marker: [UInt8]) -> [Entry] {
        range.map { Entry(term: 1, index: $0, data: Array("value=".utf8) + marker + Array(" #\($0)".utf8)) }
    }

    /// Every regular file under `directory`, recursively.
    private func allFiles(_ directory: String) throws -> [String] {
        try FileSystem.list(directory).flatMap { name -> [String] in
            let path = directory + "/" + name
            return FileSystem.isDirectory(path) ? try allFiles(path) : [path]
        }
    }

    /// Runs `grep -r -a -l MARKER DIR`; returns the files it names (exit 1 = none).
    private func grep(_ marker: String, in directory: String) throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/grep")
        process.arguments = ["-r", "-a", "-l", "-F", marker, directory]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertTrue([0, 1].contains(process.terminationStatus), "grep failed: \(process.terminationStatus)")
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    private func writeMarkedData(_ marker: [UInt8]) throws {
        try withStorage { storage in
            try storage.append(entries: entries(1...30, containing: marker), hardState: HardState(term: 1, commit: 30), sync: true)
            try storage.saveSnapshot(snapshot(20, data: Array("state:".utf8) + marker))
            try storage.append(entries: entries(31...40, containing: marker), hardState: HardState(term: 1, commit: 40), sync: true)
        }
    }

    func testNothingWrittenContainsAKnownValueAndItAllReadsBack() throws {
        let marker = Array(("secret-" + Crypto.hex(try Crypto.randomBytes(12))).utf8)
        try writeMarkedData(marker)
        let markerText = String(decoding: marker, as: UTF8.self)
        XCTAssertEqual(try grep(markerText, in: dataDirectory), [], "plaintext found on disk")
        for path in try allFiles(dataDirectory) {
            let bytes = try readFile(path)
            XCTAssertNil(bytes.firstRange(of: marker), path)
        }
        let state = try reopen()
        XCTAssertEqual(state.snapshot, snapshot(20, data: Array("state:".utf8) + marker))
        XCTAssertEqual(state.entries, Array(entries(1...40, containing: marker)[20...]))
        XCTAssertEqual(state.hardState.commit, 40)
        // The search can fail: the same data written without encryption is found.
        try FileSystem.removeTree(dataDirectory)
        try FileSystem.makeDirectories(dataDirectory)
        options.encryption = .disabled
        try writeMarkedData(marker)
        XCTAssertFalse(try grep(markerText, in: dataDirectory).isEmpty)
    }

    func testKeyFilesAreOwnerOnly() throws {
        try withStorage { try $0.append(entries: makeEntries(1...2, term: 1), hardState: nil, sync: true) }
        for path in [dataDirectory + "/keys/raft-deks", dataDirectory + "/keys/raft-kek", dataDirectory + "/keys"] {
            var info = stat()
            XCTAssertEqual(stat(path, &info), 0, path)
            XCTAssertEqual(info.st_mode & 0o777, FileSystem.isDirectory(path) ? 0o700 : 0o600, path)
        }
    }

    // MARK: Tampering the WAL

    /// Recomputes record and chain CRCs from span `from` on, as an attacker who knows the format would.
    private func rechain(_ bytes: inout [UInt8], _ spans: [Range<Int>], from first: Int) {
        var chain = RecordReader.loadUInt32(bytes, spans[first - 1].lowerBound + 12)
        for span in spans[first...] {
            let length = Int(RecordReader.loadUInt64(bytes, span.lowerBound) & 0xffff_ffff)
            let payload = (span.lowerBound + 16)..<(span.lowerBound + 16 + length)
            let crc = CRC32C.checksum(bytes[payload], continuing: CRC32C.checksum(bytes[span.lowerBound..<(span.lowerBound + 8)]))
            chain = RecordReader.chain(after: chain, recordCRC: crc)
            bytes.withUnsafeMutableBytes { raw in
                raw.storeBytes(of: crc.littleEndian, toByteOffset: span.lowerBound + 8, as: UInt32.self)
                raw.storeBytes(of: chain.littleEndian, toByteOffset: span.lowerBound + 12, as: UInt32.self)
            }
        }
    }

    private func writeLog() throws -> (path: String, bytes: [UInt8], spans: [Range<Int>]) {
        try withStorage { storage in
            try storage.append(entries: makeEntries(1...4, term: 1, size: 40), hardState: HardState(term: 1, commit: 2), sync: true)
            try storage.append(entries: makeEntries(5...6, term: 1, size: 40), hardState: nil, sync: true)
        }
        let path = try segmentPaths()[0]
        let bytes = try readFile(path)
        return (path, bytes, recordSpans(bytes))
    }

    func testAlteredPayloadWithRecomputedCRCsIsRefusedEvenInTheLastRecord() throws {
        let log = try writeLog()
        for victim in [2, log.spans.count - 1] {  // an early entry, and the very last record
            let offset = log.spans[victim].lowerBound
            let length = Int(RecordReader.loadUInt64(log.bytes, offset) & 0xffff_ffff)
            // In the nonce, the ciphertext, and the last byte of the tag (the key id is tested below).
            for position in [16 + 7, 16 + 33, 16 + length - 1] {
                var bytes = log.bytes
                bytes[offset + position] ^= 0x01
                rechain(&bytes, log.spans, from: victim)
                try writeFile(log.path, bytes)
                assertCorruption(try self.reopen(), mentioning: [log.path, "at byte \(offset)", "fails authentication"],
                                 "record \(victim), byte \(position)")
            }
        }
        try writeFile(log.path, log.bytes)
        XCTAssertEqual(try reopen().entries, makeEntries(1...6, term: 1, size: 40))
    }

    func testAlteredKeyIDWithRecomputedCRCsIsRefused() throws {
        let log = try writeLog()
        var bytes = log.bytes
        let offset = log.spans[2].lowerBound
        bytes[offset + 16] ^= 0x02
        rechain(&bytes, log.spans, from: 2)
        try writeFile(log.path, bytes)
        assertCorruption(try self.reopen(), mentioning: [log.path, "at byte \(offset)", "data key 3", "raft-deks"])
    }

    func testAlteredRecordTypeOrFlagsWithRecomputedCRCsIsRefused() throws {
        let log = try writeLog()
        let victim = 3
        let offset = log.spans[victim].lowerBound
        for (byte, change) in [(4, UInt8(RecordType.entry.rawValue ^ RecordType.hardState.rawValue)), (5, UInt8(1))] {
            var bytes = log.bytes
            bytes[offset + byte] ^= change
            rechain(&bytes, log.spans, from: victim)
            try writeFile(log.path, bytes)
            assertCorruption(try self.reopen(), mentioning: [log.path, "at byte \(offset)", "fails authentication"], "header byte \(byte)")
        }
    }

    func testRecordCopiedToAnotherPositionIsRefused() throws {
        let log = try writeLog()
        // Entries 2 and 3 are records 3 and 4: same size and header word (neither starts a batch),
        // so the copy differs from the original only in where it is.
        let (source, target) = (log.spans[3], log.spans[4])
        XCTAssertEqual(log.bytes[source.lowerBound..<(source.lowerBound + 8)], log.bytes[target.lowerBound..<(target.lowerBound + 8)])
        var bytes = log.bytes
        bytes.replaceSubrange(target, with: log.bytes[source])
        rechain(&bytes, log.spans, from: 4)
        try writeFile(log.path, bytes)
        assertCorruption(try self.reopen(), mentioning: [log.path, "at byte \(target.lowerBound)", "copied here from another position"])
    }

    func testRecordReplayedIntoAnotherSegmentAtTheSameOffsetIsRefused() throws {
        try withStorage { storage in
            for index in UInt64(1)...60 { try storage.append(entries: [makeEntry(index, term: 1, size: 200)], hardState: nil, sync: true) }
        }
        let paths = try segmentPaths().sorted()
        let first = try readFile(paths[0])
        var second = try readFile(paths[1])
        let (firstSpans, secondSpans) = (recordSpans(first), recordSpans(second))
        guard let target = secondSpans.dropFirst(2).first(where: { span in firstSpans.contains(span) }) else {
            return XCTFail("no record at the same offset and size in both segments")
        }
        var copy = Array(first[target])
        copy[5] = second[target.lowerBound + 5]
        second.replaceSubrange(target, with: copy)
        rechain(&second, secondSpans, from: secondSpans.firstIndex(of: target)!)
        try writeFile(paths[1], second)
        assertCorruption(try self.reopen(), mentioning: [paths[1], "at byte \(target.lowerBound)", "fails authentication"])
    }

    // MARK: Tampering snapshots

    func testAlteredSnapshotWithRecomputedCRCsIsRefusedNotSkipped() throws {
        try withStorage { storage in
            try storage.append(entries: makeEntries(1...30, term: 1), hardState: HardState(term: 1, commit: 30), sync: true)
            try storage.saveSnapshot(snapshot(10, data: payload(index: 10, term: 1, size: 300)))
            try storage.saveSnapshot(snapshot(20, data: payload(index: 20, term: 1, size: 300)))
        }
        let newest = snapDirectory + "/" + SnapshotFile.name(term: 1, index: 20)
        let original = try readFile(newest)
        var bytes = original
        bytes[200] ^= 0x04
        let stored = Array(bytes[SnapshotStore.headerSize...])
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: CRC32C.checksum(stored).littleEndian, toByteOffset: 16, as: UInt32.self) }
        let headerCRC = CRC32C.checksum(bytes[0..<20])
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: headerCRC.littleEndian, toByteOffset: 20, as: UInt32.self) }
        try writeFile(newest, bytes)
        assertCorruption(try self.reopen(), mentioning: [newest, "at byte \(SnapshotStore.headerSize)", "fails authentication"])
        XCTAssertTrue(FileSystem.exists(newest), "a tampered snapshot is kept in place for inspection, not quarantined")

        // The snapshot at 10 copied over the one at 20 (CRCs intact, the name says 20): refused too.
        let older = try readFile(snapDirectory + "/" + SnapshotFile.name(term: 1, index: 10))
        try writeFile(newest, older)
        XCTAssertThrowsError(try self.reopen())
        try writeFile(newest, original)
        XCTAssertEqual(try reopen().snapshot.metadata.index, 20)
    }

    // MARK: Keys

    func testDataKeyRotatesAtEachSnapshotAndOldKeysAreDroppedOnceNothingUsesThem() throws {
        options = RaftStorage.Options(segmentSize: 4096, retainedEntries: 5, keptSnapshots: 2)
        var expected: [Entry] = []
        var lastSnapshot: UInt64 = 0
        for round in UInt64(0)..<8 {
            try withStorage { storage in
                let keys = try XCTUnwrap(storage.keys)
                let before = keys.currentID
                let batch = makeEntries((round * 40 + 1)...(round * 40 + 40), term: 1, size: 60)
                try storage.append(entries: batch, hardState: HardState(term: 1, commit: round * 40 + 40), sync: true)
                expected += batch
                lastSnapshot = round * 40 + 30
                try storage.saveSnapshot(snapshot(lastSnapshot, data: [UInt8(round + 1)]))
                XCTAssertEqual(keys.currentID, before + 1, "a snapshot rotates the data key")
                let file = try readFile(snapDirectory + "/" + SnapshotFile.name(term: 1, index: lastSnapshot))
                XCTAssertEqual(RecordReader.loadUInt32(file, SnapshotStore.headerSize), keys.currentID, "the snapshot is under the new key")
                try storage.append(entries: [], hardState: HardState(term: 1, commit: round * 40 + 40), sync: true)
                try storage.compact()
                XCTAssertLessThanOrEqual(keys.ids.count, 4, "old keys are dropped: \(keys.ids)")
                XCTAssertEqual(keys.ids.last, keys.currentID)
            }
            let state = try reopen()
            XCTAssertEqual(state.snapshot.metadata.index, lastSnapshot)
            XCTAssertEqual(state.entries, Array(expected.drop(while: { $0.index <= lastSnapshot })), "round \(round)")
        }
        let ring = try DataKeyRing.load(path: dataDirectory + "/keys/raft-deks",
                                        kek: Array(try readFile(dataDirectory + "/keys/raft-kek").suffix(32)))
        XCTAssertGreaterThan(ring.ids.first!, 1, "key 1 was dropped once no segment or snapshot used it")
    }

    func testMissingOrWrongKeysRefuseToStartAndNameTheFile() throws {
        try withStorage { try $0.append(entries: makeEntries(1...3, term: 1), hardState: nil, sync: true) }
        let kekPath = dataDirectory + "/keys/raft-kek"
        let kek = try readFile(kekPath)
        try writeFile(kekPath, Array(kek.prefix(7)) + (try Crypto.randomBytes(32)))
        XCTAssertThrowsError(try reopen()) { error in
            XCTAssertTrue("\(error)".contains("raft-deks") && "\(error)".contains("cannot unwrap"), "\(error)")
        }
        try FileSystem.remove(kekPath)
        XCTAssertThrowsError(try reopen()) { error in
            XCTAssertTrue("\(error)".contains(kekPath) && "\(error)".contains("missing"), "\(error)")
        }
        try FileSystem.replaceAtomically(kekPath, with: kek)
        XCTAssertEqual(try reopen().entries, makeEntries(1...3, term: 1))
    }

    func testSuppliedKeyEncryptionKeyIsNeverStoredAndAWrongOneIsRefused() throws {
        let kek = try Crypto.randomBytes(32)
        options.encryption = .keyEncryptionKey(kek)
        try withStorage { try $0.append(entries: makeEntries(1...3, term: 1), hardState: nil, sync: true) }
        XCTAssertFalse(FileSystem.exists(dataDirectory + "/keys/raft-kek"))
        XCTAssertEqual(try reopen().entries, makeEntries(1...3, term: 1))
        options.encryption = .keyEncryptionKey(try Crypto.randomBytes(32))
        XCTAssertThrowsError(try reopen()) { error in XCTAssertTrue("\(error)".contains("cannot unwrap"), "\(error)") }
        options.encryption = .dataDirectoryKey
        XCTAssertThrowsError(try reopen())
    }

    func testUnencryptedDataDirFromAnOlderVersionIsRefusedWithWhatToDo() throws {
        options.encryption = .disabled
        try withStorage { try $0.append(entries: makeEntries(1...3, term: 1), hardState: nil, sync: true) }
        XCTAssertEqual(try reopen().entries, makeEntries(1...3, term: 1))
        options.encryption = .dataDirectoryKey
        assertCorruption(try self.reopen(), mentioning: [try segmentPaths()[0], "without encryption at rest", "rejoin"])
        XCTAssertFalse(FileSystem.exists(dataDirectory + "/keys"), "nothing was created or changed")
        // And the other way round.
        try FileSystem.removeTree(dataDirectory)
        try FileSystem.makeDirectories(dataDirectory)
        try withStorage { try $0.append(entries: makeEntries(1...3, term: 1), hardState: nil, sync: true) }
        options.encryption = .disabled
        assertCorruption(try self.reopen(), mentioning: [try segmentPaths()[0], "encryption disabled"])
    }
}
