/// Why a key, certificate, CSR or CA operation failed, with OpenSSL's reason when it gave one.
/// One error type for the whole X.509 layer so callers can print it as-is (`swarmctl: <description>`).
public struct CryptoError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
