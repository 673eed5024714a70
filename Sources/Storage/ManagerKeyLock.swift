import Crypto
import Platform

/// Autolock at rest: the key-encryption key (KEK) that unwraps a manager's Raft data keys is
/// either stored as is (`DATA/keys/raft-kek`) or wrapped under the operator's unlock key
/// (`DATA/keys/raft-kek.locked`), in which case a restarted manager cannot read its Raft data
/// until someone supplies the unlock key.
///
/// The unlock key is `SWMKEY-1-` followed by 64 hex digits (256 random bits); the wrapping key is
/// HKDF-SHA-256 of those bits with a random per-file salt. Only the KEK is rewrapped when autolock
/// is enabled, disabled or its key rotated: the data keys and the WAL are untouched. Every change
/// writes the new file atomically before removing the old one, so a crash leaves one usable file
/// (if both exist, the locked one wins and the plaintext one is removed on the next start).
public enum ManagerKeyLock {
    public static let unlockKeyPrefix = "SWMKEY-1-"
    static let lockedMagic: [UInt8] = Array("SWKEKL1\n".utf8)
    static let saltSize = 16
    static let derivationInfo = Array("swarmctl autolock: wraps the raft key-encryption key".utf8)
    static let wrapLabel = "swarmctl raft key-encryption key"

    /// Why an unlock or lock change was refused.
    public struct Failure: Error, CustomStringConvertible, Sendable, Equatable {
        public let description: String
    }

    static func lockedPath(in dataDirectory: String) -> String { StoredKeyEncryptionKey.path(in: dataDirectory) + ".locked" }

    /// A new random unlock key, as printed to the operator.
    public static func generateUnlockKey() throws -> String {
        unlockKeyPrefix + Crypto.hex(try Crypto.randomBytes(32)).uppercased()
    }

    /// The 32 secret bytes of an unlock key; surrounding whitespace is ignored, anything else
    /// malformed is refused.
    public static func parse(unlockKey text: String) throws -> [UInt8] {
        let trimmed = text.trimmingWhitespace
        guard trimmed.hasPrefix(unlockKeyPrefix), let bytes = Crypto.unhex(String(trimmed.dropFirst(unlockKeyPrefix.count))),
              bytes.count == 32
        else { throw Failure(description: "invalid unlock key: expected \(unlockKeyPrefix) followed by 64 hex digits") }
        return bytes
    }

    /// True when the data dir's KEK is wrapped under an unlock key.
    public static func isLocked(dataDirectory: String) -> Bool { FileSystem.exists(lockedPath(in: dataDirectory)) }

    /// True when the data dir has a KEK at all (a manager's, locked or not).
    public static func hasKey(dataDirectory: String) -> Bool {
        isLocked(dataDirectory: dataDirectory) || FileSystem.exists(StoredKeyEncryptionKey.path(in: dataDirectory))
    }

    /// The KEK of a locked data dir, unwrapped with `unlockKey`; a wrong key throws and changes nothing.
    public static func unlock(dataDirectory: String, unlockKey: String) throws -> [UInt8] {
        let secret = try parse(unlockKey: unlockKey)
        let path = lockedPath(in: dataDirectory)
        let bytes: [UInt8]
        do { bytes = try File.openForReading(path).readAll() } catch { throw ioError(error, path) }
        let header = lockedMagic.count + saltSize
        guard bytes.count > header, Array(bytes.prefix(lockedMagic.count)) == lockedMagic else {
            throw StorageError.corruption(path, "the locked key-encryption key file is damaged")
        }
        let wrappingKey = try derive(secret, salt: Array(bytes[lockedMagic.count..<header]))
        do {
            return try KeyWrap.unwrap(Array(bytes[header...]), under: wrappingKey, label: wrapLabel)
        } catch {
            throw Failure(description: "the unlock key is wrong (it does not unwrap \(path)); nothing was changed")
        }
    }

    /// The KEK to open Raft storage with: the stored one, or nil if the data dir is locked (ask
    /// for the unlock key). Removes a plaintext KEK left beside a locked one by a crash.
    public static func storedKey(dataDirectory: String) throws -> [UInt8]? {
        let plain = StoredKeyEncryptionKey.path(in: dataDirectory)
        if isLocked(dataDirectory: dataDirectory) {
            if FileSystem.exists(plain) {
                do { try FileSystem.remove(plain) } catch { throw ioError(error, plain) }
            }
            return nil
        }
        return try StoredKeyEncryptionKey.loadOrCreate(dataDirectory: dataDirectory, create: false)
    }

    /// Wraps `kek` under `unlockKey` (enabling autolock, or rotating its key) and removes the
    /// plaintext KEK.
    public static func lock(dataDirectory: String, kek: [UInt8], unlockKey: String) throws {
        precondition(kek.count == AESGCM256.keySize, "KEK size")
        let secret = try parse(unlockKey: unlockKey)
        let salt = try Crypto.randomBytes(saltSize)
        let wrapped = try KeyWrap.wrap(kek, under: try derive(secret, salt: salt), label: wrapLabel)
        let path = lockedPath(in: dataDirectory)
        let plain = StoredKeyEncryptionKey.path(in: dataDirectory)
        do {
            try FileSystem.makeDirectories(FileSystem.parentDirectory(of: path), mode: 0o700)
            try FileSystem.replaceAtomically(path, with: lockedMagic + salt + wrapped, mode: 0o600)
            if FileSystem.exists(plain) {
                try FileSystem.remove(plain)
                try FileSystem.syncDirectory(FileSystem.parentDirectory(of: plain))
            }
        } catch { throw ioError(error, path) }
    }

    /// Stores `kek` unwrapped again (autolock disabled) and removes the locked file.
    public static func unlockPermanently(dataDirectory: String, kek: [UInt8]) throws {
        precondition(kek.count == AESGCM256.keySize, "KEK size")
        let plain = StoredKeyEncryptionKey.path(in: dataDirectory)
        let locked = lockedPath(in: dataDirectory)
        do {
            try FileSystem.makeDirectories(FileSystem.parentDirectory(of: plain), mode: 0o700)
            try FileSystem.replaceAtomically(plain, with: StoredKeyEncryptionKey.magic + kek, mode: 0o600)
            if FileSystem.exists(locked) {
                try FileSystem.remove(locked)
                try FileSystem.syncDirectory(FileSystem.parentDirectory(of: locked))
            }
        } catch { throw ioError(error, plain) }
    }

    /// The KEK in use by an unlocked data dir (to lock it), creating none.
    public static func currentKey(dataDirectory: String) throws -> [UInt8] {
        try StoredKeyEncryptionKey.loadOrCreate(dataDirectory: dataDirectory, create: false)
    }

    /// The KEK of an unlocked data dir, created (random, stored 0600) if it has none yet: what a
    /// new manager opens its Raft storage with. A locked data dir is refused (unlock it first).
    public static func currentOrNewKey(dataDirectory: String) throws -> [UInt8] {
        guard !isLocked(dataDirectory: dataDirectory) else {
            throw Failure(description: "the data dir's keys are locked under the unlock key: unlock the manager first (swarmctl swarm unlock)")
        }
        return try StoredKeyEncryptionKey.loadOrCreate(dataDirectory: dataDirectory, create: true)
    }

    /// `DATA/keys`: the KEK and the data keys, which a demoted manager removes with its Raft log.
    public static func keysDirectory(in dataDirectory: String) -> String {
        FileSystem.parentDirectory(of: StoredKeyEncryptionKey.path(in: dataDirectory))
    }

    private static func derive(_ secret: [UInt8], salt: [UInt8]) throws -> [UInt8] {
        try KeyWrap.hkdfSHA256(secret: secret, salt: salt, info: derivationInfo, count: AESGCM256.keySize)
    }
}

extension String {
    var trimmingWhitespace: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        return String(drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
