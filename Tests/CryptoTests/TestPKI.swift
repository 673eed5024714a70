import Crypto
#if canImport(Glibc)
import Glibc
#endif

/// A throwaway cluster PKI for tests: one root CA and helpers to issue node identities.
struct TestPKI {
    let ca: CertificateAuthority
    let cluster: String

    static var now: Int64 { Int64(time(nil)) }

    init(cluster: String = "cluster-a", now: Int64 = TestPKI.now, validity: Int64 = 365 * 86_400) throws {
        ca = try CertificateAuthority.createRoot(commonName: "swarm-ca", organization: cluster, validitySeconds: validity, now: now)
        self.cluster = cluster
    }

    /// A node identity: CN = node id, OU = role, O = cluster id.
    func identity(node: String, role: String = "swarm-manager", now: Int64 = TestPKI.now,
                  validity: Int64 = 90 * 86_400) throws -> TLSIdentity {
        let key = try PrivateKey.generateP256()
        let csr = try CertificateSigningRequest(key: key, subject: CertificateSubject(commonName: "requested"))
        let certificate = try ca.issue(csr: csr, subject: CertificateSubject(commonName: node, organizationalUnit: role, organization: cluster),
                                       validitySeconds: validity, now: now)
        return TLSIdentity(chain: [certificate], key: key)
    }
}

/// Two sessions connected in memory: what one writes the other receives.
final class TLSPair {
    let client: TLSSession
    let server: TLSSession
    /// Application data each side received.
    var clientReceived: [UInt8] = []
    var serverReceived: [UInt8] = []
    /// The first error each side threw, if any.
    var clientError: TLSError?
    var serverError: TLSError?
    /// Bytes the server wrote after its handshake completed (session tickets would show up here).
    var serverBytesAfterHandshake = 0

    init(client: TLSContext, server: TLSContext, serverName: String? = nil) throws {
        self.client = try TLSSession(context: client, serverName: serverName)
        self.server = try TLSSession(context: server)
    }

    /// Runs the handshake until neither side has anything more to say (bounded rounds).
    func handshake() {
        do { try client.start() } catch { clientError = error }
        pump()
    }

    /// Moves bytes both ways until quiet or a side failed to consume them.
    func pump() {
        for _ in 0..<16 {
            let toServer = client.takeOutgoing()
            if !toServer.isEmpty && serverError == nil {
                do { serverReceived += try server.receive(toServer) } catch { serverError = error }
            }
            let toClient = server.takeOutgoing()
            // The server completes on the client's Finished; anything it writes then is post-handshake.
            if server.isHandshakeComplete { serverBytesAfterHandshake += toClient.count }
            if !toClient.isEmpty && clientError == nil {
                do { clientReceived += try client.receive(toClient) } catch { clientError = error }
            }
            if toServer.isEmpty && toClient.isEmpty { return }
        }
    }
}

extension TLSError {
    var reason: String {
        switch self {
        case .handshakeFailed(let text), .protocolError(let text): text
        case .closedByPeer: "closed"
        }
    }
    var isHandshakeFailure: Bool { if case .handshakeFailed = self { true } else { false } }
}
