import COpenSSL
import CCryptoShim

/// A PKCS#10 request: how a joining node proves it holds the key it wants certified without
/// ever sending the key. The CA ignores the requested subject and assigns its own.
public struct CertificateSigningRequest: Sendable, Equatable {
    public init(key: PrivateKey, subject: CertificateSubject) throws { fatalError("unimplemented") }
    /// Parses a PEM CSR and verifies its self-signature; throws if it does not verify.
    public init(pem: String) throws { fatalError("unimplemented") }
    public var pem: String { fatalError("unimplemented") }
}
