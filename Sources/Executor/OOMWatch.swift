import CPlatform
import Glibc
import Platform

/// Counts the OOM kills of a container whose runtime deletes its cgroups when it exits (crun
/// before 1.9 has no `run --keep`), through cgroup v1 memory notifications that outlive the cgroup.
///
/// It exists because the OOM counter (`memory.oom_control`) is gone by the time the executor
/// looks, so an OOM kill would be reported as a plain exit 137. The watch makes the container's
/// memory cgroup before the runtime starts (the runtime uses it as it is) and registers two
/// eventfds in `cgroup.event_control`: one for OOM notifications, one for a usage threshold no
/// container reaches. The kernel signals both once more when the cgroup is removed, so once the
/// second has fired (the removal arrived), the first's count minus the second's is the number of
/// OOM notifications. cgroup v1 only (v2 has no `cgroup.event_control`).
final class OOMWatch: @unchecked Sendable {
    private let directory: String
    private let oomEvents: Int32
    private let removalEvents: Int32
    private var descriptors: [Int32]

    /// Whether this host's cgroup layout lets the watch work (a v1 memory hierarchy).
    static var isSupported: Bool {
        !Cgroups.isUnified && FileSystem.exists("\(Cgroups.mountPoint)/memory/cgroup.event_control")
    }

    /// Makes the memory cgroup at `cgroupsPath` and registers the notifications; nil where the
    /// layout has no v1 memory hierarchy or a step fails (the exit is then reported without the
    /// OOM reason, as before).
    init?(cgroupsPath: String) {
        guard Self.isSupported else { return nil }
        directory = "\(Cgroups.mountPoint)/memory\(cgroupsPath)"
        // mkdir one level at a time (FileSystem.makeDirectories fsyncs, which cgroupfs refuses).
        var made = "\(Cgroups.mountPoint)/memory"
        for part in cgroupsPath.split(separator: "/") {
            made += "/\(part)"
            guard mkdir(made, 0o755) == 0 || errno == EEXIST else { return nil }
        }
        let oom = cplatform_eventfd()
        let removal = cplatform_eventfd()
        let control = Glibc.open("\(directory)/memory.oom_control", O_RDONLY | CPLATFORM_O_CLOEXEC)
        let usage = Glibc.open("\(directory)/memory.usage_in_bytes", O_RDONLY | CPLATFORM_O_CLOEXEC)
        oomEvents = oom
        removalEvents = removal
        descriptors = [oom, removal, control, usage]
        guard !descriptors.contains(where: { $0 < 0 }),
              Self.register("\(oom) \(control)", in: directory),
              Self.register("\(removal) \(usage) \(Int64.max / 2)", in: directory) else {
            _ = rmdir(directory)  // the container's own cgroup, made above and still empty
            return nil
        }
    }

    deinit {
        for descriptor in descriptors where descriptor >= 0 { close(descriptor) }
    }

    /// Removes the cgroup if the runtime left it (a start that failed early); nothing otherwise.
    func release() {
        _ = rmdir(directory)
    }

    private static func register(_ line: String, in directory: String) -> Bool {
        guard let file = try? File.open("\(directory)/cgroup.event_control", flags: O_WRONLY) else { return false }
        return (try? file.write(Array(line.utf8), at: 0)) != nil
    }

    /// Whether the container was OOM-killed: waits up to `timeoutMillis` for the kernel to report
    /// the cgroup's removal (it does so shortly after the runtime deleted it), then compares the
    /// counts. Removes the cgroup first if the runtime left it (a start that failed early).
    func oomKilled(timeoutMillis: Int32 = 2_000) -> Bool {
        _ = rmdir(directory)
        var poll = pollfd(fd: removalEvents, events: Int16(POLLIN), revents: 0)
        guard Glibc.poll(&poll, 1, timeoutMillis) == 1 else { return false }
        return Self.read(oomEvents) > Self.read(removalEvents)
    }

    private static func read(_ descriptor: Int32) -> UInt64 {
        var value: UInt64 = 0
        return Glibc.read(descriptor, &value, 8) == 8 ? value : 0
    }
}
