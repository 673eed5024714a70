import COpenSSL
import CCryptoShim

/// An X.509 certificate, held as its DER bytes (equality and hashing are on the DER) with the
/// fields the cluster reads (subject, validity, CA flag) decoded once when it is created.
public struct Certificate: Sendable, Equatable, Hashable {
    public let der: [UInt8]
    public init(pem: String) throws { fatalError("unimplemented") }
    public init(der: [UInt8]) throws { fatalError("unimplemented") }
    public var pem: String { fatalError("unimplemented") }
    public var subject: CertificateSubject { fatalError("unimplemented") }
    public var issuer: CertificateSubject { fatalError("unimplemented") }
    /// Unix seconds.
    public var notBefore: Int64 { fatalError("unimplemented") }
    /// Unix seconds.
    public var notAfter: Int64 { fatalError("unimplemented") }
    /// Lowercase hex.
    public var serialNumber: String { fatalError("unimplemented") }
    /// SHA-256 of `der`.
    public var sha256Digest: [UInt8] { fatalError("unimplemented") }
    public var isCertificateAuthority: Bool { fatalError("unimplemented") }
    /// Every certificate in a text holding several PEM blocks, in order.
    public static func parseChain(pem: String) throws -> [Certificate] { fatalError("unimplemented") }
    /// Verifies leaf against roots (with optional intermediates, e.g. a cross-signed root) at `time`;
    /// throws with OpenSSL's reason ("certificate has expired", "unable to get local issuer certificate").
    public static func verify(_ leaf: Certificate, intermediates: [Certificate], roots: [Certificate], at time: Int64) throws {
        fatalError("unimplemented")
    }
    public static func == (lhs: Certificate, rhs: Certificate) -> Bool { lhs.der == rhs.der }
    public func hash(into hasher: inout Hasher) { hasher.combine(der) }
}
