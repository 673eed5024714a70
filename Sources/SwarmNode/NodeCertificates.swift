import Glibc
import ClusterState
import Crypto
import Foundation
import Platform
import Transport

/// This node's TLS identity: its key, its certificate chain (leaf first, then the cross-signed
/// root during a CA rotation) and the roots it trusts, kept in `DATA/certificates/`
/// (`node-key.pem`, `node-cert.pem`, `ca.pem`, each 0600).
///
/// It exists so the files, their crash-safe replacement on renewal, and the TLS contexts built
/// from them are in one place.
struct NodeCertificates {
    var key: PrivateKey
    var chain: [Certificate]
    var roots: [Certificate]

    static func directory(in dataDirectory: String) -> String { dataDirectory + "/certificates" }

    var leaf: Certificate { chain[0] }

    /// The role the leaf grants (nil if its OU is not one of ours).
    var role: NodeRole? {
        switch PeerIdentity.Role(rawValue: leaf.subject.organizationalUnit ?? "") {
        case .manager?: .manager
        case .worker?: .worker
        case nil: nil
        }
    }

    /// The contexts for the transport: server (client certificates verified if presented) and
    /// client (the server must present one), both trusting `roots`.
    func transportTLS() throws -> TransportTLS {
        // The roots ride along so a joining node finds the one its token pins in our chain.
        let identity = TLSIdentity(chain: chain + roots.filter { !chain.contains($0) }, key: key)
        let plaintext = BenchmarkSwitches.insecureCluster
        return TransportTLS(
            server: try TLSContext(role: .server, identity: identity, trustedRoots: roots, peerVerification: .ifPresented,
                                   benchmarkPlaintext: plaintext),
            client: try TLSContext(role: .client, identity: identity, trustedRoots: roots, peerVerification: .required,
                                   benchmarkPlaintext: plaintext))
    }

    /// A random point between 50% and 80% of the leaf's validity (as Docker swarm), unix seconds.
    /// The validity counts from when the certificate was issued: our CA backdates notBefore by
    /// `CertificateAuthority.backdateSeconds` (for clock skew), which must not count as life
    /// already spent (a 1h certificate would otherwise be "due" the moment it was issued).
    func renewalTime() -> Int64 {
        let issued = min(leaf.notBefore + CertificateAuthority.backdateSeconds, leaf.notAfter)
        let life = max(1, leaf.notAfter - issued)
        return issued + Int64(Double(life) * Double.random(in: 0.5...0.8))
    }

    // MARK: Files

    /// Reads the files, finishing a replacement a crash interrupted (see `save`). A key sealed
    /// under a locked manager's KEK (`SealedNodeKey`) needs `unsealingKey`. Another process
    /// reading a running node's files (a test, a tool) passes `finishingInterruptedSave: false`:
    /// a `.new` file there is the node's save in progress, not a crash's leftover, and renaming
    /// it would race with the node.
    static func load(from dataDirectory: String, unsealingKey: [UInt8]? = nil, finishingInterruptedSave: Bool = true) throws -> NodeCertificates {
        let directory = directory(in: dataDirectory)
        let keyPath = directory + "/node-key.pem", certificatePath = directory + "/node-cert.pem"
        if finishingInterruptedSave && FileSystem.exists(keyPath + ".new") {
            if FileSystem.exists(certificatePath + ".new") {
                // Crashed before the certificate was renamed: the old pair is intact.
                try? FileSystem.remove(keyPath + ".new")
                try? FileSystem.remove(certificatePath + ".new")
            } else {
                // Crashed between the two renames: the new certificate is in place, finish with its key.
                try FileSystem.rename(keyPath + ".new", to: keyPath)
            }
        }
        do {
            let key = try PrivateKey(pem: try SealedNodeKey.open(try readBytes(keyPath), path: keyPath, unsealingKey: unsealingKey))
            let chain = try Certificate.parseChain(pem: try readText(certificatePath))
            let roots = try Certificate.parseChain(pem: try readText(directory + "/ca.pem"))
            guard !chain.isEmpty, !roots.isEmpty else { throw NodeError("empty certificate file") }
            return NodeCertificates(key: key, chain: chain, roots: roots)
        } catch let error as NodeError {
            throw error
        } catch {
            throw NodeError("cannot read this node's certificates in \(directory) (\(error)): remove the data dir and join again")
        }
    }

    /// Writes the three files: the new key and certificate under `.new` names first, then the
    /// certificate and the key are renamed into place (`load` finishes or undoes a crash between).
    /// With `sealingKey` (a locked manager's KEK) the key file is sealed under it.
    func save(to dataDirectory: String, sealingKey: [UInt8]? = nil) throws {
        // Renewal, CA rotation and autolock changes may save from different threads: the `.new`
        // names are shared, so saves run one at a time (a second rename found its file gone).
        Self.saveLock.lock()
        defer { Self.saveLock.unlock() }
        let directory = Self.directory(in: dataDirectory)
        try FileSystem.makeDirectories(directory, mode: 0o700)
        let keyPath = directory + "/node-key.pem", certificatePath = directory + "/node-cert.pem"
        try Self.write(roots.map(\.pem).joined(), to: directory + "/ca.pem")
        try Self.writeUnrenamed(try SealedNodeKey.stored(Array(key.pem.utf8), sealingKey: sealingKey), to: keyPath + ".new")
        try Self.writeUnrenamed(chain.map(\.pem).joined(), to: certificatePath + ".new")
        try FileSystem.syncDirectory(directory)
        try FileSystem.rename(certificatePath + ".new", to: certificatePath)
        try FileSystem.rename(keyPath + ".new", to: keyPath)
        try FileSystem.syncDirectory(directory)
    }

    private static let saveLock = NSLock()

    private static func readText(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw NodeError("\(path) is missing") }
        return String(decoding: data, as: UTF8.self)
    }

    private static func readBytes(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw NodeError("\(path) is missing") }
        return Array(data)
    }

    private static func writeUnrenamed(_ text: String, to path: String) throws {
        try writeUnrenamed(Array(text.utf8), to: path)
    }

    private static func writeUnrenamed(_ bytes: [UInt8], to path: String) throws {
        try? FileSystem.remove(path)
        let file = try File.create(path, mode: 0o600)
        try file.write(bytes, at: 0)
        try file.sync()
    }

    private static func write(_ text: String, to path: String) throws {
        try writeUnrenamed(text, to: path + ".tmp")
        try FileSystem.rename(path + ".tmp", to: path)
    }
}

/// The cluster CA operations a manager performs with the root from the replicated state. It
/// exists so every signing path (init, join, renewal, role change, rotation) names the subject
/// the same way: CN = node id, OU = role, O = cluster id.
enum ClusterSigner {
    /// Root validity: 20 years, as Docker swarm.
    static let rootValiditySeconds: Int64 = 20 * 365 * 86_400
    /// Node certificates: 90 days unless the cluster spec says otherwise.
    static let defaultNodeValiditySeconds: Int64 = 90 * 86_400
    /// The shortest validity a cluster accepts (Docker's minimum)...
    public static let minimumNodeValiditySeconds: Int64 = 3_600
    /// ...and on a test cluster (nodes run with `enable-chaos`), so renewal can be exercised in a
    /// minute: renewal at 30-48 s leaves time for a retried request before expiry.
    public static let minimumTestNodeValiditySeconds: Int64 = 60

    static func createRoot(clusterID: String, now: Int64) throws -> CertificateAuthority {
        try CertificateAuthority.createRoot(commonName: "swarmctl-root-ca", organization: clusterID,
                                            validitySeconds: rootValiditySeconds, now: now)
    }

    static func subject(nodeID: String, role: NodeRole, clusterID: String) -> CertificateSubject {
        CertificateSubject(commonName: nodeID, organizationalUnit: role == .manager ? PeerIdentity.Role.manager.rawValue
                                                                                    : PeerIdentity.Role.worker.rawValue,
                           organization: clusterID)
    }

    /// Signs `csr` for `nodeID` with the signing root of `ca` (the next root during a rotation);
    /// returns the chain to present (leaf, plus the cross-signed root during a rotation) and
    /// the roots to trust.
    /// `addresses` (HOST:PORT) are the node's own: their IP literals, with loopback and
    /// `localhost`, become subjectAltNames, since the docker CLI checks a `tcp:` API's server name
    /// against them when the API serves the node's own certificate.
    static func issue(csr: CertificateSigningRequest, nodeID: String, role: NodeRole, clusterID: String, ca: ClusterCA,
                      validitySeconds: Int64, now: Int64, addresses: [String] = []) throws -> (chain: [Certificate], roots: [Certificate]) {
        let signer = try CertificateAuthority(certificate: Certificate(pem: ca.signingCertificatePEM), key: PrivateKey(pem: ca.signingKeyPEM))
        let leaf = try signer.issue(csr: csr, subject: subject(nodeID: nodeID, role: role, clusterID: clusterID),
                                    validitySeconds: validitySeconds, now: now, dnsNames: ["localhost"],
                                    ipAddresses: subjectAlternativeIPs(addresses))
        var chain = [leaf]
        if let rotation = ca.rotation { chain.append(try Certificate(pem: rotation.crossSignedCertificatePEM)) }
        return (chain, try ca.trustedRootsPEM.map(Certificate.init(pem:)))
    }

    /// Loopback plus the IP literals among `addresses` ("10.0.0.1:4242", "[::1]:4242"); host
    /// names are left out (a name is not proof of an address).
    static func subjectAlternativeIPs(_ addresses: [String]) -> [String] {
        var ips = ["127.0.0.1", "::1"]
        for address in addresses {
            var host = Substring(address)
            if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
                host = host[host.index(after: host.startIndex)..<close]
            } else if let colon = host.lastIndex(of: ":"), host.firstIndex(of: ":") == colon {
                host = host[..<colon]
            }
            let text = String(host)
            var buffer = [UInt8](repeating: 0, count: 16)
            let isIP = inet_pton(AF_INET, text, &buffer) == 1 || inet_pton(AF_INET6, text, &buffer) == 1
            if isIP, !ips.contains(text), text != "0.0.0.0", text != "::" { ips.append(text) }
        }
        return ips
    }

    /// The node certificate validity the cluster spec asks for.
    static func nodeValiditySeconds(_ spec: ClusterSpec?) -> Int64 {
        guard let nanoseconds = spec?.caConfig?.nodeCertExpiry, nanoseconds > 0 else { return defaultNodeValiditySeconds }
        return max(minimumTestNodeValiditySeconds, nanoseconds / 1_000_000_000)
    }
}

extension Clock {
    /// Unix seconds of the true wall clock (no chaos skew): what OpenSSL checks certificates at.
    static func unixSeconds() -> Int64 { Int64(Date().timeIntervalSince1970) }
}
