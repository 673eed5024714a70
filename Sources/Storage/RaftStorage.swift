import Glibc
import Platform
import Raft

/// The durable half of a Raft node: a segmented, CRC-chained write-ahead log under
/// `DATA/raft/wal/` and snapshot files under `DATA/raft/snap/`.
///
/// It exists so the node shell can honour the `Ready` contract with real disks: what Raft says must
/// be durable is on disk, with one `fdatasync` per batch (group commit), before any message that
/// depends on it is sent; and after a crash, `open` hands back exactly what was durable.
///
/// Ordering rules (see `save(_:)`): snapshot file, then WAL snapshot marker, then entries, then
/// hard state; compaction only after the snapshot and hard state are durable. Not thread-safe:
/// one owner (the node's storage worker) calls it.
///
/// Encryption at rest (`Options.encryption`, on by default): WAL records and snapshot files are
/// AES-256-GCM sealed under data keys kept wrapped in `DATA/keys/` (see `DataKeyRing`,
/// `SealedPayload`, `ManagerKeyLock`). A new data key is made current at every snapshot; old ones
/// are dropped at compaction once no remaining file uses them. Data written before encryption at
/// rest (format 1) is refused, not migrated: the node is rejoined and receives a snapshot.
public final class RaftStorage {
    /// Tunables; the defaults are the production values.
    public struct Options: Sendable {
        /// A segment is cut once the next batch would pass this size (64 MiB, as etcd).
        public var segmentSize: Int
        /// Entries kept in the WAL before the newest snapshot, for slow followers (500, as SwarmKit).
        public var retainedEntries: UInt64
        /// Snapshot files kept; older ones are deleted after a new one is durable.
        public var keptSnapshots: Int

        /// Encryption at rest of WAL records and snapshots (on by default).
        public var encryption: Encryption

        public init(segmentSize: Int = 64 << 20, retainedEntries: UInt64 = 500, keptSnapshots: Int = 3,
                    encryption: Encryption = .dataDirectoryKey) {
            precondition(segmentSize >= 4096, "segment size below 4 KiB")
            precondition(keptSnapshots >= 2, "keep at least two snapshots so a corrupt one has a fallback")
            self.segmentSize = segmentSize
            self.retainedEntries = retainedEntries
            self.keptSnapshots = keptSnapshots
            self.encryption = encryption
        }
    }

    /// Where the key that wraps the data keys (the KEK) comes from.
    ///
    /// Every WAL record after a segment's header and every snapshot file is AES-256-GCM encrypted
    /// under a data key (`DATA/keys/raft-deks`, rotated at each snapshot); the data keys are
    /// stored wrapped under the KEK.
    public enum Encryption: Sendable {
        /// The KEK is 32 random bytes in `DATA/keys/raft-kek` (0600), created with the WAL: the data
        /// at rest is unreadable without the keys directory (Docker Swarm without autolock).
        case dataDirectoryKey
        /// The caller supplies the KEK and it is never stored (autolock: unwrapped with the
        /// operator's unlock key).
        case keyEncryptionKey([UInt8])
        /// Plaintext records and snapshots (segment and snapshot format 1). Only for measuring what
        /// encryption costs (`wal-bench --compare-encryption`); a data dir written one way refuses
        /// to open the other way.
        case disabled
    }

    public let dataDirectory: String
    public let options: Options
    private let logger: StorageLogger
    private let lock: File
    private let wal: WALWriter
    private let snapshots: SnapshotStore
    /// The data keys (nil with encryption disabled).
    let keys: DataKeyRing?
    /// The first write failure. A failed fdatasync may have dropped dirty pages, and retrying it
    /// can report success without the data (the "fsyncgate" lesson), so after any failure every
    /// write throws this error again: the node must stop and reopen (recover) from disk.
    private var failure: StorageError?
    /// Injected disk faults (chaos); none by default.
    public var faults = StorageFaults()

    /// The directory holding everything Raft persists for the node at `dataDirectory` (WAL,
    /// snapshots, lock): what a demoted manager removes.
    public static func directory(in dataDirectory: String) -> String { Paths(dataDirectory).raft }

    /// Opens (creating if absent) the Raft storage in `dataDirectory` and recovers its state:
    /// the hard state, the newest usable snapshot, and the entries after it. A torn WAL tail is
    /// repaired (and logged); anything else that does not fit throws `StorageError.corruption`.
    public static func open(dataDirectory: String, options: Options = Options(),
                            logger: StorageLogger = .standardError) throws -> (RaftStorage, PersistentState) {
        let paths = Paths(dataDirectory)
        do {
            try FileSystem.makeDirectories(paths.wal)
            try FileSystem.makeDirectories(paths.snap)
        } catch { throw ioError(error, paths.raft) }
        let lock = try takeLock(paths.lock)
        let snapshots: SnapshotStore
        do { snapshots = try SnapshotStore(directory: paths.snap, keys: nil) } catch { throw ioError(error, paths.snap) }
        let segments: [SegmentFile]
        do {
            for name in try FileSystem.list(paths.wal) where name.hasSuffix(".tmp") {
                try FileSystem.remove(paths.wal + "/" + name)
            }
            segments = try SegmentFile.list(in: paths.wal)
        } catch { throw ioError(error, paths.wal) }
        if segments.isEmpty {
            return try create(paths, options: options, logger: logger, lock: lock, snapshots: snapshots)
        }
        if case .disabled = options.encryption {} else { try refuseUnencrypted(segments[0]) }
        let keys = try loadKeys(paths, options.encryption)
        snapshots.keys = keys
        let scan = try WALReader(logger: logger, keys: keys).scan(segments)
        let chosen = try Recovery(logger: logger, snapshots: snapshots, replay: scan.replay).choose()
        try checkCommit(chosen.state, scan.tail.segment.path)
        let wal: WALWriter
        do {
            wal = try WALWriter(directory: paths.wal, segmentSize: options.segmentSize, scan: scan,
                                lastIndex: scan.replay.lastIndex, latestMarker: chosen.latestMarker, keys: keys)
        } catch { throw ioError(error, scan.tail.segment.path) }
        let storage = RaftStorage(dataDirectory, options, logger, lock, wal, snapshots, keys)
        return (storage, chosen.state)
    }

    private init(_ dataDirectory: String, _ options: Options, _ logger: StorageLogger, _ lock: File,
                 _ wal: WALWriter, _ snapshots: SnapshotStore, _ keys: DataKeyRing?) {
        self.keys = keys
        self.dataDirectory = dataDirectory
        self.options = options
        self.logger = logger
        self.lock = lock
        self.wal = wal
        self.snapshots = snapshots
    }

    private static func create(_ paths: Paths, options: Options, logger: StorageLogger, lock: File,
                               snapshots: SnapshotStore) throws -> (RaftStorage, PersistentState) {
        guard snapshots.files.isEmpty else {
            throw StorageError.corruption(paths.wal, "the WAL is missing but \(snapshots.files.count) snapshot file(s) exist in \(paths.snap)")
        }
        let keys: DataKeyRing?
        switch options.encryption {
        case .disabled: keys = nil
        case .dataDirectoryKey:
            let kek = try StoredKeyEncryptionKey.loadOrCreate(dataDirectory: paths.data, create: true)
            keys = try DataKeyRing.create(path: DataKeyRing.path(in: paths.data), kek: kek)
        case let .keyEncryptionKey(kek):
            keys = try DataKeyRing.create(path: DataKeyRing.path(in: paths.data), kek: kek)
        }
        snapshots.keys = keys
        let wal: WALWriter
        do { wal = try WALWriter(creatingIn: paths.wal, segmentSize: options.segmentSize, keys: keys) } catch { throw ioError(error, paths.wal) }
        return (RaftStorage(paths.data, options, logger, lock, wal, snapshots, keys), PersistentState())
    }

    /// A WAL from before encryption at rest is refused before anything looks for keys (which it
    /// never had), so the message says what is wrong and what to do.
    private static func refuseUnencrypted(_ segment: SegmentFile) throws {
        guard let bytes = try? File.openForReading(segment.path).read(count: 24, at: 0), bytes.count == 24,
              RecordReader.loadUInt32(bytes, 16) == SegmentHeader.magic,
              RecordReader.loadUInt32(bytes, 20) == SegmentHeader.plaintextVersion
        else { return }  // anything else is judged by the reader
        throw StorageError.corruption(segment.path, at: 0, SegmentHeader.unencryptedRefusal)
    }

    /// The data keys of an existing WAL (nil with encryption disabled).
    private static func loadKeys(_ paths: Paths, _ encryption: Encryption) throws -> DataKeyRing? {
        let kek: [UInt8]
        switch encryption {
        case .disabled: return nil
        case .dataDirectoryKey: kek = try StoredKeyEncryptionKey.loadOrCreate(dataDirectory: paths.data, create: false)
        case let .keyEncryptionKey(key): kek = key
        }
        return try DataKeyRing.load(path: DataKeyRing.path(in: paths.data), kek: kek)
    }

    private static func takeLock(_ path: String) throws -> File {
        do {
            let file = try File.open(path, flags: O_RDWR | O_CREAT)
            if try file.tryLockExclusive() { return file }
        } catch { throw ioError(error, path) }
        throw StorageError(.locked, file: path, "another process has this data directory open")
    }

    private static func checkCommit(_ state: PersistentState, _ path: String) throws {
        let last = state.entries.last?.index ?? state.snapshot.metadata.index
        guard state.hardState.commit <= last else {
            throw StorageError.corruption(path, "hard state commit \(state.hardState.commit) is beyond the last durable entry \(last)")
        }
    }

    // MARK: Writing

    /// Persists one `Ready` batch in the contract's order: snapshot (file, then WAL marker, both
    /// durable), then entries, then hard state, with one fdatasync if `ready.mustSync`. After this
    /// returns, the batch's messages may be sent.
    public func save(_ ready: Ready) throws {
        if let snapshot = ready.snapshot, !snapshot.isEmpty {
            try saveSnapshot(snapshot, replacingLog: true)
        }
        try append(entries: ready.entries, hardState: ready.hardState, sync: ready.mustSync)
    }

    /// Appends `entries` (the first one replaces any persisted entry at its index or later) and
    /// then `hardState`, as one batch with at most one fdatasync (group commit).
    public func append(entries: [Entry], hardState: HardState?, sync: Bool) throws {
        try guarded {
            if faults.isEnabled { try faults.apply(sync: sync, now: monotonicNanoseconds() / 1_000_000) }
            try wal.append(entries: entries, hardState: hardState, sync: sync)
        }
    }

    /// Makes the snapshot durable: the file first (temp, fsync, rename, directory fsync), then a
    /// WAL marker, fdatasynced. `replacingLog` is true for a snapshot received from the leader
    /// (the log is discarded) and false for one this node took of its own applied state.
    public func saveSnapshot(_ snapshot: Snapshot, replacingLog: Bool = false) throws {
        let meta = snapshot.metadata
        precondition(meta.index >= (snapshots.files.last?.index ?? 0), "snapshot \(meta.index) is older than one already saved")
        try guarded {
            try keys?.rotate()
            _ = try snapshots.save(snapshot)
            try wal.appendMarker(SnapshotMarker(index: meta.index, term: meta.term, replacesLog: replacingLog))
            try snapshots.prune(keeping: options.keptSnapshots)
        }
    }

    /// Makes everything appended so far durable.
    public func sync() throws {
        try guarded { try wal.sync() }
    }

    /// Deletes WAL segments that hold only entries older than both the newest snapshot's index
    /// minus `retainedEntries` and the previous snapshot's index (so a damaged newest snapshot can
    /// still fall back). Syncs the hard state before deleting anything.
    @discardableResult
    public func compact() throws -> Int {
        let kept = snapshots.files
        guard let newest = kept.last else { return 0 }
        var floor = newest.index > options.retainedEntries ? newest.index - options.retainedEntries : 0
        if kept.count >= 2 { floor = min(floor, kept[kept.count - 2].index) }
        return try guarded {
            let removed = try wal.removeSegments(keepingFrom: floor).count
            try pruneKeys()
            return removed
        }
    }

    /// Forgets data keys that no remaining segment or snapshot file was written under. A file
    /// whose key id cannot be read keeps every key.
    private func pruneKeys() throws {
        guard let keys, let oldestSegment = wal.segments.first else { return }
        var used: [UInt32] = []
        for file in snapshots.files {
            guard let id = snapshots.keyID(of: file) else { return }
            used.append(id)
        }
        guard let segmentKey = Self.firstKeyID(of: oldestSegment) else { return }
        used.append(segmentKey)
        try keys.prune(keepingFrom: used.min()!)
    }

    /// The key id of a segment's first sealed record (the hard state right after the header).
    private static func firstKeyID(of segment: SegmentFile) -> UInt32? {
        let offset = RecordLayout.size(payload: SegmentHeader.encodedSize) + RecordLayout.headerSize
        guard let bytes = try? File.openForReading(segment.path).read(count: 4, at: offset), bytes.count == 4 else { return nil }
        return RecordReader.loadUInt32(bytes, 0)
    }

    private func guarded<T>(_ body: () throws -> T) throws -> T {
        if let failure { throw failure }
        do {
            return try body()
        } catch {
            let storageError = ioError(error, dataDirectory)
            failure = storageError
            throw storageError
        }
    }

    /// Index of the last entry written (or of the snapshot that replaced the log).
    public var lastIndex: UInt64 { wal.lastIndex }

    /// fdatasync calls made for appended batches since open (group commit: at most one per batch).
    var batchSyncCount: Int { wal.batchSyncCount }

    /// Names of the WAL segment files currently in use, oldest first (for diagnostics and tests).
    public var segmentNames: [String] { wal.segments.map(\.name) }
}

/// The data directory's layout.
struct Paths {
    let data: String
    var raft: String { data + "/raft" }
    var keys: String { data + "/keys" }
    var wal: String { raft + "/wal" }
    var snap: String { raft + "/snap" }
    var lock: String { raft + "/lock" }

    init(_ data: String) { self.data = data }
}
