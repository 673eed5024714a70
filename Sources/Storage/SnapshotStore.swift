import Platform
import Raft
import Wire

/// A snapshot file on disk, named `%016x-%016x.snap` (term, index) as etcd does.
struct SnapshotFile: Equatable, Sendable {
    let term: UInt64
    let index: UInt64
    let path: String

    static func name(term: UInt64, index: UInt64) -> String { hex16(term) + "-" + hex16(index) + ".snap" }

    static func parse(name: String, directory: String) -> SnapshotFile? {
        guard name.hasSuffix(".snap") else { return nil }
        let parts = name.dropLast(5).split(separator: "-")
        guard parts.count == 2, parts[0].count == 16, parts[1].count == 16,
              let term = UInt64(parts[0], radix: 16), let index = UInt64(parts[1], radix: 16)
        else { return nil }
        return SnapshotFile(term: term, index: index, path: directory + "/" + name)
    }
}

/// Snapshot files under `DATA/raft/snap/`: each written to a temporary file, fsynced, renamed into
/// place and made durable with a directory fsync, so a crash leaves either the old set or the new
/// set, never a half-written snapshot under a final name.
///
/// File format: a 24-byte header (magic "SWSN", version, payload length, payload CRC-32C, header
/// CRC-32C) followed by the payload: the snapshot's wire encoding (version 1, encryption at rest
/// disabled) or its `SealedPayload` (version 2), bound to the file's term and index. The CRCs cover
/// the stored bytes (a flipped byte is found without decrypting); a valid CRC with a failed
/// authentication is deliberate tampering. Either refuses start-up (see `Recovery`).
final class SnapshotStore {
    static let magic: UInt32 = 0x4E53_5753  // "SWSN"
    static let plaintextVersion: UInt32 = 1
    static let encryptedVersion: UInt32 = 2
    static let headerSize = 24

    let directory: String
    /// Seals and opens snapshot payloads; nil when encryption at rest is disabled. Set once by
    /// `RaftStorage.open` after it knows whether the data dir is new.
    var keys: DataKeyRing?
    /// Intact-looking files by name, oldest first (contents are checked when loaded).
    private(set) var files: [SnapshotFile]

    init(directory: String, keys: DataKeyRing?) throws {
        self.directory = directory
        self.keys = keys
        for name in try FileSystem.list(directory) where name.hasSuffix(".tmp") {
            try FileSystem.remove(directory + "/" + name)
        }
        files = try FileSystem.list(directory).compactMap { SnapshotFile.parse(name: $0, directory: directory) }
            .sorted { ($0.index, $0.term) < ($1.index, $1.term) }
    }

    /// Writes `snapshot` durably and returns its file.
    func save(_ snapshot: Snapshot) throws -> SnapshotFile {
        let meta = snapshot.metadata
        let final = SnapshotFile(term: meta.term, index: meta.index,
                                 path: directory + "/" + SnapshotFile.name(term: meta.term, index: meta.index))
        let temporary = final.path + ".tmp"
        do {
            if FileSystem.exists(temporary) { try FileSystem.remove(temporary) }
            let file = try File.create(temporary)
            try file.write(Self.encode(snapshot, keys: keys), at: 0)
            try file.sync()
            try FileSystem.rename(temporary, to: final.path)
            try FileSystem.syncDirectory(directory)
        } catch {
            throw ioError(error, temporary)
        }
        files.removeAll { $0.path == final.path }
        files.append(final)
        files.sort { ($0.index, $0.term) < ($1.index, $1.term) }
        return final
    }

    /// Reads and checks one snapshot file.
    func load(_ file: SnapshotFile) throws -> Snapshot {
        let bytes: [UInt8]
        do { bytes = try File.openForReading(file.path).readAll() } catch { throw ioError(error, file.path) }
        let snapshot = try Self.decode(bytes, path: file.path, term: file.term, index: file.index, keys: keys)
        guard snapshot.metadata.index == file.index, snapshot.metadata.term == file.term else {
            throw StorageError.corruption(file.path, "snapshot contents are for index \(snapshot.metadata.index), term \(snapshot.metadata.term)")
        }
        return snapshot
    }

    /// Deletes `file` (an orphan or a snapshot beyond the retention count).
    func remove(_ file: SnapshotFile) throws {
        do { try FileSystem.remove(file.path) } catch { throw ioError(error, file.path) }
        files.removeAll { $0 == file }
    }

    /// Keeps the newest `count` files, deleting the rest.
    func prune(keeping count: Int) throws {
        precondition(count >= 1, "must keep at least one snapshot")
        guard files.count > count else { return }
        for file in files.prefix(files.count - count) { try remove(file) }
        do { try FileSystem.syncDirectory(directory) } catch { throw ioError(error, directory) }
    }

    static func encode(_ snapshot: Snapshot, keys: DataKeyRing?) throws -> [UInt8] {
        let plaintext = snapshot.wireBytes()
        let length = plaintext.count + (keys == nil ? 0 : SealedPayload.overhead)
        var writer = WireWriter(capacity: headerSize + length)
        writer.writeUInt32(magic)
        writer.writeUInt32(keys == nil ? plaintextVersion : encryptedVersion)
        writer.writeUInt64(UInt64(length))
        var stored: [UInt8] = []
        if let keys {
            stored.reserveCapacity(length)
            let header = writer.bytes[0..<16]
            let meta = snapshot.metadata
            try plaintext.withUnsafeBytes { raw in
                try SealedPayload.seal(raw, keys: keys, associatedData: SealedPayload.snapshotContext(
                    header: header, term: meta.term, index: meta.index, keyID: keys.currentID), appendingTo: &stored)
            }
        } else {
            stored = plaintext
        }
        writer.writeUInt32(CRC32C.checksum(stored))
        writer.writeUInt32(CRC32C.checksum(writer.bytes))
        writer.writeRaw(stored)
        return writer.bytes
    }

    static func decode(_ bytes: [UInt8], path: String, term: UInt64, index: UInt64, keys: DataKeyRing?) throws -> Snapshot {
        func damaged(_ why: String, at offset: Int = 0) -> StorageError { StorageError.corruption(path, at: offset, "snapshot file \(why)") }
        guard bytes.count >= headerSize else { throw damaged("is shorter than its header") }
        var reader = WireReader(bytes)
        do {
            guard try reader.readUInt32() == magic else { throw damaged("has a bad magic number") }
            let version = try reader.readUInt32()
            guard version == plaintextVersion || version == encryptedVersion else { throw damaged("has an unknown version") }
            let length = try reader.readUInt64()
            let payloadCRC = try reader.readUInt32()
            let headerCRC = try reader.readUInt32()
            guard headerCRC == CRC32C.checksum(bytes[0..<20]) else { throw damaged("header (bytes 0..<\(headerSize)) fails its CRC-32C") }
            guard length == UInt64(bytes.count - headerSize) else { throw damaged("has the wrong length") }
            guard payloadCRC == CRC32C.checksum(bytes[headerSize...]) else {
                throw damaged("payload (bytes \(headerSize)..<\(bytes.count)) fails its CRC-32C: it was altered after it was written", at: headerSize)
            }
            guard (version == encryptedVersion) == (keys != nil) else {
                throw StorageError(.corruption, file: path, offset: 4, version == encryptedVersion
                    ? "snapshot file is encrypted at rest but the storage was opened with encryption disabled"
                    : "snapshot file was written without encryption at rest (an older swarmctl); remove DATA/raft and DATA/keys and rejoin",
                    failedAuthentication: true)
            }
            return try Snapshot(wireBytes: try payload(bytes, path: path, term: term, index: index, keys: keys))
        } catch let error as StorageError {
            throw error
        } catch {
            throw damaged("cannot be decoded: \(error)")
        }
    }

    private static func payload(_ bytes: [UInt8], path: String, term: UInt64, index: UInt64, keys: DataKeyRing?) throws -> [UInt8] {
        guard let keys else { return Array(bytes[headerSize...]) }
        let header = bytes[0..<16]
        do {
            return try bytes.withUnsafeBytes { raw throws(SealedPayload.Failure) in
                try SealedPayload.open(UnsafeRawBufferPointer(rebasing: raw[headerSize...]), keys: keys) {
                    SealedPayload.snapshotContext(header: header, term: term, index: index, keyID: $0)
                }
            }
        } catch {
            throw StorageError(.corruption, file: path, offset: headerSize, "snapshot \(error)", failedAuthentication: true)
        }
    }

    /// The data key id an encrypted snapshot file was sealed under (nil if unreadable or plaintext).
    func keyID(of file: SnapshotFile) -> UInt32? {
        guard let bytes = try? File.openForReading(file.path).read(count: Self.headerSize + 4, at: 0),
              bytes.count == Self.headerSize + 4, RecordReader.loadUInt32(bytes, 4) == Self.encryptedVersion
        else { return nil }
        return RecordReader.loadUInt32(bytes, Self.headerSize)
    }
}
