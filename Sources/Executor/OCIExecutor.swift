import Foundation
import Glibc
import Platform

/// The `Executor` backend that isolates each task in a container run by an OCI runtime (runc or
/// crun): namespaces, cgroups, capabilities, masked paths.
///
/// Per task it writes a bundle under `root/containers/ID/bundle` (config.json per
/// opencontainers/runtime-spec, `rootfs` an overlay of the image's shared layers), runs
/// `runc run` in the foreground and captures the container's stdout/stderr into rotating logs.
/// Images come from `images` (normally DATA/images); a task may instead name a host directory
/// as its root file system.
public final class OCIExecutor: Executor, ExecCapable, @unchecked Sendable {
    public let root: String
    public let runtime: OCIRuntime
    public let images: ImageStore
    /// The parent of every container's cgroup, e.g. "/swarmctl" → /sys/fs/cgroup/memory/swarmctl/ID.
    public let cgroupParent: String
    /// The static init bind-mounted into tasks with `--init` (swarmctl-init next to this binary).
    public let initBinary: String

    /// Where `/sbin/docker-init` comes from in containers of tasks with `--init`.
    static let initTarget = "/sbin/docker-init"

    private let lock = ConditionLock()
    private var containers: [ContainerID: OCIContainer] = [:]
    /// Volume name → prepares in progress that mount it (not yet in `containers`).
    private var preparingVolumes: [String: Int] = [:]
    /// Each task's secrets and configs (a tmpfs under `secretsRoot`), released when it exits.
    private var filesDirectories: [ContainerID: TaskFilesDirectory] = [:]
    /// Where the per-task tmpfs of secrets and configs are mounted: outside the data directory,
    /// so no file under it ever holds secret data; one directory per executor (per node).
    public let secretsRoot: String
    /// Compiles each seccomp profile once for a runtime that takes a compiled filter (crun); nil
    /// for runc, which compiles the JSON profile itself per container.
    let seccompCompiler: SeccompCompiler?

    /// `root` is the node's data directory: containers live under `root/containers`, the runtime's
    /// state under `root/runc`, images under `root/images` unless `images` is given. Throws
    /// `OCIError.runtimeMissing` when no runtime binary is given or found.
    public init(root: String, runtimePath: String? = nil, images: ImageStore? = nil,
                cgroupParent: String = "/swarmctl", initBinary: String = OCIExecutor.defaultInitBinary) throws {
        guard let path = runtimePath ?? OCIRuntime.find() else { throw OCIError.runtimeMissing }
        self.root = root
        try FileSystem.makeDirectories(root + "/containers")
        try FileSystem.makeDirectories(root + "/runc")
        self.runtime = OCIRuntime(path: path, stateDirectory: root + "/runc")
        self.images = try images ?? ImageStore(root: root + "/images")
        self.cgroupParent = cgroupParent
        self.initBinary = initBinary
        secretsRoot = "/run/swarmctl-secrets/" + Digest.of(Array(root.utf8)).hex.prefix(16)
        seccompCompiler = runtime.takesCompiledSeccomp && getenv("SWARMCTL_COMPILED_SECCOMP").map({ String(cString: $0) }) != "0"
            ? SeccompCompiler() : nil
    }

    /// `swarmctl-init` in the directory of the running executable (swarmctl, or the test bundle's
    /// build directory).
    public static var defaultInitBinary: String {
        let executable = (try? FileSystem.readLink("/proc/self/exe")) ?? ""
        return FileSystem.parentDirectory(of: executable) + "/swarmctl-init"
    }

    public func prepare(_ spec: TaskSpec) throws -> ContainerID {
        let id = ContainerID(randomContainerHex())
        let directory = "\(root)/containers/\(id)"
        // A missing image with a registry in its name is pulled (once, however many tasks wait for it).
        let image = try spec.rootfs == nil ? spec.image.map { try images.resolveOrPull($0) } : nil
        let layers: [String]
        if let rootfs = spec.rootfs {
            layers = [rootfs]
        } else if let image {
            layers = images.layerDirectories(image)
        } else {
            throw OCIError.noRootfs
        }
        let imageConfig = image?.config ?? ImageStore.RunConfig()
        var args = spec.command.isEmpty ? (imageConfig.Entrypoint ?? []) + (imageConfig.Cmd ?? []) : spec.command
        guard let first = args.first, !first.isEmpty else { throw ExecutorError.emptyCommand }
        if spec.initProcess {
            guard FileSystem.exists(initBinary) else { throw OCIError.initMissing(initBinary) }
            args = [Self.initTarget, "--"] + args
        }
        let volumeNames = spec.mounts.filter { $0.kind == .volume }.map(\.source)
        lock.withLock { for name in volumeNames { preparingVolumes[name, default: 0] += 1 } }
        defer {
            lock.withLock {
                for name in volumeNames {
                    preparingVolumes[name, default: 1] -= 1
                    if preparingVolumes[name] == 0 { preparingVolumes[name] = nil }
                }
            }
        }
        try FileSystem.makeDirectories(directory + "/bundle")
        var prepared: PreparedRootfs?
        var files: TaskFilesDirectory?
        do {
            let rootfs = try PreparedRootfs.make(layers: layers, in: directory + "/bundle")
            prepared = rootfs
            var user = try UserResolver.resolve(spec.user ?? imageConfig.User, rootfs: rootfs.path)
            if !spec.groups.isEmpty { user.additionalGids = try UserResolver.groups(spec.groups, rootfs: rootfs.path) }
            var effective = spec
            if effective.workingDirectory == nil { effective.workingDirectory = imageConfig.WorkingDir.flatMap { $0.isEmpty ? nil : $0 } }
            var mounts = try spec.mounts.map { try OCIConfig.mount($0, source: mountSource($0, rootfs: rootfs.path)) }
            if spec.initProcess {
                mounts.append(OCIConfig.Mount(destination: Self.initTarget, type: "bind", source: initBinary, options: ["bind", "ro"]))
            }
            if !spec.files.isEmpty {
                files = try TaskFilesDirectory(path: "\(secretsRoot)/\(id)", files: spec.files, mountTmpfs: true)
                mounts += OCIConfig.fileMounts(spec.files, hostPaths: files!.hostPaths)
            }
            var config = OCIConfig.make(
                spec: effective, args: args, environment: Self.environment(image: imageConfig.Env ?? [], task: spec.environment),
                user: user, rootfs: rootfs.path, hostname: spec.hostname ?? String(id.rawValue.prefix(12)),
                cgroupsPath: "\(cgroupParent)/\(id)", mounts: mounts, files: try writeNameFiles(spec, bundle: directory + "/bundle"))
            if let seccomp = config.linux.seccomp, let program = seccompCompiler?.base64Program(for: seccomp) {
                config.annotations = (config.annotations ?? [:]).merging([SeccompCompiler.annotation: program]) { $1 }
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let file = try File.open(directory + "/bundle/config.json", flags: O_WRONLY | O_CREAT | O_TRUNC)
            try file.write(Array(try encoder.encode(config)), at: 0)
            let container = OCIContainer(id: id, spec: spec, directory: directory, runtime: runtime,
                                         cgroupsPath: "\(cgroupParent)/\(id)", rootfs: rootfs)
            lock.withLock {
                containers[id] = container
                filesDirectories[id] = files
            }
            return id
        } catch {
            files?.release()
            try? prepared?.release()
            try? Tree.remove(directory)
            throw error
        }
    }

    /// Named volumes of this node: DATA/volumes/NAME, made on first use, kept when tasks go.
    public var volumesDirectory: String { root + "/volumes" }

    /// The host side of a task mount: a bind's source, which must exist on this node; a volume's
    /// directory, made (and filled with the image's files at the target, unless `noCopy`) on
    /// first use; nothing for tmpfs.
    func mountSource(_ mount: TaskMount, rootfs: String) throws -> String {
        switch mount.kind {
        case .tmpfs:
            return "tmpfs"
        case .bind:
            guard mount.source.hasPrefix("/") else {
                throw OCIError.mount("bind source \(mount.source) is not an absolute path; give the node's path, e.g. /srv/data")
            }
            guard FileSystem.exists(mount.source) else {
                throw OCIError.mount("bind source path \(mount.source) does not exist on this node; create it on every node "
                    + "the task may run on, or constrain the service to the nodes that have it")
            }
            return mount.source
        case .volume:
            let name = mount.source
            guard !name.isEmpty, !name.contains("/"), !name.hasPrefix(".") else {
                throw OCIError.mount("volume name \"\(name)\" is not a single name; use letters, digits, '_', '.' and '-'")
            }
            let path = "\(volumesDirectory)/\(name)"
            try lock.withLock { () throws -> Void in
                guard !FileSystem.exists(path) else { return }
                let fresh = "\(volumesDirectory)/.new-\(name)-\(randomContainerHex().prefix(8))"
                try FileSystem.makeDirectories(fresh)
                let imageFiles = rootfs + mount.target
                if !mount.noCopy, FileSystem.isDirectory(imageFiles) {
                    try HostCommand.check(["cp", "-a", "\(imageFiles)/.", "\(fresh)/"]) {
                        OCIError.mount("copying the image's \(mount.target) into the new volume \(name): \($0)")
                    }
                    // The volume's root takes the owner and mode of the image's directory, as in
                    // Docker, so a task running as that directory's user can write to it.
                    var info = stat()
                    if stat(imageFiles, &info) == 0 {
                        _ = chown(fresh, info.st_uid, info.st_gid)
                        _ = chmod(fresh, info.st_mode & 0o7777)
                    }
                }
                try FileSystem.rename(fresh, to: path)
            }
            return path
        }
    }

    /// The container's own /etc/resolv.conf and /etc/hosts in the bundle, when the task sets
    /// DNS or extra hosts (the rest of each comes from the node's files, as in Docker).
    func writeNameFiles(_ spec: TaskSpec, bundle: String) throws -> OCIConfig.BundleFiles {
        var files = OCIConfig.BundleFiles()
        if let dns = spec.dns {
            files.resolvConf = bundle + "/resolv.conf"
            try Self.write(files.resolvConf!, NameFiles.resolvConf(dns, node: Self.read("/etc/resolv.conf")))
        } else if spec.networkNamespacePath != nil {
            files.resolvConf = bundle + "/resolv.conf"
            try Self.write(files.resolvConf!, NameFiles.embeddedResolvConf(node: Self.read("/etc/resolv.conf")))
        }
        if spec.networkNamespacePath != nil && spec.extraHosts.isEmpty {
            files.hosts = bundle + "/hosts"
            try Self.write(files.hosts!, NameFiles.loopbackHosts)
        }
        if !spec.extraHosts.isEmpty {
            files.hosts = bundle + "/hosts"
            let base = spec.network == .host && spec.networkNamespacePath == nil ? Self.read("/etc/hosts") : NameFiles.loopbackHosts
            try Self.write(files.hosts!, NameFiles.hosts(base: base, extra: spec.extraHosts))
        }
        return files
    }

    private static func read(_ path: String) -> String {
        (try? File.openForReading(path).readAll()).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    private static func write(_ path: String, _ text: String) throws {
        let file = try File.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC)
        try file.write(Array(text.utf8), at: 0)
    }

    /// The image's environment overridden by the task's (same NAME), plus a default PATH.
    static func environment(image: [String], task: [String]) -> [String] {
        func name(_ entry: String) -> Substring { entry.split(separator: "=", maxSplits: 1).first ?? "" }
        let overridden = Set(task.map(name))
        let merged = image.filter { !overridden.contains(name($0)) } + task
        return merged.contains(where: { $0.hasPrefix("PATH=") }) ? merged : merged + [TaskSpawner.defaultPath]
    }

    public func start(_ id: ContainerID, onExit: @escaping @Sendable (ExitStatus) -> Void) throws {
        let files = lock.withLock { filesDirectories[id] }
        try container(id).start { status in
            // The task ended: its secrets' tmpfs is unmounted before anyone hears of it.
            files?.release()
            onExit(status)
        }
    }

    public func wait(_ id: ContainerID, timeoutMillis: Int?) throws -> ExitStatus? {
        try container(id).waitForExit(timeoutMillis: timeoutMillis)
    }

    public func stop(_ id: ContainerID, graceMillis: Int?) throws -> ExitStatus? {
        let container = try container(id)
        return try container.stop(graceMillis: graceMillis ?? container.spec.stopGraceMillis)
    }

    public func remove(_ id: ContainerID) throws {
        let container = try container(id)
        try container.prepareForRemoval()
        lock.withLock { filesDirectories.removeValue(forKey: id) }?.release()
        runtime.deleteQuietly(id)
        removeEmptyCgroups(of: id)
        try container.rootfs.release()
        try Tree.remove(container.directory)
        lock.withLock { _ = containers.removeValue(forKey: id) }
    }

    func execInContainer(_ id: ContainerID, command: [String], timeoutMillis: Int) throws -> ExecResult {
        try container(id).exec(command, timeoutMillis: timeoutMillis)
    }

    public func inspect(_ id: ContainerID) throws -> ContainerInfo {
        try container(id).info()
    }

    public func logs(_ id: ContainerID, stream: LogStream) throws -> [UInt8] {
        let container = try container(id)
        var bytes: [UInt8] = []
        for path in RotatingLog.files(base: container.logBase(stream), maxFiles: container.spec.logLimits.maxFiles) {
            bytes += try File.openForReading(path).readAll()
        }
        return bytes
    }

    public func logRecords(_ id: ContainerID) throws -> [LogRecord] {
        let container = try container(id)
        return try LogRecordFile.read(base: LogRecordFile.base(besides: container.logBase(.stdout)), maxFiles: container.spec.logLimits.maxFiles)
    }

    public var canAdopt: Bool { true }

    /// Re-attaches to a container a previous run of this node started (see `OCIShim`).
    public func adopt(_ id: ContainerID, spec: TaskSpec, onExit: @escaping @Sendable (ExitStatus) -> Void) throws -> Adoption {
        let directory = "\(root)/containers/\(id)"
        guard FileSystem.isDirectory(directory + "/bundle") else { return .gone }
        if let known = lock.withLock({ containers[id] }) { return known.info().state == .running ? .running(pid: known.info().pid) : .gone }
        let rootfs = PreparedRootfs(path: directory + "/bundle/rootfs", mounted: OCIShim.isMountPoint(directory + "/bundle/rootfs"))
        let container = OCIContainer(id: id, spec: spec, directory: directory, runtime: runtime,
                                     cgroupsPath: "\(cgroupParent)/\(id)", rootfs: rootfs)
        lock.withLock { containers[id] = container }
        // The secrets' tmpfs of an adopted task goes when it ends, as for a task started here.
        let files = "\(secretsRoot)/\(id)"
        let adoption = container.adopt { status in
            Self.releaseFiles(at: files)
            onExit(status)
        }
        if adoption != .running(pid: container.info().pid) { Self.releaseFiles(at: files) }
        return adoption
    }

    /// Waits (at most 5 s: a shim stuck past that is left to the removal) until the shim of the
    /// container in `directory`, whose runtime was just told to delete it, has exited.
    static func awaitShimExit(directory: String) {
        let deadline = monotonicNanoseconds() + 5_000_000_000
        while TaskProcessRecord.livePID(directory: directory, name: OCIShim.pidFileName) != nil, monotonicNanoseconds() < deadline {
            usleep(10_000)
        }
    }

    /// Unmounts and deletes a task's secrets directory that no `TaskFilesDirectory` of this run
    /// tracks (one made by a previous run of the node); nothing happens when there is none.
    static func releaseFiles(at path: String) {
        guard FileSystem.exists(path) else { return }
        _ = umount2(path, Int32(MNT_DETACH))
        try? FileSystem.removeTree(path)
    }

    /// Stops every container without grace and removes it: node shutdown and test tear-down.
    public func removeAll() {
        let all = lock.withLock { Array(containers.keys) }
        for id in all {
            _ = try? stop(id, graceMillis: 0)
            try? remove(id)
        }
    }

    /// Kills and deletes every container the runtime knows in this executor's state directory and
    /// removes their bundles and mounts, except those this executor runs or `keeping` names (the
    /// agent's own, re-adopted or kept for their logs): what a node does at start-up. Returns the ids removed.
    @discardableResult
    public func removeLeftovers(keeping: Set<ContainerID> = []) throws -> [String] {
        let known = lock.withLock { Set(containers.keys.map(\.rawValue)) }.union(keeping.map(\.rawValue))
        var removed: [String] = []
        for id in try runtime.list() where !known.contains(id) {
            runtime.deleteQuietly(ContainerID(id))
            removed.append(id)
        }
        for name in try FileSystem.list(root + "/containers") where !known.contains(name) {
            // The shim writes the exit status once its runtime returns: gone first, it cannot
            // write into the directory while it is removed.
            Self.awaitShimExit(directory: "\(root)/containers/\(name)")
            removeEmptyCgroups(of: ContainerID(name))
            let rootfs = "\(root)/containers/\(name)/bundle/rootfs"
            _ = umount2(rootfs, Int32(MNT_DETACH))
            try Tree.remove("\(root)/containers/\(name)")
            if !removed.contains(name) { removed.append(name) }
        }
        TaskFilesDirectory.removeLeftovers(in: secretsRoot, keep: known)
        return removed
    }

    /// Deletes volume `name` at `path` unless a container (of any state, until removed) or a
    /// prepare in progress mounts it; checked and deleted under the lock, so none can start
    /// mounting it in between.
    func removeUnusedVolume(_ name: String, at path: String) throws {
        try lock.withLock {
            var users = containers.filter { $0.value.spec.mounts.contains { $0.kind == .volume && $0.source == name } }.keys
                .map(\.rawValue).sorted()
            if preparingVolumes[name] != nil { users.append("a task being prepared") }
            guard users.isEmpty else { throw VolumeError.inUse(name, containers: users) }
            try Tree.remove(path)
        }
    }

    /// Removes the container's cgroup directories that are empty: a memory cgroup `OOMWatch` made
    /// is not the runtime's to delete, and a container that ended while the node was down (or
    /// was re-adopted) leaves it behind.
    func removeEmptyCgroups(of id: ContainerID) {
        for directory in cgroupDirectories(id) { _ = rmdir(directory) }
    }

    /// The cgroup directories of a container that exist now (empty once it is deleted).
    public func cgroupDirectories(_ id: ContainerID) -> [String] {
        Cgroups.existingDirectories(cgroupsPath: "\(cgroupParent)/\(id)")
    }

    func container(_ id: ContainerID) throws -> OCIContainer {
        guard let container = lock.withLock({ containers[id] }) else { throw ExecutorError.unknownContainer(id) }
        return container
    }
}

/// 128 random bits as 32 hex digits: a container id.
func randomContainerHex() -> String {
    var generator = SystemRandomNumberGenerator()
    return (0..<2).map { _ in
        let text = String(generator.next() as UInt64, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }.joined()
}
