import COpenSSL
import CCryptoShim
#if canImport(Glibc)
import Glibc
#endif

/// A root CA: certificate + key. Issues node/client certs from CSRs with the subject the CA chooses
/// (the CSR's own subject is ignored: the manager assigns the node id).
///
/// Every certificate it makes is X.509 v3, ECDSA P-256 with SHA-256, with a random 128-bit serial,
/// notBefore backdated one hour (clock skew between nodes), subject/authority key identifiers, and a
/// notAfter never later than the CA's own.
public struct CertificateAuthority: Sendable {
    public let certificate: Certificate
    public let key: PrivateKey

    /// How far back notBefore is set, so a node whose clock is behind accepts a fresh certificate.
    public static let backdateSeconds: Int64 = 3600

    /// Checks that `key` is the certificate's key and that the certificate is a CA.
    public init(certificate: Certificate, key: PrivateKey) throws {
        guard certificate.isCertificateAuthority else {
            throw CryptoError("CA: certificate \(certificate.subject.commonName) is not a CA certificate (basicConstraints CA:TRUE missing)")
        }
        let matches = try OpenSSL.withX509(certificate) { x509 in
            try OpenSSL.withKey(key) { pkey in X509_check_private_key(x509, pkey) == 1 }
        }
        ERR_clear_error()
        guard matches else { throw CryptoError("CA: the private key does not belong to certificate \(certificate.subject.commonName)") }
        self.certificate = certificate
        self.key = key
    }

    private init(verified certificate: Certificate, key: PrivateKey) {
        self.certificate = certificate
        self.key = key
    }

    /// A new self-signed root with a fresh P-256 key: CN = `commonName`, O = `organization`.
    public static func createRoot(commonName: String, organization: String, validitySeconds: Int64, now: Int64) throws -> CertificateAuthority {
        let key = try PrivateKey.generateP256()
        let subject = CertificateSubject(commonName: commonName, organization: organization)
        let certificate = try OpenSSL.withKey(key) { pkey in
            try build(subject: subject, publicKey: pkey, issuerName: nil, issuerCertificate: nil, signer: pkey,
                      notBefore: now - backdateSeconds, notAfter: try expiry(now: now, validitySeconds: validitySeconds, cap: nil),
                      extensions: caExtensions)
        }
        return CertificateAuthority(verified: certificate, key: key)
    }

    /// A leaf certificate for the CSR's key with `subject` (CN = node id, OU = role, O = cluster id),
    /// usable as both TLS server and client. `dnsNames`/`ipAddresses` become subjectAltName entries
    /// (needed by clients that check the server's name, e.g. the docker CLI for a `tcp:` API).
    public func issue(csr: CertificateSigningRequest, subject: CertificateSubject, validitySeconds: Int64, now: Int64,
                      dnsNames: [String] = [], ipAddresses: [String] = []) throws -> Certificate {
        var extensions = Self.leafExtensions
        if let names = try Self.subjectAlternativeNames(dnsNames: dnsNames, ipAddresses: ipAddresses) {
            extensions.append((NID_subject_alt_name, names))
        }
        let notAfter = try Self.expiry(now: now, validitySeconds: validitySeconds, cap: certificate.notAfter)
        return try csr.withRequest { request in
            guard let publicKey = X509_REQ_get0_pubkey(request) else { throw OpenSSL.error("CA: the request has no public key") }
            return try sign(subject: subject, publicKey: publicKey, notBefore: now - Self.backdateSeconds, notAfter: notAfter,
                            extensions: extensions)
        }
    }

    /// For root rotation: `newRoot`'s subject and public key, signed by this (old) root, so nodes that
    /// trust only the old root accept chains of the new one during the rotation.
    public func crossSign(_ newRoot: Certificate, validitySeconds: Int64, now: Int64) throws -> Certificate {
        guard newRoot.isCertificateAuthority else {
            throw CryptoError("CA: cannot cross-sign \(newRoot.subject.commonName): it is not a CA certificate")
        }
        let notAfter = try Self.expiry(now: now, validitySeconds: validitySeconds, cap: certificate.notAfter)
        return try OpenSSL.withX509(newRoot) { newX509 in
            guard let publicKey = X509_get0_pubkey(newX509) else { throw OpenSSL.error("CA: the new root has no public key") }
            return try sign(subject: newRoot.subject, publicKey: publicKey, notBefore: now - Self.backdateSeconds,
                            notAfter: notAfter, extensions: Self.caExtensions)
        }
    }

    // MARK: Building

    private static let caExtensions: [(Int32, String)] = [
        (NID_basic_constraints, "critical,CA:TRUE"),
        (NID_key_usage, "critical,keyCertSign,cRLSign"),
        (NID_subject_key_identifier, "hash"),
        (NID_authority_key_identifier, "keyid:always"),
    ]

    private static let leafExtensions: [(Int32, String)] = [
        (NID_basic_constraints, "critical,CA:FALSE"),
        (NID_key_usage, "critical,digitalSignature"),
        (NID_ext_key_usage, "serverAuth,clientAuth"),
        (NID_subject_key_identifier, "hash"),
        (NID_authority_key_identifier, "keyid:always"),
    ]

    /// Signs a certificate for `publicKey` with this CA's key and name.
    private func sign(subject: CertificateSubject, publicKey: OpaquePointer, notBefore: Int64, notAfter: Int64,
                      extensions: [(Int32, String)]) throws -> Certificate {
        try OpenSSL.withX509(certificate) { caX509 in
            try OpenSSL.withKey(key) { caKey in
                try Self.build(subject: subject, publicKey: publicKey, issuerName: X509_get_subject_name(caX509), issuerCertificate: caX509,
                               signer: caKey, notBefore: notBefore, notAfter: notAfter, extensions: extensions)
            }
        }
    }

    /// Builds and signs one certificate. A nil issuer means self-signed.
    private static func build(subject: CertificateSubject, publicKey: OpaquePointer, issuerName: OpaquePointer?,
                              issuerCertificate: OpaquePointer?, signer: OpaquePointer, notBefore: Int64, notAfter: Int64,
                              extensions: [(Int32, String)]) throws -> Certificate {
        let name = try OpenSSL.makeName(subject)
        defer { X509_NAME_free(name) }
        guard let x509 = X509_new() else { throw OpenSSL.error("X509_new") }
        defer { X509_free(x509) }
        ERR_clear_error()
        guard X509_set_version(x509, 2) == 1 else { throw OpenSSL.error("X509_set_version") }   // 2 means v3
        try setRandomSerial(x509)
        guard let notBeforeField = X509_getm_notBefore(x509), ASN1_TIME_set(notBeforeField, time_t(notBefore)) != nil,
              let notAfterField = X509_getm_notAfter(x509), ASN1_TIME_set(notAfterField, time_t(notAfter)) != nil else {
            throw OpenSSL.error("certificate validity")
        }
        guard X509_set_subject_name(x509, name) == 1, X509_set_issuer_name(x509, issuerName ?? name) == 1,
              X509_set_pubkey(x509, publicKey) == 1 else { throw OpenSSL.error("certificate names and key") }
        for (nid, value) in extensions {
            try OpenSSL.addExtension(x509, issuer: issuerCertificate ?? x509, nid: nid, value)
        }
        guard X509_sign(x509, signer, EVP_sha256()) > 0 else { throw OpenSSL.error("signing a certificate") }
        return try Certificate(x509: x509)
    }

    /// 16 random bytes as a positive serial (RFC 5280 allows up to 20 octets).
    private static func setRandomSerial(_ x509: OpaquePointer) throws {
        var bytes = try Crypto.randomBytes(16)
        if bytes.allSatisfy({ $0 == 0 }) { bytes[15] = 1 }   // a serial must be positive
        guard let number = BN_bin2bn(bytes, Int32(bytes.count), nil) else { throw OpenSSL.error("BN_bin2bn") }
        defer { BN_free(number) }
        guard BN_to_ASN1_INTEGER(number, X509_get_serialNumber(x509)) != nil else { throw OpenSSL.error("certificate serial") }
    }

    /// now + validity, no later than `cap` (the issuer's own expiry).
    private static func expiry(now: Int64, validitySeconds: Int64, cap: Int64?) throws -> Int64 {
        guard validitySeconds > 0 else { throw CryptoError("certificate validity must be positive, got \(validitySeconds) s") }
        let (end, overflow) = now.addingReportingOverflow(validitySeconds)
        guard !overflow, end < 253_402_300_800 else {   // 9999-12-31, the X.509 limit
            throw CryptoError("certificate validity of \(validitySeconds) s ends after the year 9999")
        }
        return cap.map { min(end, $0) } ?? end
    }

    /// "DNS:a,IP:127.0.0.1", or nil when both lists are empty; refuses names that are not plain hostnames or IPs.
    private static func subjectAlternativeNames(dnsNames: [String], ipAddresses: [String]) throws -> String? {
        var entries: [String] = []
        for name in dnsNames {
            let allowed = name.utf8.allSatisfy { byte in
                (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x30 && byte <= 0x39)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "*")
            }
            guard !name.isEmpty, name.utf8.count <= 253, allowed else {
                throw CryptoError("certificate: \"\(name)\" is not a DNS name (letters, digits, '-', '.', '*')")
            }
            entries.append("DNS:\(name)")
        }
        for address in ipAddresses {
            var buffer = [UInt8](repeating: 0, count: 16)
            guard inet_pton(AF_INET, address, &buffer) == 1 || inet_pton(AF_INET6, address, &buffer) == 1 else {
                throw CryptoError("certificate: \"\(address)\" is not an IPv4 or IPv6 address")
            }
            entries.append("IP:\(address)")
        }
        return entries.isEmpty ? nil : entries.joined(separator: ",")
    }
}
