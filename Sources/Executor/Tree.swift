import Glibc
import Platform

/// Removal of container and image trees, which hold symbolic links (often dangling outside their
/// root), overlay whiteout devices and read-only directories.
///
/// It exists because following links while deleting would skip dangling ones (the directory is
/// then not empty) or, worse, walk into the host through an absolute link; this never follows one.
enum Tree {
    /// Removes `path` and everything below it; links are removed, never followed. Missing is fine.
    static func remove(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw SystemError("lstat", path)
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            // A directory the image made unwritable must still be emptied.
            if (info.st_mode & 0o700) != 0o700 { _ = chmod(path, 0o700) }
            for name in try FileSystem.list(path) { try remove("\(path)/\(name)") }
            _ = try retryingEINTR("rmdir", path) { rmdir(path) }
        } else {
            _ = try retryingEINTR("unlink", path) { unlink(path) }
        }
    }

    /// Reads a kernel pseudo-file (/proc, /sys) to its end: they report size 0, so reading by
    /// size (File.readAll) returns nothing.
    static func readPseudoFile(_ path: String, limit: Int = 16 << 20) throws -> [UInt8] {
        let file = try File.openForReading(path)
        var bytes: [UInt8] = []
        while bytes.count < limit {
            let chunk = try file.read(count: 64 << 10, at: bytes.count)
            if chunk.isEmpty { break }
            bytes += chunk
        }
        return bytes
    }
}
