import CPlatform
import Foundation
import Glibc
import Platform

/// The node-local, content-addressed image store under `DATA/images/`:
///
/// ```
/// blobs/sha256/HEX        configs and layer archives, named by the sha256 of their bytes
/// layers/HEX/             each layer archive unpacked once (whiteouts as overlayfs expects), shared read-only
/// images/HEX.json         one record per image (HEX: the config digest, i.e. the image id)
/// repositories.json       NAME:TAG → image id
/// ```
///
/// It exists so a node runs images without a daemon: containers mount the unpacked layers as
/// overlay lower directories. Writers in one process serialise on a lock, and across processes
/// (the CLI while a node runs) on `flock` of `images/lock`; every file appears by rename, so a
/// crash leaves either the old or the new state (and at worst an orphaned `.tmp`).
public final class ImageStore: @unchecked Sendable {
    public let root: String
    private let lock = ConditionLock()
    /// Pulls in flight by reference, so simultaneous tasks of one image download it once.
    let pullLock = ConditionLock()
    /// How pulls reach registries (set once, before the first pull: the node's insecure-registries).
    public var registryPolicy = RegistryPolicy()
    var pullsInFlight: [String: OneShot<Result<Image, any Error>>] = [:]

    /// The default tag when a reference has none.
    public static let defaultTag = "latest"

    /// `root` is the store directory (normally DATA/images); created if missing.
    public init(root: String) throws {
        self.root = root
        for directory in ["blobs/sha256", "layers", "images", "tmp"] {
            try FileSystem.makeDirectories("\(root)/\(directory)")
        }
    }

    /// One image: its id, the names pointing at it, its layers and its run defaults.
    public struct Image: Sendable, Equatable, Codable {
        /// The config blob's digest (Docker's image id).
        public var id: Digest
        /// Layer archive digests, lowest first.
        public var layers: [Digest]
        public var config: RunConfig
        /// Total size of the layer archives in bytes.
        public var size: Int64
        /// When the image was added to this store (seconds since the epoch).
        public var added: Double
    }

    /// What an image says to run, from its config's `config` object (Docker's names).
    public struct RunConfig: Sendable, Equatable, Codable {
        public var Env: [String]?
        public var Entrypoint: [String]?
        public var Cmd: [String]?
        public var WorkingDir: String?
        public var User: String?

        public init(Env: [String]? = nil, Entrypoint: [String]? = nil, Cmd: [String]? = nil,
                    WorkingDir: String? = nil, User: String? = nil) {
            self.Env = Env
            self.Entrypoint = Entrypoint
            self.Cmd = Cmd
            self.WorkingDir = WorkingDir
            self.User = User
        }
    }

    /// One row of `image ls`.
    public struct Listing: Sendable, Equatable {
        public var repository: String
        public var tag: String
        public var image: Image
    }

    // MARK: - Reading

    /// The image `reference` names: `NAME[:TAG]`, a full `sha256:` id, or a unique id prefix.
    public func resolve(_ reference: String) throws -> Image {
        try lock.withLock {
            let tags = try readRepositories()
            if let id = tags[Self.normalize(reference)] { return try readImage(id) }
            let wanted = reference.hasPrefix("sha256:") ? String(reference.dropFirst(7)) : reference
            if wanted.utf8.count >= 4, wanted.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) {
                let matches = try FileSystem.list("\(root)/images").filter { $0.hasPrefix(wanted) && $0.hasSuffix(".json") }
                if matches.count == 1 { return try readImage(Digest(hex: String(matches[0].dropLast(5)))) }
            }
            throw ImageError.notFound(reference)
        }
    }

    /// Host directories of the image's unpacked layers, lowest first (overlay lower dirs).
    public func layerDirectories(_ image: Image) -> [String] {
        image.layers.map { layerDirectory($0) }
    }

    /// Every tag, sorted by name; untagged images are listed with repository `<none>`.
    public func list() throws -> [Listing] {
        try lock.withLock {
            let tags = try readRepositories()
            var rows: [Listing] = []
            var tagged = Set<Digest>()
            for (name, id) in tags.sorted(by: { $0.key < $1.key }) {
                let (repository, tag) = Self.split(name)
                rows.append(Listing(repository: repository, tag: tag, image: try readImage(id)))
                tagged.insert(id)
            }
            for file in try FileSystem.list("\(root)/images") where file.hasSuffix(".json") {
                let id = Digest(hex: String(file.dropLast(5)))
                if !tagged.contains(id) {
                    rows.append(Listing(repository: "<none>", tag: "<none>", image: try readImage(id)))
                }
            }
            return rows
        }
    }

    // MARK: - Adding

    /// `image import`: makes a one-layer image named `name` from a root file system given as a
    /// tar archive (optionally compressed) or a directory.
    @discardableResult
    public func importRootfs(name: String, from source: String, config: RunConfig = RunConfig()) throws -> Image {
        let reference = try Self.validatedName(name)
        return try withWriteLock {
            let staging = try FileSystem.makeTemporaryDirectory(prefix: "import-", base: "\(root)/tmp")
            defer { try? Tree.remove(staging) }
            let archive: String
            if FileSystem.isDirectory(source) {
                archive = "\(staging)/layer.tar"
                try HostCommand.check(["tar", "--sort=name", "--numeric-owner", "-C", source, "-cf", archive, "."]) {
                    ImageError.invalidArchive(source, $0)
                }
            } else if FileSystem.exists(source) {
                archive = source
            } else {
                throw ImageError.invalidArchive(source, "no such file or directory")
            }
            let layer = try addBlob(copying: archive, expected: nil)
            try unpackLayer(layer)
            var runConfig = config
            if runConfig.Env == nil { runConfig.Env = [TaskSpawner.defaultPath] }
            let configBlob = try Self.imageConfigJSON(runConfig, diffIDs: [layer])
            let id = try addBlob(bytes: configBlob)
            let image = Image(id: id, layers: [layer], config: runConfig, size: try blobSize(layer),
                              added: wallClockSeconds())
            try writeImage(image)
            try tag(reference, id)
            return image
        }
    }

    /// `image load`: adds every image of a `docker save` archive or an OCI image layout archive
    /// (tar), with the names recorded in it. Returns the loaded images and their names.
    @discardableResult
    public func load(archive: String) throws -> [(name: String?, image: Image)] {
        try withWriteLock {
            let staging = try FileSystem.makeTemporaryDirectory(prefix: "load-", base: "\(root)/tmp")
            defer { try? Tree.remove(staging) }
            guard FileSystem.exists(archive) else { throw ImageError.invalidArchive(archive, "no such file") }
            try HostCommand.check(["tar", "-xf", archive, "-C", staging]) { ImageError.invalidArchive(archive, $0) }
            if FileSystem.exists("\(staging)/manifest.json") {
                return try loadDockerSave(staging, archive: archive)
            }
            if FileSystem.exists("\(staging)/index.json") {
                return try loadOCILayout(staging, archive: archive)
            }
            throw ImageError.invalidArchive(archive, "neither manifest.json (docker save) nor index.json (OCI layout) inside")
        }
    }

    private struct DockerSaveEntry: Decodable {
        var Config: String
        var RepoTags: [String]?
        var Layers: [String]
    }

    private func loadDockerSave(_ staging: String, archive: String) throws -> [(name: String?, image: Image)] {
        let entries = try JSONDecoder().decode(
            [DockerSaveEntry].self, from: Data(try readFile("\(staging)/manifest.json")))
        var loaded: [(name: String?, image: Image)] = []
        for entry in entries {
            var layers: [Digest] = []
            for path in entry.Layers {
                let layer = try addBlob(copying: try Self.inside(staging, path, archive), expected: Self.digestInPath(path))
                try unpackLayer(layer)
                layers.append(layer)
            }
            let configPath = try Self.inside(staging, entry.Config, archive)
            let id = try addBlob(copying: configPath, expected: Self.digestInPath(entry.Config))
            let image = try makeImage(id: id, layers: layers)
            try writeImage(image)
            for name in entry.RepoTags ?? [] { try tag(try Self.validatedName(name), id) }
            loaded.append(contentsOf: (entry.RepoTags?.isEmpty ?? true) ? [(nil, image)] : entry.RepoTags!.map { ($0, image) })
        }
        return loaded
    }

    private struct Descriptor: Decodable {
        var mediaType: String?
        var digest: Digest
        var annotations: [String: String]?
        var platform: Platform?
        struct Platform: Decodable {
            var architecture: String?
            var os: String?
        }
    }

    private struct Index: Decodable {
        var manifests: [Descriptor]
    }

    private struct Manifest: Decodable {
        var config: Descriptor
        var layers: [Descriptor]
    }

    private func loadOCILayout(_ staging: String, archive: String) throws -> [(name: String?, image: Image)] {
        let index = try JSONDecoder().decode(Index.self, from: Data(try readFile("\(staging)/index.json")))
        var loaded: [(name: String?, image: Image)] = []
        for descriptor in index.manifests {
            let annotations = descriptor.annotations ?? [:]
            let name = annotations["io.containerd.image.name"] ?? annotations["org.opencontainers.image.ref.name"]
                .map { $0.contains(":") || $0.contains("/") ? $0 : "\(Self.nameFromArchive(archive)):\($0)" }
            let manifestDigest = try resolvePlatform(descriptor, staging: staging, archive: archive)
            let manifest = try JSONDecoder().decode(
                Manifest.self, from: Data(try verifiedLayoutBlob(manifestDigest, staging: staging, archive: archive)))
            var layers: [Digest] = []
            for layer in manifest.layers {
                let added = try addBlob(copying: "\(staging)/blobs/sha256/\(layer.digest.hex)", expected: layer.digest)
                try unpackLayer(added)
                layers.append(added)
            }
            let id = try addBlob(copying: "\(staging)/blobs/sha256/\(manifest.config.digest.hex)",
                                 expected: manifest.config.digest)
            let image = try makeImage(id: id, layers: layers)
            try writeImage(image)
            if let name { try tag(try Self.validatedName(name), id) }
            loaded.append((name, image))
        }
        return loaded
    }

    /// A manifest list (index) is narrowed to its linux/amd64 manifest.
    private func resolvePlatform(_ descriptor: Descriptor, staging: String, archive: String) throws -> Digest {
        let isIndex = descriptor.mediaType.map { $0.contains("image.index") || $0.contains("manifest.list") } ?? false
        guard isIndex else { return descriptor.digest }
        let index = try JSONDecoder().decode(
            Index.self, from: Data(try verifiedLayoutBlob(descriptor.digest, staging: staging, archive: archive)))
        guard let chosen = index.manifests.first(where: {
            ($0.platform?.os ?? "linux") == "linux" && ($0.platform?.architecture ?? "amd64") == "amd64"
        }) else { throw ImageError.invalidArchive(archive, "no linux/amd64 manifest in \(descriptor.digest)") }
        return try resolvePlatform(chosen, staging: staging, archive: archive)
    }

    private func verifiedLayoutBlob(_ digest: Digest, staging: String, archive: String) throws -> [UInt8] {
        let bytes = try readFile("\(staging)/blobs/sha256/\(digest.hex)")
        let actual = Digest.of(bytes)
        guard actual == digest else { throw ImageError.digestMismatch(expected: digest, actual: actual, what: archive) }
        return bytes
    }

    func hasBlob(_ digest: Digest) -> Bool { FileSystem.exists(blobPath(digest)) }

    /// Adds a pulled image whose verified blobs (those the store lacked) are in `staging`, named
    /// by their hex digests.
    func commitPulled(staging: String, config: Digest, layers: [Digest], name: String) throws -> Image {
        let reference = try Self.validatedName(name)
        return try withWriteLock {
            for digest in [config] + layers where !hasBlob(digest) {
                try FileSystem.rename("\(staging)/\(digest.hex)", to: blobPath(digest))
            }
            try FileSystem.syncDirectory("\(root)/blobs/sha256")
            for layer in layers { try unpackLayer(layer) }
            let image = try makeImage(id: config, layers: layers)
            try writeImage(image)
            try tag(reference, config)
            return image
        }
    }

    // MARK: - Removing

    /// `image rm`: removes the tag `reference` (or every tag of an id); the image, and the blobs
    /// and layers no remaining image uses, go once nothing names it. Layers mounted by a
    /// running container are kept (`pruneUnused` removes them later).
    public func remove(_ reference: String) throws {
        try withWriteLock {
            var tags = try readRepositories()
            let id: Digest
            if let tagged = tags[Self.normalize(reference)] {
                id = tagged
                tags[Self.normalize(reference)] = nil
            } else {
                id = try { () throws -> Digest in
                    let wanted = reference.hasPrefix("sha256:") ? String(reference.dropFirst(7)) : reference
                    let matches = try FileSystem.list("\(root)/images").filter { $0.hasPrefix(wanted) && $0.hasSuffix(".json") }
                    guard wanted.utf8.count >= 4, matches.count == 1 else { throw ImageError.notFound(reference) }
                    return Digest(hex: String(matches[0].dropLast(5)))
                }()
                tags = tags.filter { $0.value != id }
            }
            try writeRepositories(tags)
            if !tags.values.contains(id) {
                try FileSystem.remove("\(root)/images/\(id.hex).json")
                try FileSystem.syncDirectory("\(root)/images")
            }
            try pruneUnusedLocked()
        }
    }

    /// Removes blobs and unpacked layers that no image record references and no mount uses.
    public func pruneUnused() throws {
        try withWriteLock { try pruneUnusedLocked() }
    }

    private func pruneUnusedLocked() throws {
        var used = Set<Digest>()
        for file in try FileSystem.list("\(root)/images") where file.hasSuffix(".json") {
            let image = try readImage(Digest(hex: String(file.dropLast(5))))
            used.insert(image.id)
            used.formUnion(image.layers)
        }
        let mounts = String(decoding: (try? Tree.readPseudoFile("/proc/self/mountinfo")) ?? [], as: UTF8.self)
        for hex in try FileSystem.list("\(root)/layers") where !used.contains(Digest(hex: hex)) {
            let directory = "\(root)/layers/\(hex)"
            if mounts.contains(directory) { continue }
            try Tree.remove(directory)
        }
        for hex in try FileSystem.list("\(root)/blobs/sha256") where !used.contains(Digest(hex: hex)) {
            if FileSystem.exists("\(root)/layers/\(hex)") { continue }
            try FileSystem.remove("\(root)/blobs/sha256/\(hex)")
        }
    }

    // MARK: - Blobs and layers

    func layerDirectory(_ digest: Digest) -> String { "\(root)/layers/\(digest.hex)" }
    private func blobPath(_ digest: Digest) -> String { "\(root)/blobs/sha256/\(digest.hex)" }

    private func blobSize(_ digest: Digest) throws -> Int64 {
        Int64(try File.openForReading(blobPath(digest)).size())
    }

    /// Copies `path` into the blob store under its digest; `expected` (when the archive named
    /// the content by digest) must match, else the content is refused.
    private func addBlob(copying path: String, expected: Digest?) throws -> Digest {
        let actual = try Digest.ofFile(path)
        if let expected, expected != actual {
            throw ImageError.digestMismatch(expected: expected, actual: actual, what: path)
        }
        if FileSystem.exists(blobPath(actual)) { return actual }
        let temporary = "\(root)/tmp/blob-\(actual.hex)"
        try HostCommand.check(["cp", path, temporary]) { ImageError.invalidArchive(path, $0) }
        try File.openForUpdate(temporary).sync()
        try FileSystem.rename(temporary, to: blobPath(actual))
        try FileSystem.syncDirectory("\(root)/blobs/sha256")
        return actual
    }

    private func addBlob(bytes: [UInt8]) throws -> Digest {
        let digest = Digest.of(bytes)
        if FileSystem.exists(blobPath(digest)) { return digest }
        let temporary = "\(root)/tmp/blob-\(digest.hex)"
        try writeFileAtomically(temporary, bytes, finalPath: blobPath(digest))
        return digest
    }

    /// Unpacks a layer archive once: into a temporary directory, whiteouts converted, then renamed.
    private func unpackLayer(_ digest: Digest) throws {
        let target = layerDirectory(digest)
        if FileSystem.isDirectory(target) { return }
        let staging = "\(root)/tmp/layer-\(digest.hex)"
        try? Tree.remove(staging)
        // A layer's root becomes a container's `/` in the copy fallback: traversable by its users.
        try FileSystem.makeDirectories(staging, mode: 0o755)
        try HostCommand.check(["tar", "--numeric-owner", "-xf", blobPath(digest), "-C", staging]) {
            ImageError.invalidArchive("layer \(digest)", $0)
        }
        try Whiteouts.convertToOverlay(in: staging)
        try FileSystem.rename(staging, to: target)
        try FileSystem.syncDirectory("\(root)/layers")
    }

    private func makeImage(id: Digest, layers: [Digest]) throws -> Image {
        struct ConfigFile: Decodable { var config: RunConfig? }
        let parsed = try JSONDecoder().decode(ConfigFile.self, from: Data(try readFile(blobPath(id))))
        var size: Int64 = 0
        for layer in layers { size += try blobSize(layer) }
        return Image(id: id, layers: layers, config: parsed.config ?? RunConfig(), size: size, added: wallClockSeconds())
    }

    /// An OCI image config for an imported root file system.
    private static func imageConfigJSON(_ config: RunConfig, diffIDs: [Digest]) throws -> [UInt8] {
        struct RootFS: Encodable { var type = "layers"; var diff_ids: [Digest] }
        struct ConfigFile: Encodable {
            var architecture = "amd64"
            var os = "linux"
            var created: String
            var config: RunConfig
            var rootfs: RootFS
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let created = ISO8601DateFormatter().string(from: Date())
        return Array(try encoder.encode(ConfigFile(created: created, config: config, rootfs: RootFS(diff_ids: diffIDs))))
    }

    // MARK: - Records

    private func readImage(_ id: Digest) throws -> Image {
        let path = "\(root)/images/\(id.hex).json"
        guard FileSystem.exists(path) else { throw ImageError.notFound(id.description) }
        return try JSONDecoder().decode(Image.self, from: Data(try readFile(path)))
    }

    private func writeImage(_ image: Image) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try writeFileAtomically("\(root)/tmp/image-\(image.id.hex).json", Array(try encoder.encode(image)),
                                finalPath: "\(root)/images/\(image.id.hex).json")
    }

    private func readRepositories() throws -> [String: Digest] {
        let path = "\(root)/repositories.json"
        guard FileSystem.exists(path) else { return [:] }
        return try JSONDecoder().decode([String: Digest].self, from: Data(try readFile(path)))
    }

    private func writeRepositories(_ tags: [String: Digest]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try writeFileAtomically("\(root)/tmp/repositories.json", Array(try encoder.encode(tags)),
                                finalPath: "\(root)/repositories.json")
    }

    private func tag(_ reference: String, _ id: Digest) throws {
        var tags = try readRepositories()
        tags[reference] = id
        try writeRepositories(tags)
    }

    private func writeFileAtomically(_ temporary: String, _ bytes: [UInt8], finalPath: String) throws {
        let file = try File.open(temporary, flags: O_WRONLY | O_CREAT | O_TRUNC)
        try file.write(bytes, at: 0)
        try file.sync()
        try FileSystem.rename(temporary, to: finalPath)
        try FileSystem.syncDirectory(FileSystem.parentDirectory(of: finalPath))
    }

    private func readFile(_ path: String) throws -> [UInt8] {
        try File.openForReading(path).readAll()
    }

    /// Runs `body` holding the in-process lock and the store's flock (other processes).
    private func withWriteLock<T>(_ body: () throws -> T) throws -> T {
        try lock.withLock {
            let lockFile = try File.open("\(root)/lock", flags: O_RDWR | O_CREAT)
            while flock(lockFile.descriptor, LOCK_EX) != 0 {
                guard errno == EINTR else { throw SystemError("flock", lockFile.path) }
            }
            return try body()
        }
    }

    // MARK: - Names

    /// `NAME` → `NAME:latest`; a digest-less reference with a tag stays as it is.
    static func normalize(_ reference: String) -> String {
        let (repository, tag) = split(reference)
        return "\(repository):\(tag)"
    }

    /// Splits `NAME[:TAG]` (a colon before the last slash belongs to a registry port).
    static func split(_ reference: String) -> (repository: String, tag: String) {
        if let colon = reference.lastIndex(of: ":"), !reference[colon...].contains("/") {
            return (String(reference[..<colon]), String(reference[reference.index(after: colon)...]))
        }
        return (reference, defaultTag)
    }

    static func validatedName(_ name: String) throws -> String {
        let normalized = normalize(name)
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789._-/:".utf8)
        let (repository, tag) = split(normalized)
        guard !repository.isEmpty, !tag.isEmpty, normalized.utf8.allSatisfy({ allowed.contains($0) }),
              !repository.hasPrefix("sha256") else { throw ImageError.invalidName(name) }
        return normalized
    }

    private static func nameFromArchive(_ archive: String) -> String {
        let base = archive.split(separator: "/").last.map(String.init) ?? "image"
        return String(base.split(separator: ".").first ?? "image").lowercased()
    }

    /// `blobs/sha256/HEX` paths (newer docker save) name their content; older `ID/layer.tar` do not.
    private static func digestInPath(_ path: String) -> Digest? {
        let parts = path.split(separator: "/")
        guard parts.count >= 2, parts[parts.count - 2] == "sha256" else { return nil }
        return Digest(parsing: "sha256:\(parts.last!)")
    }

    /// A path from an archive's manifest, refused if it would leave the unpacked archive.
    private static func inside(_ staging: String, _ relative: String, _ archive: String) throws -> String {
        guard !relative.hasPrefix("/"), !relative.split(separator: "/").contains("..") else {
            throw ImageError.invalidArchive(archive, "path \(relative) leaves the archive")
        }
        return "\(staging)/\(relative)"
    }
}

/// Converts the whiteout files of an OCI/Docker layer (`.wh.NAME`, `.wh..wh..opq`) into what
/// overlayfs understands: a 0/0 character device, and the `trusted.overlay.opaque` attribute.
enum Whiteouts {
    static let prefix = ".wh."
    static let opaque = ".wh..wh..opq"

    static func convertToOverlay(in directory: String) throws {
        let found = try HostCommand.check(["find", directory, "-name", "\(prefix)*", "-print0"]) {
            ImageError.invalidArchive(directory, $0)
        }
        let paths = found.stdout.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        for path in paths {
            let parent = FileSystem.parentDirectory(of: path)
            let name = String(path.dropFirst(parent.count + 1))
            try FileSystem.remove(path)
            if name == opaque {
                guard cplatform_setxattr(parent, "trusted.overlay.opaque", "y", 1) == 0 else {
                    throw SystemError("setxattr trusted.overlay.opaque", parent)
                }
            } else {
                let hidden = "\(parent)/\(name.dropFirst(prefix.count))"
                guard mknod(hidden, S_IFCHR | 0o000, 0) == 0 else { throw SystemError("mknod whiteout", hidden) }
            }
        }
    }
}

/// Why the image store refused, with what to do about it.
public enum ImageError: Error, CustomStringConvertible, Equatable {
    case notFound(String)
    case invalidName(String)
    case invalidArchive(String, String)
    case digestMismatch(expected: Digest, actual: Digest, what: String)

    public var description: String {
        switch self {
        case .notFound(let reference):
            return "no image \(reference) on this node; import, load or pull it first (swarmctl image ls lists them)"
        case .invalidName(let name):
            return "invalid image name \(name): use lowercase NAME[:TAG] (letters, digits, . _ - /)"
        case .invalidArchive(let what, let reason):
            return "cannot read \(what): \(reason)"
        case .digestMismatch(let expected, let actual, let what):
            return "content of \(what) has digest \(actual), not the expected \(expected); refusing it (corrupt or tampered)"
        }
    }
}
