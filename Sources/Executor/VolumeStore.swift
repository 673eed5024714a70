import Glibc
import Platform

/// One named volume of this node (`DATA/volumes/NAME`), as `docker volume ls` shows it.
public struct VolumeInfo: Sendable, Equatable {
    public var name: String
    /// The host directory mounted into tasks.
    public var path: String
    /// When the directory was made, seconds since the epoch.
    public var createdAt: Double
}

/// Why a volume could not be removed.
public enum VolumeError: Error, Equatable, CustomStringConvertible {
    case notFound(String)
    /// Containers of this node (running or exited, not yet removed) mount it.
    case inUse(String, containers: [String])

    public var description: String {
        switch self {
        case .notFound(let name): return "get \(name): no such volume"
        case .inUse(let name, let containers):
            return "remove \(name): volume is in use - [\(containers.joined(separator: ", "))]: remove the tasks that mount it first"
        }
    }
}

extension OCIExecutor {
    /// The node's named volumes, by name.
    public func volumes() -> [VolumeInfo] {
        let names = ((try? FileSystem.list(volumesDirectory)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        return names.compactMap { name in
            let path = "\(volumesDirectory)/\(name)"
            var info = stat()
            guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { return nil }
            return VolumeInfo(name: name, path: path, createdAt: Double(info.st_ctim.tv_sec) + Double(info.st_ctim.tv_nsec) / 1e9)
        }
    }

    /// Deletes a volume and its files; refused while a container of this node mounts it or is
    /// being prepared to.
    public func removeVolume(_ name: String) throws {
        guard let volume = volumes().first(where: { $0.name == name }) else { throw VolumeError.notFound(name) }
        try removeUnusedVolume(name, at: volume.path)
    }
}
