import CPlatform
import Glibc

/// An open file descriptor with the few operations durable storage needs, each retried on EINTR
/// and looped over partial transfers, so callers never see a short write or a spurious failure.
///
/// It exists because Foundation's `FileHandle` hides `fdatasync`, `pwrite` and `O_CLOEXEC`, and
/// the WAL's correctness depends on exactly those. The descriptor closes when the object dies.
public final class File {
    public let descriptor: Int32
    public let path: String

    private init(descriptor: Int32, path: String) {
        precondition(descriptor >= 0, "invalid descriptor for \(path)")
        self.descriptor = descriptor
        self.path = path
    }

    deinit { _ = Glibc.close(descriptor) }

    /// Opens `path` with `flags` (O_CLOEXEC is always added). A created file is private to its
    /// owner by default (0600): a node's files hold join tokens, credentials and task env values.
    public static func open(_ path: String, flags: Int32, mode: mode_t = 0o600) throws -> File {
        let fd = try retryingEINTR("open", path) { Glibc.open(path, flags | CPLATFORM_O_CLOEXEC, mode) }
        return File(descriptor: fd, path: path)
    }

    /// Opens an existing file for reading only.
    public static func openForReading(_ path: String) throws -> File {
        try open(path, flags: O_RDONLY)
    }

    /// Opens an existing file for reading and writing.
    public static func openForUpdate(_ path: String) throws -> File {
        try open(path, flags: O_RDWR)
    }

    /// Creates `path` (0600 unless told otherwise), failing if it exists.
    public static func create(_ path: String, mode: mode_t = 0o600) throws -> File {
        try open(path, flags: O_RDWR | O_CREAT | O_EXCL, mode: mode)
    }

    /// Opens a directory so it can be fsynced after entries in it were created, renamed or removed.
    public static func openDirectory(_ path: String) throws -> File {
        try open(path, flags: O_RDONLY | CPLATFORM_O_DIRECTORY)
    }

    /// Writes all of `bytes` at `offset`, looping over partial writes.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        var done = 0
        while done < bytes.count {
            let written = try retryingEINTR("pwrite", path) {
                Glibc.pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            }
            precondition(written > 0, "pwrite returned 0 for a non-empty buffer")
            done += written
        }
    }

    public func write(_ bytes: [UInt8], at offset: Int) throws {
        try bytes.withUnsafeBytes { try write($0, at: offset) }
    }

    /// Appends all of `bytes` at the current file position, looping over partial writes.
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let written = try retryingEINTR("write", path) {
                Glibc.write(descriptor, bytes.baseAddress! + done, bytes.count - done)
            }
            precondition(written > 0, "write returned 0 for a non-empty buffer")
            done += written
        }
    }

    /// Writes `count` zero bytes starting at `offset` (preallocation, or scrubbing a repaired tail).
    public func writeZeros(at offset: Int, count: Int, chunk: Int = 1 << 20) throws {
        precondition(offset >= 0 && count >= 0, "negative range")
        let zeros = [UInt8](repeating: 0, count: min(max(count, 1), chunk))
        var done = 0
        try zeros.withUnsafeBytes { buffer in
            while done < count {
                let length = min(buffer.count, count - done)
                try write(UnsafeRawBufferPointer(rebasing: buffer[0..<length]), at: offset + done)
                done += length
            }
        }
    }

    /// Reads exactly `count` bytes at `offset`, or fewer only if the file ends first.
    public func read(count: Int, at offset: Int) throws -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        var done = 0
        try result.withUnsafeMutableBytes { buffer in
            while done < count {
                let got = try retryingEINTR("pread", path) {
                    Glibc.pread(descriptor, buffer.baseAddress! + done, count - done, off_t(offset + done))
                }
                if got == 0 { break }
                done += got
            }
        }
        if done < count { result.removeLast(count - done) }
        return result
    }

    /// The whole file's contents.
    public func readAll() throws -> [UInt8] {
        try read(count: size(), at: 0)
    }

    public func size() throws -> Int {
        var info = stat()
        _ = try retryingEINTR("fstat", path) { fstat(descriptor, &info) }
        return Int(info.st_size)
    }

    public func truncate(to length: Int) throws {
        _ = try retryingEINTR("ftruncate", path) { ftruncate(descriptor, off_t(length)) }
    }

    /// Makes written data durable (metadata only where needed to read it back): the WAL's sync.
    public func syncData() throws {
        _ = try retryingEINTR("fdatasync", path) { fdatasync(descriptor) }
    }

    /// Makes data and all metadata durable: used for directories and snapshot files.
    public func sync() throws {
        _ = try retryingEINTR("fsync", path) { fsync(descriptor) }
    }

    /// Takes an exclusive advisory lock without waiting; false if another process holds it.
    public func tryLockExclusive() throws -> Bool {
        while true {
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return true }
            switch errno {
            case EINTR: continue
            case EWOULDBLOCK: return false
            default: throw SystemError("flock", path)
            }
        }
    }
}

/// Runs a system call until it stops failing with EINTR; any other failure becomes a `SystemError`.
@inline(__always)
public func retryingEINTR<T: BinaryInteger>(_ call: String, _ subject: String, _ body: () -> T) throws -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let code = errno
        if code == EINTR { continue }
        throw SystemError(call, subject, errno: code)
    }
}
