import Foundation
import Platform

/// Prepares the next WAL segment on a background thread: a temporary file filled with zeros and
/// fsynced, ready to be renamed into place when the current segment is full.
///
/// Zero-filled files were measured here to give 1.7× faster `fdatasync` than appending (no extent
/// or size update per sync), but writing 64 MiB of zeros takes a few hundred milliseconds, which
/// must not stall an append. At most one file is in preparation at a time.
final class SegmentPreallocator: @unchecked Sendable {
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var busy = false
    private var ready: (path: String, error: Error?)?

    /// Creates and zero-fills `path`. In the background, data is flushed every `flushChunk` bytes
    /// so the disk queue never holds tens of megabytes of zeros in front of a concurrent WAL
    /// fdatasync (measured: batch-256 p99 5.2 ms → 1.8 ms); callers that wait use one flush.
    static func prepare(_ path: String, size: Int, flushChunk: Int = .max) throws {
        if FileSystem.exists(path) { try FileSystem.remove(path) }
        let file = try File.create(path)
        var done = 0
        while done < size {
            let length = min(flushChunk, size - done)
            try file.writeZeros(at: done, count: length)
            try file.syncData()
            done += length
        }
    }

    /// True while a file is being prepared or one is waiting to be taken.
    var isPending: Bool {
        condition.lock()
        defer { condition.unlock() }
        return busy || ready != nil
    }

    /// Starts preparing `path` in the background.
    func start(_ path: String, size: Int) {
        condition.lock()
        precondition(!busy && ready == nil, "a segment is already being prepared")
        busy = true
        condition.unlock()
        let thread = Thread { [self] in
            var failure: Error?
            do { try Self.prepare(path, size: size, flushChunk: 256 << 10) } catch { failure = error }
            condition.lock()
            ready = (path, failure)
            busy = false
            condition.broadcast()
            condition.unlock()
        }
        thread.name = "wal-prealloc"
        thread.start()
    }

    /// Waits for the file being prepared and returns its path; nil if none was started. Rethrows
    /// the background failure.
    func take() throws -> String? {
        condition.lock()
        defer { condition.unlock() }
        while busy { condition.wait() }
        guard let done = ready else { return nil }
        ready = nil
        if let error = done.error { throw error }
        return done.path
    }
}
