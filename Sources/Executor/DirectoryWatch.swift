import Glibc
import Platform

/// Wakes a waiter when a file in one directory is written or renamed into place (inotify), so
/// waiting for the runtime's pid file costs a wake-up when it appears instead of a wake-up every
/// millisecond.
///
/// It exists because the OCI start path used to poll the pid file every 1 ms: with 50 containers
/// starting at once on 2 cores that was 50,000 wake-ups a second competing with the runtimes it
/// waited for. When inotify is unavailable (out of watches), `wait` sleeps for the interval,
/// which is the old polling at a coarser grain.
final class DirectoryWatch {
    private let descriptor: Int32

    /// Watches `directory` for files closed after writing and files moved in (runc writes its
    /// pid file beside and renames it; crun writes it in place).
    init(directory: String) {
        var descriptor = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        if descriptor >= 0, inotify_add_watch(descriptor, directory, UInt32(IN_CLOSE_WRITE | IN_MOVED_TO)) < 0 {
            _ = close(descriptor)
            descriptor = -1
        }
        self.descriptor = descriptor
    }

    deinit {
        if descriptor >= 0 { _ = close(descriptor) }
    }

    /// Returns when something changed in the directory or after `millis`, whichever comes first.
    func wait(millis: Int32) {
        guard descriptor >= 0 else {
            _ = poll(nil, 0, millis)
            return
        }
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, millis) > 0 else { return }
        // Drain the events: only "something happened" matters, the caller looks for itself.
        var buffer = [UInt8](repeating: 0, count: 4096)
        while buffer.withUnsafeMutableBytes({ read(descriptor, $0.baseAddress, $0.count) }) > 0 {}
    }
}
