import Glibc
import Platform

/// Disk faults injected into this node's Raft storage, off by default: the seam `swarmctl chaos
/// fsync-fail` and friends use. Windows are on the monotonic clock (milliseconds).
///
/// It exists so the production write path is what gets tested: a failed fsync goes through the
/// same sticky-failure handling as a real one (the node stops rather than acknowledge writes
/// that may not be durable), a slow one blocks the node's loop as a slow disk would.
public struct StorageFaults: Sendable, Equatable {
    /// Until then, every fdatasync fails with EIO.
    public var failSyncUntilMillis: UInt64 = 0
    /// Until then, every write fails with ENOSPC.
    public var noSpaceUntilMillis: UInt64 = 0
    /// Until then, every fdatasync first waits this long.
    public var slowSyncMillis: UInt32 = 0
    public var slowSyncUntilMillis: UInt64 = 0

    public init() {}

    public var isEnabled: Bool { self != StorageFaults() }

    /// Throws the injected error for a write at `now`, or waits out an injected slow sync.
    func apply(sync: Bool, now: UInt64) throws {
        if now < noSpaceUntilMillis { throw SystemError("write", "injected fault (chaos)", errno: ENOSPC) }
        guard sync else { return }
        if now < failSyncUntilMillis { throw SystemError("fdatasync", "injected fault (chaos)", errno: EIO) }
        if now < slowSyncUntilMillis && slowSyncMillis > 0 { usleep(slowSyncMillis * 1000) }
    }
}
