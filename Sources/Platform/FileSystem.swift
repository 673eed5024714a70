import Glibc

/// Directory-level operations with the durability steps spelled out: a created, renamed or removed
/// name is only durable once its parent directory is fsynced (etcd #6368), so every helper that
/// changes a directory says whether it syncs.
public enum FileSystem {
    /// Names in `directory` (without "." and ".."), sorted.
    public static func list(_ directory: String) throws -> [String] {
        try list(directory, followingLink: true)
    }

    private static func list(_ directory: String, followingLink: Bool) throws -> [String] {
        let flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (followingLink ? 0 : O_NOFOLLOW)
        let descriptor = open(directory, flags)
        guard descriptor >= 0 else { throw SystemError("open", directory) }
        guard let handle = fdopendir(descriptor) else {
            let error = SystemError("fdopendir", directory)
            close(descriptor)
            throw error
        }
        defer { closedir(handle) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(handle) else {
                if errno != 0 { throw SystemError("readdir", directory) }
                break
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates `path` and any missing parents, fsyncing each parent whose entries changed.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
        if isDirectory(path) { return }
        let parent = parentDirectory(of: path)
        if parent != path { try makeDirectories(parent, mode: mode) }
        if mkdir(path, mode) != 0 && errno != EEXIST { throw SystemError("mkdir", path) }
        try syncDirectory(parent)
    }

    /// fsync(2) on a directory: makes creations, renames and removals in it durable.
    /// Replaces the file at `path` with `bytes`, all or nothing: a fresh temporary file (a stale
    /// one from a crash is removed first, so it never blocks later writes) is written with `mode`,
    /// fsynced, renamed over `path`, and the directory fsynced. Every failure is thrown.
    public static func replaceAtomically(_ path: String, with bytes: [UInt8], mode: mode_t = 0o600) throws {
        let temporary = path + ".tmp"
        try? remove(temporary)  // absent normally; if it cannot go, the exclusive create below says why
        let file = try File.create(temporary, mode: mode)
        do {
            try file.write(bytes, at: 0)
            try file.sync()
        } catch {
            try? remove(temporary)
            throw error
        }
        try rename(temporary, to: path)
        try syncDirectory(parentDirectory(of: path))
    }

    public static func syncDirectory(_ path: String) throws {
        try File.openDirectory(path).sync()
    }

    /// Atomically replaces `to` with `from` (same file system). Not durable until the directory
    /// is synced.
    public static func rename(_ from: String, to: String) throws {
        _ = try retryingEINTR("rename", "\(from) -> \(to)") { Glibc.rename(from, to) }
    }

    /// Removes a file. Not durable until the directory is synced.
    public static func remove(_ path: String) throws {
        _ = try retryingEINTR("unlink", path) { unlink(path) }
    }

    /// Removes a directory tree. Symbolic links are removed, never followed: a link to a
    /// directory outside the tree (or a dangling one) must not take what it points to, even if it
    /// replaces a directory while the removal runs (the directory is opened with O_NOFOLLOW).
    public static func removeTree(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw SystemError("lstat", path)
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in try list(path, followingLink: false) { try removeTree(path + "/" + name) }
            _ = try retryingEINTR("rmdir", path) { rmdir(path) }
        } else {
            try remove(path)
        }
    }

    /// A fresh, private directory under `base` (default $TMPDIR or /tmp).
    public static func makeTemporaryDirectory(prefix: String, base: String? = nil) throws -> String {
        let root = base ?? (getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp")
        var template = Array((root + "/" + prefix + "XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { throw SystemError("mkdtemp", root) }
        return template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// The target of a symbolic link (e.g. /proc/self/exe: this executable's path).
    public static func readLink(_ path: String) throws -> String {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = buffer.withUnsafeMutableBytes { raw in
            readlink(path, raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count - 1)
        }
        guard count > 0 else { throw SystemError("readlink", path) }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }

    public static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }
}
