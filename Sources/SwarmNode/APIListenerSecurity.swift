import API
import Crypto
import Foundation
import Glibc
import Platform

/// How the node's API listener is protected, decided from the configuration before it listens.
///
/// It exists because whoever reaches the API is root on every node (a service runs any command
/// as root): a unix socket is 0660 and owned by root (optionally by an `api-group`, like dockerd
/// `-G`), and a `tcp:` address needs TLS with client certificates (`api-tlscert`, `api-tlskey`,
/// `api-tlscacert`, or the node's own cluster certificate) unless `api-insecure` says to accept
/// anyone who can connect — which is then warned about at every start.
struct APIListenerSecurity: Equatable {
    /// Certificate files for a TLS listener (PEM).
    struct TLSFiles: Equatable {
        var certificate: String
        var key: String
        var clientCA: String
    }

    var unixPermissions = Socket.UnixPermissions(mode: 0o660)
    var tls: TLSFiles?
    /// With the node's own cluster certificate, only client certificates (`swarmctl client-cert`)
    /// and managers may use the API: a worker's certificate must not make it root on the cluster.
    var allowedClientUnits: Set<String>?
    /// Set when a TCP listener runs without TLS: logged at every start.
    var insecureWarning: String?

    /// Where the cluster certificate of this node is kept (written by the cluster-TLS layer).
    static func nodeCertificateFiles(in dataDirectory: String) -> TLSFiles {
        let directory = dataDirectory + "/certificates"
        return TLSFiles(certificate: directory + "/node-cert.pem", key: directory + "/node-key.pem", clientCA: directory + "/ca.pem")
    }

    /// True once `init` and `join` write this node's cluster certificate (DATA/certificates)
    /// before the API starts; until then a `tcp:` API needs the explicit api-tls* files.
    static let nodeCertificateIssuedAtJoin = true

    /// Checks the settings before a node is created, so a refused API leaves no data dir behind.
    static func check(_ configuration: NodeConfiguration, dataDirectory: String) throws {
        guard let apiAddress = configuration.apiAddress, !apiAddress.isEmpty else { return }
        let security = try resolve(apiAddress: apiAddress, configuration: configuration, dataDirectory: dataDirectory,
                                   nodeCertificateComing: nodeCertificateIssuedAtJoin)
        if let files = security.tls, files != nodeCertificateFiles(in: dataDirectory) { _ = try serverContext(files) }
    }

    /// Resolves the settings for `apiAddress`; throws a message naming the setting to change.
    /// `nodeCertificateComing`: the node's own certificate will exist by the time the API starts.
    static func resolve(apiAddress: String, configuration: NodeConfiguration, dataDirectory: String,
                        nodeCertificateComing: Bool = false) throws -> APIListenerSecurity {
        let address: SocketAddress
        do {
            address = try SocketAddress(parsing: apiAddress)
        } catch {
            throw NodeError("api-addr \(apiAddress): \(error): use unix:PATH or tcp:HOST:PORT")
        }
        var security = APIListenerSecurity()
        switch address {
        case .unix:
            if configuration.apiTLSCert != nil || configuration.apiInsecure {
                throw NodeError("api-addr \(apiAddress) is a unix socket: api-tlscert/api-insecure apply to tcp: addresses only; drop them")
            }
            if let group = configuration.apiGroup { security.unixPermissions.group = try groupID(group) }
        case .tcp:
            if configuration.apiGroup != nil {
                throw NodeError("api-group applies to a unix: api-addr only, not \(apiAddress): drop --api-group or use unix:PATH")
            }
            if configuration.apiInsecure {
                security.insecureWarning = "API on \(apiAddress) WITHOUT TLS (--api-insecure): anyone who can connect to it "
                    + "(local users, containers, web pages) can run commands as root on every node; "
                    + "use --api-tlscert/--api-tlskey/--api-tlscacert instead"
            } else if let certificate = configuration.apiTLSCert, let key = configuration.apiTLSKey, let ca = configuration.apiTLSCACert {
                security.tls = TLSFiles(certificate: certificate, key: key, clientCA: ca)
            } else {
                let own = nodeCertificateFiles(in: dataDirectory)
                guard nodeCertificateComing || [own.certificate, own.key, own.clientCA].allSatisfy(FileSystem.exists) else {
                    throw NodeError("api-addr \(apiAddress) would serve the API without TLS: give --api-tlscert, --api-tlskey and "
                                    + "--api-tlscacert (clients then need a certificate from that CA), or --api-insecure to let "
                                    + "anyone who can connect run commands as root")
                }
                security.tls = own
                security.allowedClientUnits = allowedClusterUnits
            }
            if let files = security.tls, !(nodeCertificateComing && files == nodeCertificateFiles(in: dataDirectory)) {
                for (key, path) in [("api-tlscert", files.certificate), ("api-tlskey", files.key), ("api-tlscacert", files.clientCA)]
                where !FileSystem.exists(path) {
                    throw NodeError("\(key) \(path): no such file: give the PEM file's path")
                }
            }
        }
        return security
    }

    /// OUs of cluster-CA certificates admitted to the API: clients and managers, never workers.
    static let allowedClusterUnits: Set<String> = ["client", "swarm-manager"]

    /// The server context for `files`: the chain to present, its key, and the CA client
    /// certificates must chain to (required, like dockerd --tlsverify).
    static func serverContext(_ files: TLSFiles) throws -> TLSContext {
        func text(_ path: String, _ key: String) throws -> String {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw NodeError("\(key) \(path): cannot read it: check the path and permissions")
            }
            return String(decoding: data, as: UTF8.self)
        }
        do {
            let chain = try Certificate.parseChain(pem: try text(files.certificate, "api-tlscert"))
            let key = try PrivateKey(pem: try text(files.key, "api-tlskey"))
            let roots = try Certificate.parseChain(pem: try text(files.clientCA, "api-tlscacert"))
            return try TLSContext(role: .server, identity: TLSIdentity(chain: chain, key: key), trustedRoots: roots, peerVerification: .required)
        } catch let error as NodeError {
            throw error
        } catch {
            throw NodeError("cannot serve the API over TLS with \(files.certificate), \(files.key) and \(files.clientCA): \(error) "
                            + "(PEM files; the key must be ECDSA P-256)")
        }
    }

    /// A group name or number, as `chown :GROUP` takes it.
    static func groupID(_ name: String) throws -> gid_t {
        if let number = UInt32(name) { return gid_t(number) }
        var group = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        let code = getgrnam_r(name, &group, &buffer, buffer.count, &result)
        guard code == 0, result != nil else {
            throw NodeError("api-group \(name): no such group: create it (groupadd \(name)) or name an existing group")
        }
        return group.gr_gid
    }
}

extension SwarmNode {
    /// Puts the resolved listener protection into the API server's settings; logs the warning
    /// of an insecure TCP listener.
    func applyAPISecurity(to serverConfiguration: inout HTTPServerConfiguration) throws {
        let security = try APIListenerSecurity.resolve(apiAddress: identity.apiAddress, configuration: configuration,
                                                       dataDirectory: dataDirectory)
        if let warning = security.insecureWarning { logger.warn(warning) }
        serverConfiguration.unixPermissions = security.unixPermissions
        if let files = security.tls {
            serverConfiguration.tls = try apiServerContext(files)
            serverConfiguration.allowedClientUnits = security.allowedClientUnits
            if security.allowedClientUnits != nil {
                serverConfiguration.authorizeClient = { [weak self] leaf in self?.apiClientRefusal(leaf) }
            }
            logger.info("API over TLS with \(files.certificate); client certificates from \(files.clientCA) required"
                        + (security.allowedClientUnits.map { " (OU \($0.sorted().joined(separator: " or ")))" } ?? ""))
        }
    }
}

extension SwarmNode {
    /// Re-reads the API's TLS files (after the node certificate was renewed or reissued) and
    /// serves new API connections with them. Call on the loop; a failure is logged and the
    /// previous certificate stays in use.
    func reloadAPITLS() {
        guard let apiServer = api?.server, !identity.apiAddress.isEmpty,
              let security = try? APIListenerSecurity.resolve(apiAddress: identity.apiAddress, configuration: configuration,
                                                              dataDirectory: dataDirectory),
              let files = security.tls else { return }
        do {
            apiServer.replaceTLS(try apiServerContext(files))
            logger.info("API TLS reloaded from \(files.certificate)")
        } catch {
            logger.warn("API TLS not reloaded, the previous certificate stays in use: \(error)")
        }
    }
}

extension SwarmNode {
    /// The API's server context: the node's own certificate from memory (its key file may be
    /// sealed under a locked manager's keys), other files as given.
    func apiServerContext(_ files: APIListenerSecurity.TLSFiles) throws -> TLSContext {
        guard files == APIListenerSecurity.nodeCertificateFiles(in: dataDirectory) else { return try APIListenerSecurity.serverContext(files) }
        return try TLSContext(role: .server, identity: TLSIdentity(chain: certificates.chain, key: certificates.key),
                              trustedRoots: certificates.roots, peerVerification: .required)
    }
}

extension SwarmNode {
    /// Why a cluster-CA certificate may not use the API beyond its OU, on the loop: a removed
    /// node's certificate is refused (the deny list in the replicated state). Nil: allowed.
    func apiClientRefusal(_ leaf: Certificate) -> String? {
        let id = leaf.subject.commonName
        return state.isDenied(nodeID: id) ? "node \(id) was removed from the cluster: its certificate is no longer accepted" : nil
    }
}
