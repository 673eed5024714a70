import Glibc
import Platform

/// The host side of a task's secrets and configs: a directory outside the node's data directory
/// holding one file per `TaskFile`, removed when the task ends.
///
/// It exists so secret data never touches the node's disk: for the OCI backend the directory is
/// its own tmpfs (`nosuid,nodev,noexec`, mode 0700, sized to the files), from which each file is
/// bound read-only into the container; for the process backend (which may run unprivileged and
/// cannot mount) it is a mode-0700 directory in /dev/shm, itself a tmpfs.
final class TaskFilesDirectory: @unchecked Sendable {
    /// The directory; gone after `release`.
    let path: String
    /// Host path of each file, in the order of the spec's `files`.
    let hostPaths: [String]
    private let mounted: Bool
    private let lock = ConditionLock()
    private var released = false

    /// Writes `files` into a new directory `path` (made with mode 0700; a tmpfs is mounted on it
    /// when `mountTmpfs`). Files are named by position, so a target's path never matters here.
    init(path: String, files: [TaskFile], mountTmpfs: Bool, names: [String]? = nil) throws {
        precondition(names == nil || names!.count == files.count, "one name per file")
        self.path = path
        try FileSystem.makeDirectories(FileSystem.parentDirectory(of: path))
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
            throw ExecutorError.filesFailed("cannot create \(path): \(SystemError("mkdir"))")
        }
        if mountTmpfs {
            let bytes = files.reduce(0) { $0 + $1.data.count }
            // Whole pages per file, plus room for the directory itself.
            let size = max(64 << 10, files.count * 4096 + bytes * 2)
            let flags = UInt(MS_NOSUID) | UInt(MS_NODEV) | UInt(MS_NOEXEC)
            guard mount("tmpfs", path, "tmpfs", flags, "mode=0700,size=\(size)") == 0 else {
                let error = SystemError("mount tmpfs")
                _ = rmdir(path)
                throw ExecutorError.filesFailed("cannot mount a tmpfs for the task's secrets at \(path): \(error)")
            }
        }
        mounted = mountTmpfs
        var paths: [String] = []
        do {
            for (index, file) in files.enumerated() {
                let hostPath = "\(path)/\(names?[index] ?? String(index))"
                try Self.write(file, to: hostPath)
                paths.append(hostPath)
            }
        } catch {
            if mountTmpfs { _ = umount2(path, Int32(MNT_DETACH)) }
            try? FileSystem.removeTree(path)
            throw error
        }
        hostPaths = paths
    }

    private static func write(_ file: TaskFile, to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw ExecutorError.filesFailed("cannot create \(path): \(SystemError("open"))") }
        defer { close(descriptor) }
        var written = 0
        while written < file.data.count {
            let count = file.data.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + written, file.data.count - written) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw ExecutorError.filesFailed("cannot write \(path): \(SystemError("write"))") }
            written += count
        }
        // Owner first: chown clears set-id bits, and only root may give a file away (an
        // unprivileged node keeps its own files, which its tasks run as anyway).
        if getuid() == 0 { _ = fchown(descriptor, file.uid, file.gid) }
        guard fchmod(descriptor, file.mode & 0o777) == 0 else {
            throw ExecutorError.filesFailed("cannot set the mode of \(path): \(SystemError("fchmod"))")
        }
    }

    /// Unmounts the tmpfs (its memory is freed with it) and removes the directory. Idempotent.
    func release() {
        let first = lock.withLock { () -> Bool in
            defer { released = true }
            return !released
        }
        guard first else { return }
        if mounted { _ = umount2(path, Int32(MNT_DETACH)) }
        try? FileSystem.removeTree(path)
    }

    /// Unmounts and removes every entry of `root` not in `keep` (leftovers of a crashed node).
    static func removeLeftovers(in root: String, keep: Set<String>) {
        guard let names = try? FileSystem.list(root) else { return }
        for name in names where !keep.contains(name) {
            _ = umount2("\(root)/\(name)", Int32(MNT_DETACH))
            try? FileSystem.removeTree("\(root)/\(name)")
        }
    }
}
