import Crypto
import Glibc
import Platform
import Wire

/// The manager's data keys (DEKs): random AES-256 keys that encrypt the WAL records and snapshot
/// files, stored in `DATA/keys/raft-deks`, each wrapped (AES-256-GCM) under the key-encryption
/// key (KEK).
///
/// Rotation: `rotate()` adds a new key (ids count up from 1) and makes it current; it is called
/// when a snapshot is saved, so the snapshot and every record after it are under the new key.
/// Retention: an old key is kept until no WAL segment and no snapshot file still on disk was
/// written under it (`prune(keepingFrom:)`, called after compaction); ids only grow, so "the
/// smallest id any remaining file uses" is the cut-off. The file is replaced atomically (temp,
/// fsync, rename, directory fsync; mode 0600), always before a new key's first use.
///
/// Not thread-safe: the storage's single owner uses it.
final class DataKeyRing {
    static let magic: UInt32 = 0x4B44_5753  // "SWDK"
    static let version: UInt32 = 1

    let path: String
    private let kek: [UInt8]
    private var wrapped: [(id: UInt32, wrappedKey: [UInt8])] = []
    private var ciphers: [UInt32: AESGCM256] = [:]
    private(set) var currentID: UInt32 = 0
    /// The current key's cipher (kept apart from `ciphers`: no lookup per sealed record).
    private(set) var current: AESGCM256!
    /// Nonces for the current key; redrawn at each rotation.
    var nonces: NonceSequence

    static func path(in dataDirectory: String) -> String { dataDirectory + "/keys/raft-deks" }

    static func label(_ id: UInt32) -> String { "swarmctl raft data key \(id)" }

    private init(path: String, kek: [UInt8]) throws {
        self.path = path
        self.kek = kek
        nonces = try NonceSequence()
    }

    /// A new ring with one key, written to `path`.
    static func create(path: String, kek: [UInt8]) throws -> DataKeyRing {
        let ring = try DataKeyRing(path: path, kek: kek)
        try ring.rotate()
        return ring
    }

    /// The ring stored at `path`, every key unwrapped under `kek`.
    static func load(path: String, kek: [UInt8]) throws -> DataKeyRing {
        func refuse(_ why: String) -> StorageError { .corruption(path, "data key file \(why)") }
        let bytes: [UInt8]
        do { bytes = try File.openForReading(path).readAll() } catch {
            throw StorageError(.io, file: path, "cannot read the data keys that decrypt the WAL and snapshots (\(error)). "
                               + "Without them the Raft data cannot be read: restore DATA/keys from a backup, or remove the data dir and rejoin")
        }
        guard bytes.count >= 16, CRC32C.checksum(bytes[0..<(bytes.count - 4)]) == RecordReader.loadUInt32(bytes, bytes.count - 4) else {
            throw refuse("is damaged (CRC mismatch)")
        }
        let ring = try DataKeyRing(path: path, kek: kek)
        var reader = WireReader(Array(bytes[0..<(bytes.count - 4)]))
        do {
            guard try reader.readUInt32() == magic else { throw refuse("has a bad magic number") }
            guard try reader.readUInt32() == version else { throw refuse("has an unknown version") }
            let count = try reader.readUInt32()
            guard count > 0 else { throw refuse("holds no key") }
            for _ in 0..<count {
                let id = try reader.readUInt32()
                let wrappedKey = try reader.readBytes(limit: 256)
                guard id > ring.currentID else { throw refuse("has key ids out of order") }
                try ring.add(id: id, wrappedKey: wrappedKey)
            }
            guard reader.isAtEnd else { throw refuse("has trailing bytes") }
        } catch let error as StorageError {
            throw error
        } catch {
            throw refuse("cannot be decoded: \(error)")
        }
        return ring
    }

    private func add(id: UInt32, wrappedKey: [UInt8]) throws {
        let key: [UInt8]
        do { key = try KeyWrap.unwrap(wrappedKey, under: kek, label: Self.label(id)) } catch {
            throw StorageError.corruption(path, "\(error) (is this the key-encryption key of this data dir?)")
        }
        let cipher = try AESGCM256(key: key)
        ciphers[id] = cipher
        wrapped.append((id, wrappedKey))
        currentID = id
        current = cipher
    }

    /// The cipher for key `id`, if the ring still has it.
    func cipher(_ id: UInt32) -> AESGCM256? { ciphers[id] }

    var ids: [UInt32] { wrapped.map(\.id) }

    /// Adds a fresh random key, makes it current and writes the ring durably before returning.
    func rotate() throws {
        let id = currentID + 1
        let key = try Crypto.randomBytes(AESGCM256.keySize)
        let wrappedKey = try KeyWrap.wrap(key, under: kek, label: Self.label(id))
        let cipher = try AESGCM256(key: key)
        ciphers[id] = cipher
        wrapped.append((id, wrappedKey))
        currentID = id
        current = cipher
        nonces = try NonceSequence()
        try persist()
    }

    /// Forgets the keys older than `oldestNeeded` (never the current one); rewrites the file if
    /// any went.
    func prune(keepingFrom oldestNeeded: UInt32) throws {
        let cutoff = min(oldestNeeded, currentID)
        guard wrapped.contains(where: { $0.id < cutoff }) else { return }
        for entry in wrapped where entry.id < cutoff { ciphers[entry.id] = nil }
        wrapped.removeAll { $0.id < cutoff }
        try persist()
    }

    private func persist() throws {
        var writer = WireWriter(capacity: 128)
        writer.writeUInt32(Self.magic)
        writer.writeUInt32(Self.version)
        writer.writeUInt32(UInt32(wrapped.count))
        for entry in wrapped {
            writer.writeUInt32(entry.id)
            writer.writeBytes(entry.wrappedKey)
        }
        writer.writeUInt32(CRC32C.checksum(writer.bytes))
        do {
            try FileSystem.makeDirectories(FileSystem.parentDirectory(of: path), mode: 0o700)
            try FileSystem.replaceAtomically(path, with: writer.bytes, mode: 0o600)
        } catch { throw ioError(error, path) }
    }
}

/// The key-encryption key of a data dir when it is not locked: 32 random bytes in
/// `DATA/keys/raft-kek` (0600), created with the first WAL. (Autolock replaces it by a copy
/// wrapped under the operator's unlock key.)
enum StoredKeyEncryptionKey {
    static func path(in dataDirectory: String) -> String { dataDirectory + "/keys/raft-kek" }
    static let magic: [UInt8] = Array("SWKEK1\n".utf8)

    static func loadOrCreate(dataDirectory: String, create: Bool) throws -> [UInt8] {
        let path = path(in: dataDirectory)
        if !FileSystem.exists(path) {
            guard create else {
                throw StorageError(.io, file: path, "the key-encryption key is missing, so the data keys cannot be unwrapped. "
                                   + "Restore DATA/keys from a backup, or remove the data dir and rejoin")
            }
            let key = try Crypto.randomBytes(AESGCM256.keySize)
            do {
                try FileSystem.makeDirectories(FileSystem.parentDirectory(of: path), mode: 0o700)
                try FileSystem.replaceAtomically(path, with: magic + key, mode: 0o600)
            } catch { throw ioError(error, path) }
            return key
        }
        let bytes: [UInt8]
        do { bytes = try File.openForReading(path).readAll() } catch { throw ioError(error, path) }
        guard bytes.count == magic.count + AESGCM256.keySize, Array(bytes.prefix(magic.count)) == magic else {
            throw StorageError.corruption(path, "the key-encryption key file is damaged")
        }
        return Array(bytes.suffix(AESGCM256.keySize))
    }
}
