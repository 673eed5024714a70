import API
import Crypto
import Foundation
import Platform

/// The CLI's TLS settings for a `tcp:` API, read like the docker CLI reads them: `--tlsverify`,
/// `--tlscacert`, `--tlscert`, `--tlskey` before the command, or `DOCKER_TLS_VERIFY` with the
/// `ca.pem cert.pem key.pem` files in `DOCKER_CERT_PATH` (default ~/.docker).
///
/// It exists so `swarmctl` reaches a node that serves its API like `dockerd --tlsverify`, with
/// the same files `swarmctl client-cert --out DIR` writes and the docker CLI uses.
enum ClientTLS {
    /// The global flags, stored in the environment for this process (as `-H` is).
    static let flagVariables = ["--tlsverify": "SWARMCTL_TLS_VERIFY", "--tlscacert": "SWARMCTL_TLS_CACERT",
                                "--tlscert": "SWARMCTL_TLS_CERT", "--tlskey": "SWARMCTL_TLS_KEY"]

    /// The TLS client settings for `host`, nil when TLS is not asked for.
    static func settings(for address: SocketAddress, environment: [String: String]) throws -> HTTPClientTLS? {
        let explicit = ["SWARMCTL_TLS_CACERT", "SWARMCTL_TLS_CERT", "SWARMCTL_TLS_KEY"].contains { environment[$0] != nil }
        let verify = environment["SWARMCTL_TLS_VERIFY"] != nil || !(environment["DOCKER_TLS_VERIFY"] ?? "").isEmpty
        guard verify || explicit else { return nil }
        guard case let .tcp(ipv4, _) = address else {
            if environment["SWARMCTL_TLS_VERIFY"] != nil || explicit {
                throw UsageError(message: "--tlsverify/--tlscacert/--tlscert/--tlskey apply to tcp: hosts, not \(address): drop them or pass -H tcp:HOST:PORT")
            }
            return nil   // DOCKER_TLS_VERIFY in the environment, as docker, does not apply to unix sockets
        }
        let home = environment["HOME"] ?? "/root"
        let directory = environment["DOCKER_CERT_PATH"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.docker"
        let caPath = environment["SWARMCTL_TLS_CACERT"] ?? directory + "/ca.pem"
        let certificatePath = environment["SWARMCTL_TLS_CERT"] ?? directory + "/cert.pem"
        let keyPath = environment["SWARMCTL_TLS_KEY"] ?? directory + "/key.pem"
        do {
            let roots = try Certificate.parseChain(pem: try read(caPath, "--tlscacert"))
            let chain = try Certificate.parseChain(pem: try read(certificatePath, "--tlscert"))
            let key = try PrivateKey(pem: try read(keyPath, "--tlskey"))
            let context = try TLSContext(role: .client, identity: TLSIdentity(chain: chain, key: key), trustedRoots: roots,
                                         peerVerification: .required)
            let serverName = [24, 16, 8, 0].map { String((ipv4 >> $0) & 0xff) }.joined(separator: ".")
            return HTTPClientTLS(context: context, serverName: serverName)
        } catch let error as UsageError {
            throw error
        } catch {
            throw UsageError(message: "TLS files \(caPath), \(certificatePath), \(keyPath): \(error): "
                             + "get them with 'swarmctl client-cert --out DIR' on a manager and set DOCKER_CERT_PATH=DIR")
        }
    }

    private static func read(_ path: String, _ flag: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UsageError(message: "\(flag) \(path): cannot read it: pass \(flag) FILE or set DOCKER_CERT_PATH to the directory "
                             + "holding ca.pem, cert.pem and key.pem")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
