import COpenSSL
import CCryptoShim
#if canImport(Glibc)
import Glibc
#endif

/// Small helpers over OpenSSL's C API shared by the X.509 and TLS types: the per-thread error queue,
/// memory BIOs, and DER/PEM conversions. Every OpenSSL object created here is freed before return.
enum OpenSSL {
    /// Drains this thread's OpenSSL error queue into one line ("reason; reason"), or `fallback`.
    static func drainErrors(fallback: String = "no reason given by OpenSSL") -> String {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            let text: String
            if let reason = ERR_reason_error_string(code) {
                text = String(cString: reason)
            } else {
                var buffer = [CChar](repeating: 0, count: 256)
                ERR_error_string_n(code, &buffer, buffer.count)
                text = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            }
            if !reasons.contains(text) { reasons.append(text) }
        }
        return reasons.isEmpty ? fallback : reasons.joined(separator: "; ")
    }

    /// A `CryptoError` "<what>: <OpenSSL's reason>".
    static func error(_ what: String) -> CryptoError { CryptoError("\(what): \(drainErrors())") }

    /// Runs `body` with a new memory BIO holding `bytes`; frees the BIO afterwards.
    static func withMemoryBIO<T>(containing bytes: [UInt8], _ body: (OpaquePointer) throws -> T) throws -> T {
        guard let bio = BIO_new(BIO_s_mem()) else { throw error("BIO_new") }
        defer { BIO_free(bio) }
        if !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { BIO_write(bio, $0.baseAddress, Int32(clamping: $0.count)) }
            guard written == Int32(clamping: bytes.count) else { throw error("BIO_write") }
        }
        return try body(bio)
    }

    /// Everything pending in a memory BIO, read straight into the result (one copy).
    static func readAll(_ bio: OpaquePointer) -> [UInt8] {
        var output: [UInt8] = []
        while true {
            let pending = min(ccs_bio_pending(bio), Int(Int32.max))
            if pending == 0 { break }
            let start = output.count
            var count: Int32 = 0
            output.append(contentsOf: repeatElement(0, count: pending))
            output.withUnsafeMutableBytes { count = BIO_read(bio, $0.baseAddress! + start, Int32(pending)) }
            output.removeLast(pending - Int(max(count, 0)))
            if count <= 0 { break }
        }
        return output
    }

    /// Text that `write` puts into a fresh memory BIO (PEM writers).
    static func writeText(_ what: String, _ write: (OpaquePointer) -> Int32) throws -> String {
        try withMemoryBIO(containing: []) { bio in
            ERR_clear_error()
            guard write(bio) == 1 else { throw error(what) }
            return String(decoding: readAll(bio), as: UTF8.self)
        }
    }

    /// PEM text as bytes, refusing NUL bytes (OpenSSL would stop reading there).
    static func pemBytes(_ pem: String, what: String) throws -> [UInt8] {
        let bytes = Array(pem.utf8)
        guard !bytes.contains(0) else { throw CryptoError("\(what): the PEM text contains a NUL byte") }
        return bytes
    }

    // MARK: X509

    /// The DER encoding of an X509 object.
    static func der(ofCertificate certificate: OpaquePointer) throws -> [UInt8] {
        ERR_clear_error()
        let length = i2d_X509(certificate, nil)
        guard length > 0 else { throw error("encoding a certificate as DER") }
        var bytes = [UInt8](repeating: 0, count: Int(length))
        let written = bytes.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor = buffer.baseAddress
            return i2d_X509(certificate, &cursor)
        }
        guard written == length else { throw error("encoding a certificate as DER") }
        return bytes
    }

    /// Parses DER into a new X509 (caller frees); the whole input must be one certificate.
    static func parseCertificate(der: [UInt8]) throws -> OpaquePointer {
        guard !der.isEmpty else { throw CryptoError("certificate: empty DER input") }
        ERR_clear_error()
        var consumed = 0
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            let certificate = d2i_X509(nil, &cursor, buffer.count)
            if let cursor, let base = buffer.baseAddress { consumed = cursor - base }
            return certificate
        }
        guard let certificate = parsed else { throw error("certificate: not a valid DER X.509 certificate") }
        guard consumed == der.count else {
            X509_free(certificate)
            throw CryptoError("certificate: \(der.count - consumed) bytes of trailing data after the DER certificate")
        }
        return certificate
    }

    /// Runs `body` with a freshly parsed X509 for `certificate`; frees it afterwards.
    static func withX509<T>(_ certificate: Certificate, _ body: (OpaquePointer) throws -> T) throws -> T {
        let x509 = try parseCertificate(der: certificate.der)
        defer { X509_free(x509) }
        return try body(x509)
    }

    /// Runs `body` with a freshly parsed EVP_PKEY for `key`; frees it afterwards.
    static func withKey<T>(_ key: PrivateKey, _ body: (OpaquePointer) throws -> T) throws -> T {
        let pkey = try PrivateKey.parse(pem: key.pem)
        defer { EVP_PKEY_free(pkey) }
        return try body(pkey)
    }

    // MARK: Names and times

    /// The UTF-8 value of the first entry with `nid` in `name`, or nil.
    static func nameEntry(_ name: OpaquePointer, nid: Int32) -> String? {
        let index = X509_NAME_get_index_by_NID(name, nid, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(name, index), let data = X509_NAME_ENTRY_get_data(entry) else { return nil }
        var utf8: UnsafeMutablePointer<UInt8>?
        let length = ASN1_STRING_to_UTF8(&utf8, data)
        guard length >= 0, let utf8 else { return nil }
        defer { ccs_free(utf8) }
        return String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self)
    }

    static func subject(of name: OpaquePointer) -> CertificateSubject {
        CertificateSubject(commonName: nameEntry(name, nid: NID_commonName) ?? "",
                           organizationalUnit: nameEntry(name, nid: NID_organizationalUnitName),
                           organization: nameEntry(name, nid: NID_organizationName))
    }

    /// A new X509_NAME (caller frees) with O, OU, CN from `subject`, after validating it.
    static func makeName(_ subject: CertificateSubject) throws -> OpaquePointer {
        try subject.validate()
        guard let name = X509_NAME_new() else { throw error("X509_NAME_new") }
        var fields: [(String, String)] = []
        if let organization = subject.organization { fields.append(("O", organization)) }
        if let unit = subject.organizationalUnit { fields.append(("OU", unit)) }
        fields.append(("CN", subject.commonName))
        for (field, value) in fields {
            ERR_clear_error()
            let added = X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, value, -1, -1, 0)
            if added != 1 {
                X509_NAME_free(name)
                throw error("certificate subject \(field)=\(value)")
            }
        }
        return name
    }

    /// Unix seconds of an ASN1_TIME.
    static func unixTime(_ time: UnsafePointer<ASN1_TIME>?) throws -> Int64 {
        guard let time else { throw CryptoError("certificate: missing validity time") }
        var components = tm()
        guard ASN1_TIME_to_tm(time, &components) == 1 else { throw error("certificate: unreadable validity time") }
        return Int64(timegm(&components))
    }

    /// Adds one X.509 v3 extension from its OpenSSL config text (e.g. "critical,CA:TRUE").
    static func addExtension(_ certificate: OpaquePointer, issuer: OpaquePointer, nid: Int32, _ value: String) throws {
        var context = X509V3_CTX()
        X509V3_set_ctx(&context, issuer, certificate, nil, nil, 0)
        ERR_clear_error()
        guard let extensionObject = X509V3_EXT_conf_nid(nil, &context, nid, value) else {
            throw error("certificate extension \(value)")
        }
        defer { X509_EXTENSION_free(extensionObject) }
        guard X509_add_ext(certificate, extensionObject, -1) == 1 else { throw error("adding certificate extension \(value)") }
    }
}
