import API
import ClusterState
import Crypto
import Glibc

/// Signs API client certificates with the cluster CA.
///
/// It exists as the seam between `swarmctl client-cert` (key made on the client, CSR through the
/// API) and the cluster CA, whose root certificate and key live in the replicated state on
/// managers (the cluster-TLS layer). The node's `clientCertificateSigner` returns one when the
/// cluster has a CA.
protocol ClientCertificateSigner {
    /// Signs `csr` for `subject`; returns the chain to present (leaf first) and the roots to trust.
    func sign(_ csr: CertificateSigningRequest, subject: CertificateSubject, validitySeconds: Int64,
              now: Int64) throws -> (chain: [Certificate], roots: [Certificate])
}

extension SwarmNode {
    /// API client certificates last 90 days, as node certificates do by default; they are not
    /// renewed automatically: run `swarmctl client-cert` again.
    static let clientCertificateValiditySeconds: Int64 = 90 * 86_400

    /// The cluster CA in the replicated state (managers only), nil before it has arrived.
    var clientCertificateSigner: (any ClientCertificateSigner)? { state.secrets?.ca.map(ClusterCASigner.init) }

    /// Issues an API client certificate: CN client-<random>, OU client, O the cluster id.
    public func issueClientCertificate(_ csr: CertificateSigningRequest,
                                       _ done: @escaping (Result<ClientCertificateResponse, APIError>) -> Void) {
        guard raft != nil else { return done(.failure(.notManager)) }
        guard let signer = clientCertificateSigner, let clusterID = state.cluster?.id else {
            return done(.failure(APIError(status: 503, "this cluster has no certificate authority yet, so it cannot issue client "
                                          + "certificates: serve the API with --api-tlscert/--api-tlskey/--api-tlscacert from your own CA")))
        }
        do {
            let subject = CertificateSubject(commonName: "client-" + (try RandomID.base36(count: 16)), organizationalUnit: "client",
                                             organization: clusterID)
            let (chain, roots) = try signer.sign(csr, subject: subject, validitySeconds: Self.clientCertificateValiditySeconds,
                                                 now: Int64(time(nil)))   // true wall clock: what OpenSSL checks
            logger.info("audit: issued API client certificate CN=\(subject.commonName) serial \(chain[0].serialNumber) "
                        + "expiring \(chain[0].notAfter)")
            done(.success(ClientCertificateResponse(certificate: chain.map(\.pem).joined(), ca: roots.map(\.pem).joined())))
        } catch {
            done(.failure(APIError(status: 500, "cannot sign the client certificate: \(error)")))
        }
    }
}

extension SwarmNode {
    /// Privileged API actions, one line each with the client that asked.
    public func audit(_ line: String) {
        logger.info("audit: \(line)")
    }
}

/// Signs API client certificates with the cluster's signing root (the next root during a
/// rotation, with the cross-signed certificate in the chain), as node certificates are signed.
struct ClusterCASigner: ClientCertificateSigner {
    let ca: ClusterCA

    func sign(_ csr: CertificateSigningRequest, subject: CertificateSubject, validitySeconds: Int64,
              now: Int64) throws -> (chain: [Certificate], roots: [Certificate]) {
        let signer = try CertificateAuthority(certificate: Certificate(pem: ca.signingCertificatePEM), key: PrivateKey(pem: ca.signingKeyPEM))
        var chain = [try signer.issue(csr: csr, subject: subject, validitySeconds: validitySeconds, now: now)]
        if let rotation = ca.rotation { chain.append(try Certificate(pem: rotation.crossSignedCertificatePEM)) }
        return (chain, try ca.trustedRootsPEM.map(Certificate.init(pem:)))
    }
}
