import Glibc
import Platform

/// Makes a node's data directory private before anything is read from or written to it.
///
/// It exists because the data dir holds the WAL (join tokens, credentials, task env values),
/// node.json and the executor's bundles: a directory that already existed (made by hand, or by
/// `image import --data-dir`) keeps whatever mode it had, so the node fixes it at EVERY start
/// (init, join, run), refuses a directory another user owns, and warns when a parent directory
/// lets other users replace it.
enum DataDirectory {
    /// chmod 0700 `path`; throws if it is not a directory this process's user owns.
    /// Returns the warnings to log (group- or world-writable parents).
    static func secure(_ path: String) throws -> [String] {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw NodeError("cannot use data dir \(path): \(SystemError("stat", path)): create it or pass another --data-dir")
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw NodeError("data dir \(path) is not a directory: pass a directory to --data-dir")
        }
        guard info.st_uid == geteuid() else {
            throw NodeError("data dir \(path) belongs to uid \(info.st_uid), not to this process's uid \(geteuid()): "
                            + "run the node as its owner, or chown the directory")
        }
        if (info.st_mode & 0o7777) != 0o700, chmod(path, 0o700) != 0 {
            throw NodeError("cannot make data dir \(path) private (chmod 0700): \(SystemError("chmod", path))")
        }
        return writableParents(of: path).map { parent in
            "data dir \(path): its parent \(parent) is writable by other users, who could replace the data dir: "
                + "chmod go-w \(parent), or use a data dir under a directory only its owner can write"
        }
    }

    /// Ancestors of `path` (resolved) that users other than their owner may write to. A sticky
    /// directory owned by root (like /tmp) is not listed: others cannot rename or remove what
    /// they do not own in it.
    static func writableParents(of path: String) -> [String] {
        guard let resolved = realpath(path, nil) else { return [] }
        defer { free(resolved) }
        var current = String(cString: resolved)
        var found: [String] = []
        while current != "/" {
            current = FileSystem.parentDirectory(of: current)
            var info = stat()
            guard stat(current, &info) == 0 else { break }
            let writableByOthers = (info.st_mode & (S_IWGRP | S_IWOTH)) != 0
            let stickyRoot = (info.st_mode & S_ISVTX) != 0 && info.st_uid == 0
            if writableByOthers && !stickyRoot { found.append(current) }
        }
        return found
    }
}
