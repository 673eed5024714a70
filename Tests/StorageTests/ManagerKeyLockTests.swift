import Crypto
import Platform
import Raft
@testable import Storage
import XCTest

/// Autolock at the storage level: the KEK wrapped under an unlock key; wrong keys change nothing.
final class ManagerKeyLockTests: StorageTestCase {
    private var keysDirectory: String { dataDirectory + "/keys" }

    private func snapshotOfKeys() throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        for name in try FileSystem.list(keysDirectory) { files[name] = try readFile(keysDirectory + "/" + name) }
        return files
    }

    func testLockedDataDirNeedsTheUnlockKeyAndAWrongKeyChangesNothing() throws {
        try withStorage { try $0.append(entries: makeEntries(1...3, term: 1), hardState: HardState(term: 1, commit: 3), sync: true) }
        let kek = try ManagerKeyLock.currentKey(dataDirectory: dataDirectory)
        let unlockKey = try ManagerKeyLock.generateUnlockKey()
        XCTAssertTrue(unlockKey.hasPrefix("SWMKEY-1-"))
        try ManagerKeyLock.lock(dataDirectory: dataDirectory, kek: kek, unlockKey: unlockKey)
        XCTAssertTrue(ManagerKeyLock.isLocked(dataDirectory: dataDirectory))
        XCTAssertFalse(FileSystem.exists(keysDirectory + "/raft-kek"), "the plaintext KEK is gone")
        XCTAssertNil(try ManagerKeyLock.storedKey(dataDirectory: dataDirectory))
        XCTAssertThrowsError(try reopen(), "no stored KEK: the Raft data cannot be opened")
        for (name, bytes) in try snapshotOfKeys() { XCTAssertNil(bytes.firstRange(of: kek), name) }

        let before = try snapshotOfKeys()
        let wrong = try ManagerKeyLock.generateUnlockKey()
        XCTAssertThrowsError(try ManagerKeyLock.unlock(dataDirectory: dataDirectory, unlockKey: wrong)) { error in
            XCTAssertTrue("\(error)".contains("unlock key is wrong"), "\(error)")
        }
        XCTAssertThrowsError(try ManagerKeyLock.unlock(dataDirectory: dataDirectory, unlockKey: "SWMKEY-1-nothex")) { error in
            XCTAssertTrue("\(error)".contains("invalid unlock key"), "\(error)")
        }
        XCTAssertEqual(try snapshotOfKeys(), before, "a refused key changes nothing")

        let unlocked = try ManagerKeyLock.unlock(dataDirectory: dataDirectory, unlockKey: "  \(unlockKey)\n")
        XCTAssertEqual(unlocked, kek)
        options.encryption = .keyEncryptionKey(unlocked)
        XCTAssertEqual(try reopen().entries, makeEntries(1...3, term: 1))
    }

    func testRotatingTheUnlockKeyRetiresTheOldOne() throws {
        try withStorage { try $0.append(entries: makeEntries(1...2, term: 1), hardState: nil, sync: true) }
        let kek = try ManagerKeyLock.currentKey(dataDirectory: dataDirectory)
        let first = try ManagerKeyLock.generateUnlockKey()
        try ManagerKeyLock.lock(dataDirectory: dataDirectory, kek: kek, unlockKey: first)
        let second = try ManagerKeyLock.generateUnlockKey()
        try ManagerKeyLock.lock(dataDirectory: dataDirectory, kek: try ManagerKeyLock.unlock(dataDirectory: dataDirectory, unlockKey: first),
                                unlockKey: second)
        XCTAssertThrowsError(try ManagerKeyLock.unlock(dataDirectory: dataDirectory, unlockKey: first))
        XCTAssertEqual(try ManagerKeyLock.unlock(dataDirectory: dataDirectory, unlockKey: second), kek)
    }

    func testDisablingAutolockStoresTheKeyAgain() throws {
        try withStorage { try $0.append(entries: makeEntries(1...2, term: 1), hardState: nil, sync: true) }
        let kek = try ManagerKeyLock.currentKey(dataDirectory: dataDirectory)
        try ManagerKeyLock.lock(dataDirectory: dataDirectory, kek: kek, unlockKey: try ManagerKeyLock.generateUnlockKey())
        try ManagerKeyLock.unlockPermanently(dataDirectory: dataDirectory, kek: kek)
        XCTAssertFalse(ManagerKeyLock.isLocked(dataDirectory: dataDirectory))
        XCTAssertEqual(try ManagerKeyLock.storedKey(dataDirectory: dataDirectory), kek)
        XCTAssertEqual(try reopen().entries, makeEntries(1...2, term: 1))
    }

    func testPlaintextKeyLeftBesideALockedOneByACrashIsRemoved() throws {
        try withStorage { try $0.append(entries: makeEntries(1...2, term: 1), hardState: nil, sync: true) }
        let kek = try ManagerKeyLock.currentKey(dataDirectory: dataDirectory)
        let plain = try readFile(keysDirectory + "/raft-kek")
        try ManagerKeyLock.lock(dataDirectory: dataDirectory, kek: kek, unlockKey: try ManagerKeyLock.generateUnlockKey())
        try FileSystem.replaceAtomically(keysDirectory + "/raft-kek", with: plain)
        XCTAssertNil(try ManagerKeyLock.storedKey(dataDirectory: dataDirectory))
        XCTAssertFalse(FileSystem.exists(keysDirectory + "/raft-kek"))
    }
}
