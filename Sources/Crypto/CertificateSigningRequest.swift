import COpenSSL
import CCryptoShim

/// A PKCS#10 request: how a joining node proves it holds the key it wants certified without
/// ever sending the key. The CA ignores the requested subject and assigns its own.
public struct CertificateSigningRequest: Sendable, Equatable {
    /// DER encoding of the request.
    public let der: [UInt8]
    /// The subject the requester asked for (informational only: the CA assigns the real one).
    public let requestedSubject: CertificateSubject

    /// A request for `key`'s public key, signed with `key` (ECDSA with SHA-256).
    public init(key: PrivateKey, subject: CertificateSubject) throws {
        let name = try OpenSSL.makeName(subject)
        defer { X509_NAME_free(name) }
        guard let request = X509_REQ_new() else { throw OpenSSL.error("X509_REQ_new") }
        defer { X509_REQ_free(request) }
        try OpenSSL.withKey(key) { pkey in
            ERR_clear_error()
            guard X509_REQ_set_version(request, 0) == 1, X509_REQ_set_subject_name(request, name) == 1,
                  X509_REQ_set_pubkey(request, pkey) == 1 else { throw OpenSSL.error("building a certificate request") }
            guard X509_REQ_sign(request, pkey, EVP_sha256()) > 0 else { throw OpenSSL.error("signing a certificate request") }
        }
        der = try Self.encode(request)
        requestedSubject = subject
    }

    /// Parses a PEM CSR and verifies its self-signature; throws if it does not verify or its key is not P-256.
    public init(pem: String) throws {
        let bytes = try OpenSSL.pemBytes(pem, what: "certificate request")
        let request: OpaquePointer = try OpenSSL.withMemoryBIO(containing: bytes) { bio in
            ERR_clear_error()
            guard let request = PEM_read_bio_X509_REQ(bio, nil, nil, nil) else {
                throw OpenSSL.error("certificate request: not a PEM certificate request")
            }
            return request
        }
        defer { X509_REQ_free(request) }
        try Self.verifySignature(request)
        der = try Self.encode(request)
        requestedSubject = OpenSSL.subject(of: X509_REQ_get_subject_name(request))
    }

    public var pem: String {
        // The DER came from OpenSSL and verified, so re-reading it cannot fail short of memory exhaustion.
        guard let text = try? withRequest({ request in
            try OpenSSL.writeText("certificate request: writing PEM") { PEM_write_bio_X509_REQ($0, request) }
        }) else { preconditionFailure("a verified certificate request could not be re-encoded as PEM") }
        return text
    }

    /// Runs `body` with a freshly parsed, signature-checked X509_REQ; frees it afterwards.
    func withRequest<T>(_ body: (OpaquePointer) throws -> T) throws -> T {
        ERR_clear_error()
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_X509_REQ(nil, &cursor, buffer.count)
        }
        guard let request = parsed else { throw OpenSSL.error("certificate request: invalid DER") }
        defer { X509_REQ_free(request) }
        try Self.verifySignature(request)
        return try body(request)
    }

    private static func verifySignature(_ request: OpaquePointer) throws {
        ERR_clear_error()
        guard let publicKey = X509_REQ_get0_pubkey(request) else { throw OpenSSL.error("certificate request: no public key") }
        guard ccs_key_is_p256(publicKey) == 1 else { throw CryptoError("certificate request: the key is not a P-256 (prime256v1) EC key") }
        guard X509_REQ_verify(request, publicKey) == 1 else {
            throw CryptoError("certificate request: its signature does not verify (\(OpenSSL.drainErrors(fallback: "bad signature"))): it was altered or not signed by its key")
        }
    }

    private static func encode(_ request: OpaquePointer) throws -> [UInt8] {
        ERR_clear_error()
        let length = i2d_X509_REQ(request, nil)
        guard length > 0 else { throw OpenSSL.error("certificate request: DER encoding") }
        var bytes = [UInt8](repeating: 0, count: Int(length))
        let written = bytes.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor = buffer.baseAddress
            return i2d_X509_REQ(request, &cursor)
        }
        guard written == length else { throw OpenSSL.error("certificate request: DER encoding") }
        return bytes
    }
}
