import COpenSSL
import CCryptoShim

/// A root CA: certificate + key. Issues node/client certs from CSRs with the subject the CA chooses
/// (the CSR's own subject is ignored: the manager assigns the node id).
public struct CertificateAuthority: Sendable {
    public let certificate: Certificate
    public let key: PrivateKey
    /// Checks that `key` is the certificate's key and that the certificate is a CA.
    public init(certificate: Certificate, key: PrivateKey) throws { fatalError("unimplemented") }
    public static func createRoot(commonName: String, organization: String, validitySeconds: Int64, now: Int64) throws -> CertificateAuthority {
        fatalError("unimplemented")
    }
    public func issue(csr: CertificateSigningRequest, subject: CertificateSubject, validitySeconds: Int64, now: Int64) throws -> Certificate {
        fatalError("unimplemented")
    }
    /// For root rotation: `newRoot`'s subject and public key, signed by this (old) root, so nodes that
    /// trust only the old root accept chains of the new one during the rotation.
    public func crossSign(_ newRoot: Certificate, validitySeconds: Int64, now: Int64) throws -> Certificate {
        fatalError("unimplemented")
    }
}
