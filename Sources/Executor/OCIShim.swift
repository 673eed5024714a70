import Glibc
import Platform

/// The OCI backend's shim is the shared `TaskShim` (without `ownsGroup`: its signals go through
/// `runc kill`, never to the shim's group).
typealias OCIShim = TaskShim

extension TaskShim {
    /// Whether `path` is the root of a mount (the overlay of an adopted container, to unmount on removal).
    static func isMountPoint(_ path: String) -> Bool {
        var own = stat()
        var parent = stat()
        guard stat(path, &own) == 0, stat(FileSystem.parentDirectory(of: path), &parent) == 0 else { return false }
        return own.st_dev != parent.st_dev
    }
}
