import ClusterState
import Dispatch
import Foundation
import Raft

/// Decodes the commands a follower receives on a thread of its own while the entries are being
/// persisted, so the apply on the loop usually finds them decoded.
///
/// It exists because a manager did all of a write's work on its one event-loop thread, and on a
/// machine shared with other work a process gets about one runnable thread's share of the cores
/// (issue 15: our managers used half the CPU etcd's did in the same runs, at a lower CPU cost per
/// write). Decoding a committed entry was the largest single cost left on a follower's loop.
/// A result is keyed by index and term, which name one entry (Raft's log matching), and decoding
/// is a pure function of the bytes, so a result that arrives late is simply not used.
final class EntryPredecoder: @unchecked Sendable {
    /// Decoded results kept at most; beyond it, those at or below the applied index are dropped
    /// (entries a snapshot skipped are never taken).
    static let limit = 10_000

    private let queue = DispatchQueue(label: "swarmctl-entry-decoder", qos: .userInitiated)
    private let lock = NSLock()
    private var decoded: [UInt64: (term: UInt64, command: ClusterCommand)] = [:]
    private var appliedThrough: UInt64 = 0

    /// Decodes `entries`' normal entries in the background (in order, one batch at a time).
    func decodeAhead(_ entries: [Entry]) {
        guard !entries.isEmpty else { return }
        queue.async { [self] in
            for entry in entries {
                guard let command = try? CommandCodec.decode(entry.data) else { continue }
                lock.lock()
                if decoded.count >= Self.limit { decoded = decoded.filter { $0.key > appliedThrough } }
                // Still full (far ahead of the applies, or truncated entries): skip; the apply
                // decodes that entry itself.
                if entry.index > appliedThrough && decoded.count < Self.limit { decoded[entry.index] = (entry.term, command) }
                lock.unlock()
            }
        }
    }

    /// The command decoded ahead for `entry` if it is ready; `entry` counts as applied either way.
    func take(_ entry: Entry) -> ClusterCommand? {
        lock.lock()
        defer { lock.unlock() }
        appliedThrough = max(appliedThrough, entry.index)
        guard let found = decoded.removeValue(forKey: entry.index), found.term == entry.term else { return nil }
        return found.command
    }

    /// Everything up to `index` is applied (a snapshot was installed): results for it are dropped.
    func skip(through index: UInt64) {
        lock.lock()
        appliedThrough = max(appliedThrough, index)
        decoded = decoded.filter { $0.key > appliedThrough }
        lock.unlock()
    }

    /// The results kept now (tests).
    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return decoded.count
    }
}
