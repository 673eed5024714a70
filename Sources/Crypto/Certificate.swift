import COpenSSL
import CCryptoShim

/// An X.509 certificate, held as its DER bytes (equality and hashing are on the DER) with the
/// fields the cluster reads (subject, validity, CA flag) decoded once when it is created. OpenSSL
/// objects are made on demand and freed at once, so a value is plain data, safe to share and store.
public struct Certificate: Sendable, Equatable, Hashable, CustomStringConvertible {
    public let der: [UInt8]
    public let subject: CertificateSubject
    public let issuer: CertificateSubject
    /// Unix seconds.
    public let notBefore: Int64
    /// Unix seconds.
    public let notAfter: Int64
    /// Lowercase hex, no leading zeros.
    public let serialNumber: String
    /// basicConstraints CA:TRUE.
    public let isCertificateAuthority: Bool

    /// Exactly one PEM certificate; use `parseChain` for several.
    public init(pem: String) throws {
        let certificates = try Certificate.parseChain(pem: pem)
        guard certificates.count == 1 else {
            throw CryptoError("certificate: expected one PEM certificate, found \(certificates.count) (use a chain parser for several)")
        }
        self = certificates[0]
    }

    public init(der: [UInt8]) throws {
        let x509 = try OpenSSL.parseCertificate(der: der)
        defer { X509_free(x509) }
        try self.init(x509: x509, der: der)
    }

    /// Decodes the fields of `x509` (not consumed) whose encoding is `der`.
    init(x509: OpaquePointer, der: [UInt8]) throws {
        self.der = der
        guard let subjectName = X509_get_subject_name(x509), let issuerName = X509_get_issuer_name(x509) else {
            throw CryptoError("certificate: missing subject or issuer name")
        }
        subject = OpenSSL.subject(of: subjectName)
        issuer = OpenSSL.subject(of: issuerName)
        notBefore = try OpenSSL.unixTime(X509_get0_notBefore(x509))
        notAfter = try OpenSSL.unixTime(X509_get0_notAfter(x509))
        serialNumber = try Certificate.serialHex(x509)
        isCertificateAuthority = ccs_x509_is_ca(x509) == 1
    }

    /// Copies an X509 the caller keeps owning.
    init(x509: OpaquePointer) throws {
        try self.init(x509: x509, der: try OpenSSL.der(ofCertificate: x509))
    }

    public var pem: String {
        // `der` parsed when this value was made, so re-reading it cannot fail short of memory exhaustion.
        guard let text = try? OpenSSL.withX509(self, { x509 in
            try OpenSSL.writeText("certificate: writing PEM") { PEM_write_bio_X509($0, x509) }
        }) else { preconditionFailure("a parsed certificate could not be re-encoded as PEM") }
        return text
    }

    /// SHA-256 of `der` (what a join token pins).
    public var sha256Digest: [UInt8] { Crypto.sha256(der) }

    /// `sha256Digest` as lowercase hex (deny lists, logs).
    public var sha256Hex: String { Crypto.hex(sha256Digest) }

    public var description: String {
        "certificate CN=\(subject.commonName) OU=\(subject.organizationalUnit ?? "-") O=\(subject.organization ?? "-") serial \(serialNumber)"
    }

    /// Whether a TLS client connecting to `host` (a DNS name or an IP address) would accept this
    /// certificate's names (subjectAltName DNS/IP entries), as the docker CLI checks a daemon's cert.
    public func matches(host: String) -> Bool {
        guard !host.isEmpty, !host.utf8.contains(0) else { return false }
        return (try? OpenSSL.withX509(self) { x509 in
            if X509_check_ip_asc(x509, host, 0) == 1 { return true }
            return X509_check_host(x509, host, host.utf8.count, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS), nil) == 1
        }) ?? false
    }

    /// Every certificate in a text holding several PEM blocks, in order; text between blocks is
    /// ignored. Throws if there is none or a block is malformed.
    public static func parseChain(pem: String) throws -> [Certificate] {
        let bytes = try OpenSSL.pemBytes(pem, what: "certificate")
        return try OpenSSL.withMemoryBIO(containing: bytes) { bio in
            var certificates: [Certificate] = []
            while true {
                ERR_clear_error()
                guard let x509 = PEM_read_bio_X509(bio, nil, nil, nil) else {
                    let code = ERR_peek_last_error()
                    let endOfInput = ccs_err_lib(code) == ERR_LIB_PEM && ccs_err_reason(code) == PEM_R_NO_START_LINE
                    if endOfInput && !certificates.isEmpty { ERR_clear_error(); break }
                    if endOfInput { throw CryptoError("certificate: no PEM certificate found (expected -----BEGIN CERTIFICATE-----)") }
                    throw OpenSSL.error("certificate: PEM block \(certificates.count + 1) is malformed")
                }
                defer { X509_free(x509) }
                certificates.append(try Certificate(x509: x509))
            }
            return certificates
        }
    }

    /// Verifies leaf against roots (with optional intermediates, e.g. a cross-signed root) at `time`;
    /// throws with OpenSSL's reason ("certificate has expired", "unable to get local issuer certificate").
    public static func verify(_ leaf: Certificate, intermediates: [Certificate], roots: [Certificate], at time: Int64) throws {
        guard !roots.isEmpty else { throw CryptoError("certificate verification: no trusted root given") }
        guard let store = X509_STORE_new() else { throw OpenSSL.error("X509_STORE_new") }
        defer { X509_STORE_free(store) }
        for root in roots {
            try OpenSSL.withX509(root) { x509 in   // the store takes its own reference
                guard X509_STORE_add_cert(store, x509) == 1 else { throw OpenSSL.error("adding a trusted root") }
            }
        }
        guard let untrusted = ccs_x509_stack_new() else { throw OpenSSL.error("sk_X509_new") }
        var parsed: [OpaquePointer] = []
        defer {
            ccs_x509_stack_free(untrusted)
            parsed.forEach { X509_free($0) }
        }
        for intermediate in intermediates {
            let x509 = try OpenSSL.parseCertificate(der: intermediate.der)
            parsed.append(x509)
            guard ccs_x509_stack_push(untrusted, x509) > 0 else { throw OpenSSL.error("sk_X509_push") }
        }
        try OpenSSL.withX509(leaf) { x509 in
            guard let context = X509_STORE_CTX_new() else { throw OpenSSL.error("X509_STORE_CTX_new") }
            defer { X509_STORE_CTX_free(context) }
            ERR_clear_error()
            guard X509_STORE_CTX_init(context, store, x509, untrusted) == 1 else { throw OpenSSL.error("X509_STORE_CTX_init") }
            X509_STORE_CTX_set_time(context, 0, time_t(time))
            if X509_verify_cert(context) != 1 {
                let code = X509_STORE_CTX_get_error(context)
                let depth = X509_STORE_CTX_get_error_depth(context)
                ERR_clear_error()
                throw CryptoError("certificate verification failed for \(leaf.subject.commonName): \(String(cString: X509_verify_cert_error_string(Int(code)))) (at chain depth \(depth))")
            }
        }
    }

    public static func == (lhs: Certificate, rhs: Certificate) -> Bool { lhs.der == rhs.der }
    public func hash(into hasher: inout Hasher) { hasher.combine(der) }

    private static func serialHex(_ x509: OpaquePointer) throws -> String {
        guard let serial = X509_get0_serialNumber(x509), let number = ASN1_INTEGER_to_BN(serial, nil) else {
            throw OpenSSL.error("certificate: unreadable serial number")
        }
        defer { BN_free(number) }
        guard let hex = BN_bn2hex(number) else { throw OpenSSL.error("certificate: serial number to hex") }
        defer { ccs_free(hex) }
        var text = String(cString: hex).lowercased()
        while text.count > 1 && text.hasPrefix("0") { text.removeFirst() }
        return text
    }
}
