import Crypto
import Foundation
import Glibc
import Platform

/// `[REGISTRY/]REPOSITORY[:TAG][@sha256:HEX]`, split as the distribution spec names the parts.
public struct ImageReference: Equatable, Sendable {
    /// `host[:port]` of the registry.
    public var registry: String
    /// The repository path inside the registry, e.g. `team/busybox`.
    public var repository: String
    public var tag: String
    public var digest: Digest?

    public init(parsing text: String) throws {
        var rest = Substring(text)
        if let at = rest.firstIndex(of: "@") {
            guard let digest = Digest(parsing: String(rest[rest.index(after: at)...])) else {
                throw ImageError.invalidName(text)
            }
            self.digest = digest
            rest = rest[..<at]
        }
        let (name, tag) = ImageStore.split(String(rest))
        self.tag = tag
        let parts = name.split(separator: "/", maxSplits: 1).map(String.init)
        if parts.count == 2, parts[0].contains(".") || parts[0].contains(":") || parts[0] == "localhost" {
            registry = parts[0]
            repository = parts[1]
        } else {
            registry = Self.dockerHub
            repository = parts.count == 2 ? name : "library/\(name)"
        }
        guard !repository.isEmpty, (try? ImageStore.validatedName(repository)) != nil else {
            throw ImageError.invalidName(text)
        }
    }

    /// Where names without a registry part live.
    public static let dockerHub = "registry-1.docker.io"

    /// The name the image is stored under locally.
    public var localName: String { "\(registry)/\(repository):\(tag)" }
    /// What the manifest is fetched by: the digest if given, else the tag.
    var manifestReference: String { digest?.description ?? tag }
}

/// How registries are reached: HTTPS with the system CA store and the host name checked,
/// except loopback registries and those listed in `insecure-registries` (like dockerd's), which
/// are spoken to over plain HTTP.
///
/// It exists so an image (and the root command it runs) cannot be swapped by anyone on the path
/// to a registry, while a local test registry keeps working without certificates.
public struct RegistryPolicy: Sendable {
    /// `HOST` or `HOST:PORT` entries reached over plain HTTP.
    public var insecureRegistries: [String]
    /// 127.0.0.0/8, ::1 and localhost are reached over plain HTTP (as dockerd treats them insecure).
    public var loopbackIsInsecure: Bool
    /// CAs trusted besides the system store (/etc/ssl/certs).
    public var additionalRoots: [Certificate]

    public init(insecureRegistries: [String] = [], loopbackIsInsecure: Bool = true, additionalRoots: [Certificate] = []) {
        self.insecureRegistries = insecureRegistries
        self.loopbackIsInsecure = loopbackIsInsecure
        self.additionalRoots = additionalRoots
    }

    /// Checks an `insecure-registries` entry: HOST or HOST:PORT (no scheme, path or CIDR range).
    public static func validateEntry(_ entry: String) -> String? {
        if entry.isEmpty || entry.contains("/") || entry.contains("://") || entry.contains(" ") {
            return "insecure-registries entry '\(entry)': give HOST or HOST:PORT (no scheme, path or CIDR range)"
        }
        return nil
    }

    /// True when `host` (`port`) may be reached over plain HTTP.
    public func allowsPlainHTTP(host: String, port: UInt16) -> Bool {
        if loopbackIsInsecure && Self.isLoopback(host) { return true }
        let lowered = host.lowercased()
        return insecureRegistries.contains { entry in
            let entry = entry.lowercased()
            return entry == lowered || entry == "\(lowered):\(port)" || entry == "[\(lowered)]:\(port)"
        }
    }

    /// The URL scheme for `registry` (`host[:port]`).
    func scheme(for registry: String) -> String {
        guard let location = try? HTTPClient.Location(url: "http://\(registry)/") else { return "https" }
        return allowsPlainHTTP(host: location.host, port: location.port) ? "http" : "https"
    }

    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        let parts = host.split(separator: ".")
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    /// The client context for https registries.
    func tlsContext() throws -> TLSContext {
        do {
            return try TLSContext.systemTrustClient(additionalRoots: additionalRoots)
        } catch {
            throw RegistryError.unsupported("cannot set up TLS with the system CA store: \(error)")
        }
    }
}

/// A user name and password for a registry's basic or token authentication.
public struct RegistryCredentials: Sendable, Equatable {
    public var username: String
    public var password: String
    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }
}

/// Why a pull failed.
public enum RegistryError: Error, CustomStringConvertible, Equatable {
    case unreachable(String)
    case protocolError(String)
    case unsupported(String)
    case status(String, Int, String)

    public var description: String {
        switch self {
        case .unreachable(let what): return "registry unreachable: \(what); check the address and that it is running"
        case .protocolError(let what): return "registry answered nonsense: \(what)"
        case .unsupported(let what): return "not supported: \(what)"
        case .status(let url, let code, let body):
            let hint = code == 401 || code == 403 ? " (check the credentials)" : code == 404 ? " (check the name and tag)" : ""
            return "GET \(url) returned \(code)\(hint): \(body.prefix(300))"
        }
    }
}

/// Fetches manifests and blobs from an OCI distribution registry over HTTPS (plain HTTP where
/// the policy allows), anonymously, with basic credentials, or with a bearer token obtained from
/// the registry's token realm.
struct RegistryClient {
    let reference: ImageReference
    let credentials: RegistryCredentials?
    let policy: RegistryPolicy
    private var token: String?
    private var tls: TLSContext?

    static let manifestTypes = [
        "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json",
    ]
    static let maxRedirects = 5

    init(reference: ImageReference, credentials: RegistryCredentials?, policy: RegistryPolicy = RegistryPolicy()) {
        self.reference = reference
        self.credentials = credentials
        self.policy = policy
    }

    private var base: String { "\(policy.scheme(for: reference.registry))://\(reference.registry)/v2/\(reference.repository)" }

    /// Refuses plain HTTP to a host the policy does not allow it for (a redirect or token
    /// realm must not downgrade a pull); builds the TLS context on first use.
    private mutating func checked(_ location: HTTPClient.Location) throws -> TLSContext? {
        guard location.secure else {
            guard policy.allowsPlainHTTP(host: location.host, port: location.port) else {
                throw RegistryError.unsupported("\(location.url): plain HTTP to a registry that is not in insecure-registries; "
                                                + "use https, or list \(location.host):\(location.port) in insecure-registries")
            }
            return nil
        }
        if tls == nil { tls = try policy.tlsContext() }
        return tls
    }

    /// The manifest bytes and media type for `ref` (a tag or digest).
    mutating func manifest(_ ref: String) throws -> (bytes: [UInt8], mediaType: String) {
        var body: [UInt8] = []
        let response = try get("\(base)/manifests/\(ref)", accept: Self.manifestTypes.joined(separator: ", "),
                               maxBody: 4 << 20) { body += $0 }
        return (body, response.headers["content-type"] ?? "")
    }

    /// Streams blob `digest` into `sink`.
    mutating func blob(_ digest: Digest, maxBody: Int = 16 << 30, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        _ = try get("\(base)/blobs/\(digest)", accept: "*/*", maxBody: maxBody, sink: sink)
    }

    private mutating func get(_ url: String, accept: String, maxBody: Int,
                              sink: (UnsafeRawBufferPointer) throws -> Void) throws -> HTTPClient.Response {
        var location = try HTTPClient.Location(url: url)
        var authenticated = false
        for _ in 0...Self.maxRedirects {
            var headers = ["Accept": accept]
            if let token { headers["Authorization"] = "Bearer \(token)" } else if let credentials, authenticated {
                headers["Authorization"] = "Basic " + Data("\(credentials.username):\(credentials.password)".utf8).base64EncodedString()
            }
            var errorBody: [UInt8] = []
            var success = false
            let response = try HTTPClient.get(location, headers: headers, maxBody: maxBody, tls: try checked(location)) { bytes in
                if success { try sink(bytes) } else if errorBody.count < 4_096 { errorBody += bytes }
            } onHead: { success = (200..<300).contains($0.status) }
            switch response.status {
            case 200..<300:
                return response
            case 301, 302, 303, 307, 308:
                guard let target = response.headers["location"] else {
                    throw RegistryError.protocolError("\(location.url): redirect without Location")
                }
                location = try location.resolving(target)
            case 401 where !authenticated:
                authenticated = true
                try authenticate(challenge: response.headers["www-authenticate"] ?? "")
            default:
                throw RegistryError.status(location.url, response.status, String(decoding: errorBody, as: UTF8.self))
            }
        }
        throw RegistryError.protocolError("\(url): more than \(Self.maxRedirects) redirects")
    }

    /// Answers a 401: a Bearer challenge fetches a token from its realm (with the credentials, if
    /// any); a Basic challenge retries with the credentials.
    private mutating func authenticate(challenge: String) throws {
        let lower = challenge.lowercased()
        if lower.hasPrefix("basic") {
            guard credentials != nil else {
                throw RegistryError.status(base, 401, "the registry wants a user name and password")
            }
            return
        }
        guard lower.hasPrefix("bearer") else { throw RegistryError.protocolError("unknown challenge \(challenge)") }
        var parameters: [String: String] = [:]
        for part in challenge.dropFirst(6).split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { continue }
            parameters[pair[0].trimmingCharacters(in: .whitespaces).lowercased()] =
                pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\" "))
        }
        guard let realm = parameters["realm"] else { throw RegistryError.protocolError("bearer challenge without realm") }
        var query: [String] = []
        for key in ["service", "scope"] {
            if let value = parameters[key] {
                query.append("\(key)=\(value.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? value)")
            }
        }
        let url = realm + (query.isEmpty ? "" : (realm.contains("?") ? "&" : "?") + query.joined(separator: "&"))
        var headers: [String: String] = [:]
        if let credentials {
            headers["Authorization"] = "Basic " + Data("\(credentials.username):\(credentials.password)".utf8).base64EncodedString()
        }
        let realmLocation = try HTTPClient.Location(url: url)
        if !realmLocation.secure, credentials != nil, !policy.allowsPlainHTTP(host: realmLocation.host, port: realmLocation.port) {
            throw RegistryError.unsupported("\(url): the token realm is plain HTTP: credentials are only sent over https")
        }
        let (response, body) = try HTTPClient.getBytes(realmLocation, headers: headers, maxBody: 1 << 20, tls: try checked(realmLocation))
        guard response.status == 200 else {
            throw RegistryError.status(url, response.status, String(decoding: body, as: UTF8.self))
        }
        struct TokenAnswer: Decodable { var token: String?; var access_token: String? }
        let answer = try JSONDecoder().decode(TokenAnswer.self, from: Data(body))
        guard let token = answer.token ?? answer.access_token else { throw RegistryError.protocolError("\(url): no token") }
        self.token = token
    }
}

extension ImageStore {
    /// `image pull`: fetches `reference` from its registry (HTTPS; plain HTTP for loopback and
    /// `registryPolicy.insecureRegistries`), verifies the manifest against a pinned digest and
    /// every blob by its sha256, unpacks the layers and tags the image with the reference's local
    /// name. Concurrent pulls of one reference in this process share one download.
    @discardableResult
    public func pull(_ reference: String, credentials: RegistryCredentials? = nil) throws -> Image {
        let parsed = try ImageReference(parsing: reference)
        let key = parsed.localName + (parsed.digest.map { "@\($0)" } ?? "")
        let (waiter, isLeader) = pullLock.withLock { () -> (OneShot<Result<Image, any Error>>, Bool) in
            if let existing = pullsInFlight[key] { return (existing, false) }
            let created = OneShot<Result<Image, any Error>>()
            pullsInFlight[key] = created
            return (created, true)
        }
        if !isLeader { return try waiter.wait(timeoutMillis: nil)!.get() }
        let result = Result { try download(parsed, credentials: credentials) }
        pullLock.withLock { pullsInFlight[key] = nil }
        waiter.set(result)
        return try result.get()
    }

    /// The image `reference` names, pulled first if this node does not have it.
    public func resolveOrPull(_ reference: String, credentials: RegistryCredentials? = nil) throws -> Image {
        do {
            return try resolve(reference)
        } catch ImageError.notFound {
            guard let parsed = try? ImageReference(parsing: reference), parsed.registry != ImageReference.dockerHub else {
                throw ImageError.notFound(reference)
            }
            return try pull(reference, credentials: credentials)
        }
    }

    private struct PulledManifest: Decodable {
        struct Descriptor: Decodable {
            var mediaType: String?
            var digest: Digest
            var platform: Platform?
            struct Platform: Decodable { var architecture: String?; var os: String? }
        }
        var mediaType: String?
        var config: Descriptor?
        var layers: [Descriptor]?
        var manifests: [Descriptor]?
    }

    private func download(_ reference: ImageReference, credentials: RegistryCredentials?) throws -> Image {
        var client = RegistryClient(reference: reference, credentials: credentials, policy: registryPolicy)
        var (bytes, _) = try client.manifest(reference.manifestReference)
        if let digest = reference.digest { try Self.verify(bytes, digest, "manifest of \(reference.localName)") }
        var manifest = try JSONDecoder().decode(PulledManifest.self, from: Data(bytes))
        if let list = manifest.manifests {
            guard let chosen = list.first(where: {
                ($0.platform?.os ?? "linux") == "linux" && ($0.platform?.architecture ?? "amd64") == "amd64"
            }) else { throw RegistryError.unsupported("\(reference.localName) has no linux/amd64 image") }
            (bytes, _) = try client.manifest(chosen.digest.description)
            try Self.verify(bytes, chosen.digest, "manifest of \(reference.localName)")
            manifest = try JSONDecoder().decode(PulledManifest.self, from: Data(bytes))
        }
        guard let config = manifest.config, let layers = manifest.layers else {
            throw RegistryError.protocolError("\(reference.localName): manifest without config or layers")
        }
        let staging = try FileSystem.makeTemporaryDirectory(prefix: "pull-", base: "\(root)/tmp")
        defer { try? Tree.remove(staging) }
        for descriptor in [config] + layers where !hasBlob(descriptor.digest) {
            let path = "\(staging)/\(descriptor.digest.hex)"
            let file = try File.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC)
            var hasher = SHA256Hasher()
            try client.blob(descriptor.digest) { bytes in
                hasher.update(bytes)
                try file.append(bytes)
            }
            let actual = hasher.finish()
            guard actual == descriptor.digest else {
                throw ImageError.digestMismatch(expected: descriptor.digest, actual: actual,
                                                what: "blob of \(reference.localName) from \(reference.registry)")
            }
            try file.sync()
        }
        return try commitPulled(staging: staging, config: config.digest, layers: layers.map(\.digest),
                                name: reference.localName)
    }

    private static func verify(_ bytes: [UInt8], _ expected: Digest, _ what: String) throws {
        let actual = Digest.of(bytes)
        guard actual == expected else { throw ImageError.digestMismatch(expected: expected, actual: actual, what: what) }
    }
}
