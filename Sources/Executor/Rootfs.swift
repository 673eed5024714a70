import Glibc
import Platform

/// A container's root file system: an overlay of read-only image layers with a private writable
/// upper directory, mounted at `path`; or, where overlayfs is unavailable, a private copy.
///
/// It exists so layers are unpacked once per node and shared by every container of an image,
/// while each container's writes stay its own and vanish with it.
struct PreparedRootfs: Sendable {
    /// The directory the bundle's `root.path` points at.
    let path: String
    /// True when `path` is an overlay mount that must be unmounted before removal.
    let mounted: Bool

    /// Builds the root file system at `directory/rootfs` from `layers`, lowest layer first.
    static func make(layers: [String], in directory: String) throws -> PreparedRootfs {
        precondition(!layers.isEmpty, "a root file system needs at least one layer")
        let path = "\(directory)/rootfs"
        let upper = "\(directory)/upper"
        let work = "\(directory)/work"
        for made in [path, upper, work] { try FileSystem.makeDirectories(made) }
        // overlayfs lists lower directories top first.
        let options = "lowerdir=\(layers.reversed().joined(separator: ":")),upperdir=\(upper),workdir=\(work)"
        if options.utf8.count < 4_000, mount("overlay", path, "overlay", 0, options) == 0 {
            return PreparedRootfs(path: path, mounted: true)
        }
        let reason = String(cString: strerror(errno))
        // Fallback (no overlayfs, e.g. inside some containers): a private copy, lowest layer first.
        // Whiteouts of upper layers are not applied; single-layer images are exact.
        for layer in layers {
            try HostCommand.check(["cp", "-a", "\(layer)/.", "\(path)/"]) {
                OCIError.rootfs("overlay mount failed (\(reason)) and the copy fallback failed too: \($0)")
            }
        }
        return PreparedRootfs(path: path, mounted: false)
    }

    /// Unmounts the overlay (lazily: a process that escaped the container must not block removal).
    func release() throws {
        guard mounted else { return }
        if umount2(path, Int32(MNT_DETACH)) != 0 && errno != EINVAL && errno != ENOENT {
            throw OCIError.rootfs("umount \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// Resolves the `user` of a task (`name`, `uid`, `name:group`, `uid:gid`) against the image's
/// /etc/passwd and /etc/group, as Docker does: a name must exist there, a number need not.
enum UserResolver {
    static func resolve(_ user: String?, rootfs: String) throws -> OCIConfig.User {
        guard let user, !user.isEmpty else { return OCIConfig.User(uid: 0, gid: 0, additionalGids: nil) }
        let parts = user.split(separator: ":", maxSplits: 1).map(String.init)
        let passwd = entries("\(rootfs)/etc/passwd")
        let uid: UInt32
        var gid: UInt32
        if let number = UInt32(parts[0]) {
            uid = number
            gid = passwd.first { UInt32($0[2]) == number }.flatMap { UInt32($0[3]) } ?? 0
        } else {
            guard let entry = passwd.first(where: { $0[0] == parts[0] }), let number = UInt32(entry[2]) else {
                throw OCIError.unknownUser(parts[0])
            }
            uid = number
            gid = UInt32(entry[3]) ?? 0
        }
        if parts.count == 2 {
            if let number = UInt32(parts[1]) {
                gid = number
            } else {
                guard let entry = entries("\(rootfs)/etc/group").first(where: { $0[0] == parts[1] }),
                      let number = UInt32(entry[2]) else { throw OCIError.unknownUser(user) }
                gid = number
            }
        }
        return OCIConfig.User(uid: uid, gid: gid, additionalGids: nil)
    }

    /// Supplementary groups: numbers as given, names looked up in the image's /etc/group.
    static func groups(_ groups: [String], rootfs: String) throws -> [UInt32] {
        let table = entries("\(rootfs)/etc/group")
        return try groups.map { group in
            if let number = UInt32(group) { return number }
            guard let entry = table.first(where: { $0[0] == group }), let number = UInt32(entry[2]) else {
                throw OCIError.unknownGroup(group)
            }
            return number
        }
    }

    /// Lines of a passwd-style file split at ':', those with at least 4 fields.
    private static func entries(_ path: String) -> [[String]] {
        guard let bytes = try? File.openForReading(path).readAll() else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map {
            $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        }.filter { $0.count >= 4 }
    }
}
