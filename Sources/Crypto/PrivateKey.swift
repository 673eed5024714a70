import COpenSSL
import CCryptoShim

/// A P-256 (prime256v1) private key. Node and CA keys are all of this one kind so that every
/// signature in the cluster is ECDSA P-256 with SHA-256 and nothing negotiates weaker algorithms.
public struct PrivateKey: Sendable, Equatable {
    public static func generateP256() throws -> PrivateKey { fatalError("unimplemented") }
    /// Parses an unencrypted PEM private key (PKCS#8 or SEC1); anything but P-256 is refused.
    public init(pem: String) throws { fatalError("unimplemented") }
    /// PKCS#8 PEM, unencrypted.
    public var pem: String { fatalError("unimplemented") }
}
