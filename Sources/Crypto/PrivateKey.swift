import COpenSSL
import CCryptoShim

/// A P-256 (prime256v1) private key. Node and CA keys are all of this one kind so that every
/// signature in the cluster is ECDSA P-256 with SHA-256 and nothing negotiates weaker algorithms.
/// Held as its canonical PKCS#8 PEM text (what OpenSSL writes), so equality is key equality.
public struct PrivateKey: Sendable, Equatable {
    /// PKCS#8 PEM, unencrypted. Whoever writes it to disk must make the file 0600.
    public let pem: String

    public static func generateP256() throws -> PrivateKey {
        ERR_clear_error()
        guard let pkey = ccs_generate_p256() else { throw OpenSSL.error("generating a P-256 key") }
        defer { EVP_PKEY_free(pkey) }
        return try PrivateKey(pkey: pkey)
    }

    /// Parses an unencrypted PEM private key (PKCS#8 or SEC1 "EC PRIVATE KEY"); anything but a
    /// P-256 key, and any encrypted key, is refused.
    public init(pem: String) throws {
        let pkey = try PrivateKey.parse(pem: pem)
        defer { EVP_PKEY_free(pkey) }
        try self.init(pkey: pkey)
    }

    /// Canonicalises an EVP_PKEY (not consumed) into PKCS#8 PEM.
    init(pkey: OpaquePointer) throws {
        guard ccs_key_is_p256(pkey) == 1 else { throw CryptoError("private key: not a P-256 (prime256v1) EC key") }
        pem = try OpenSSL.writeText("private key: writing PKCS#8 PEM") { bio in
            PEM_write_bio_PrivateKey(bio, pkey, nil, nil, 0, nil, nil)
        }
    }

    /// A new EVP_PKEY (caller frees) from PEM; refuses encrypted keys without prompting.
    static func parse(pem: String) throws -> OpaquePointer {
        let bytes = try OpenSSL.pemBytes(pem, what: "private key")
        return try OpenSSL.withMemoryBIO(containing: bytes) { bio in
            ERR_clear_error()
            // A passphrase callback that refuses, so an encrypted key fails instead of reading a tty.
            let refusePassphrase: @convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = { _, _, _, _ in -1 }
            guard let pkey = PEM_read_bio_PrivateKey(bio, nil, refusePassphrase, nil) else {
                throw OpenSSL.error("private key: not an unencrypted PEM private key")
            }
            guard ccs_key_is_p256(pkey) == 1 else {
                EVP_PKEY_free(pkey)
                throw CryptoError("private key: not a P-256 (prime256v1) EC key")
            }
            return pkey
        }
    }
}
