import COpenSSL
import CCryptoShim
#if canImport(Glibc)
import Glibc
#endif

/// Why a TLS session stopped. Every failure is one of these, never a trap.
public enum TLSError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The handshake failed, with OpenSSL's reason (e.g. "certificate verify failed: certificate has
    /// expired"). Also what a TLS 1.3 client gets when the server refuses its certificate: the
    /// client's own handshake completes first, and the server's alert arrives on its next `receive`
    /// (before any application data from the server), e.g. "tlsv1 alert unknown ca".
    case handshakeFailed(String)
    /// Anything wrong after the connection was established (bad record, alert, misuse).
    case protocolError(String)
    /// The peer sent close_notify.
    case closedByPeer

    public var description: String {
        switch self {
        case .handshakeFailed(let reason): "TLS handshake failed: \(reason)"
        case .protocolError(let reason): "TLS error: \(reason)"
        case .closedByPeer: "TLS connection closed by peer"
        }
    }
}

/// One TLS connection over memory BIOs: the caller moves ciphertext between the socket and this
/// object (`receive`/`takeOutgoing`), so the event loop keeps owning the socket and tests need no
/// sockets. Not thread-safe: use one session from one thread (OpenSSL's error queue is per thread).
///
/// After any error the session is dead: every later `receive`/`send` throws the same error.
public final class TLSSession {
    public let context: TLSContext
    private let ssl: OpaquePointer
    /// Ciphertext from the peer (owned by `ssl`).
    private let incoming: OpaquePointer
    /// Ciphertext for the peer (owned by `ssl`).
    private let outgoing: OpaquePointer
    private var handshakeDone = false
    private var failure: TLSError?
    private var peerClosed = false
    private var receivedApplicationData = false
    /// Records sent since the last key update (upper estimate: one per started 16 KiB per write).
    private var recordsSinceKeyUpdate = 0
    /// After this many records the session updates its keys (RFC 8446 §5.5: AES-GCM keys must change
    /// well before 2^24.5 records; OpenSSL 3.0 does not do it by itself). Connections here live for months.
    static let recordsPerKey = 1 << 22
    private var peerChain: [Certificate] = []
    /// BENCHMARK ONLY: both ends agreed (ALPN) to skip encryption after the handshake.
    private var plaintextAfterHandshake = false
    /// Application data waiting for `takeOutgoing` in that mode (after the handshake's records).
    private var plaintextOutgoing: [UInt8] = []

    /// `serverName` (client only): the DNS name or IP address the server's certificate must carry in its
    /// subjectAltName, also sent as SNI when it is a name. For clients of a `tcp:` API and of registries;
    /// cluster peers check the CN themselves instead. Requires peer verification.
    public init(context: TLSContext, serverName: String? = nil) throws {
        self.context = context
        ERR_clear_error()
        guard let ssl = SSL_new(context.context) else { throw OpenSSL.error("SSL_new") }
        guard let incoming = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw OpenSSL.error("BIO_new")
        }
        guard let outgoing = BIO_new(BIO_s_mem()) else {
            BIO_free(incoming)
            SSL_free(ssl)
            throw OpenSSL.error("BIO_new")
        }
        SSL_set_bio(ssl, incoming, outgoing)   // ssl owns both from here
        if context.role == .server { SSL_set_accept_state(ssl) } else { SSL_set_connect_state(ssl) }
        if let serverName {
            do { try Self.expect(serverName: serverName, ssl: ssl, context: context) } catch {
                SSL_free(ssl)
                throw error
            }
        }
        self.ssl = ssl
        self.incoming = incoming
        self.outgoing = outgoing
    }

    deinit { SSL_free(ssl) }

    private static func expect(serverName: String, ssl: OpaquePointer, context: TLSContext) throws {
        guard context.role == .client else { throw CryptoError("TLS session: only a client checks a server name") }
        guard context.peerVerification != .none else {
            throw CryptoError("TLS session: a server name check needs peer verification (the context uses .none)")
        }
        guard !serverName.isEmpty, !serverName.utf8.contains(0), serverName.utf8.count <= 253 else {
            throw CryptoError("TLS session: \"\(serverName)\" is not a server name")
        }
        var address = [UInt8](repeating: 0, count: 16)
        let isAddress = inet_pton(AF_INET, serverName, &address) == 1 || inet_pton(AF_INET6, serverName, &address) == 1
        ERR_clear_error()
        if isAddress {
            guard X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), serverName) == 1 else {
                throw OpenSSL.error("TLS session: expecting IP address \(serverName)")
            }
        } else {
            guard SSL_set1_host(ssl, serverName) == 1, ccs_set_server_name_indication(ssl, serverName) == 1 else {
                throw OpenSSL.error("TLS session: expecting server name \(serverName)")
            }
        }
    }

    /// Client: writes the ClientHello into the outgoing buffer. Server: nothing to do (it waits for one).
    public func start() throws(TLSError) {
        if let failure { throw failure }
        guard context.role == .client, !handshakeDone else { return }
        try driveHandshake()
    }

    /// Feeds ciphertext, drives the handshake, returns decrypted application data (maybe empty).
    /// If the peer's close_notify follows some data in the same bytes, the data is returned and
    /// `isClosedByPeer` turns true; the next call throws `.closedByPeer`.
    public func receive(_ ciphertext: [UInt8]) throws(TLSError) -> [UInt8] {
        if let failure { throw failure }
        if peerClosed { throw TLSError.closedByPeer }
        if plaintextAfterHandshake { return ciphertext }
        try feed(ciphertext)
        if !handshakeDone {
            try driveHandshake()
            if !handshakeDone { return [] }
            if plaintextAfterHandshake { return drainUnreadBytes() }
        }
        return try readApplicationData()
    }

    /// Encrypts application data into the outgoing buffer; only after `isHandshakeComplete`.
    public func send(_ plaintext: [UInt8]) throws(TLSError) {
        if let failure { throw failure }
        guard handshakeDone else { throw TLSError.protocolError("send before the TLS handshake completed") }
        if plaintextAfterHandshake { return plaintextOutgoing.append(contentsOf: plaintext) }
        recordsSinceKeyUpdate += (plaintext.count + 16_383) / 16_384
        if recordsSinceKeyUpdate >= Self.recordsPerKey { try updateKeys() }
        var offset = 0
        while offset < plaintext.count {
            let chunk = min(plaintext.count - offset, 1 << 30)
            ERR_clear_error()
            let written = plaintext.withUnsafeBytes { SSL_write(ssl, $0.baseAddress! + offset, Int32(chunk)) }
            guard written > 0 else {
                let code = SSL_get_error(ssl, written)
                throw fail(.protocolError("SSL_write failed (\(Self.name(ofErrorCode: code))): \(OpenSSL.drainErrors())"))
            }
            offset += Int(written)
        }
    }

    /// Sends a TLS 1.3 KeyUpdate asking the peer to update too (takes effect with the next write).
    /// `send` does this by itself every `recordsPerKey` records.
    public func updateKeys() throws(TLSError) {
        if let failure { throw failure }
        guard handshakeDone else { throw TLSError.protocolError("key update before the TLS handshake completed") }
        if plaintextAfterHandshake { return }
        ERR_clear_error()
        guard SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) == 1 else {
            throw fail(.protocolError("SSL_key_update failed: \(OpenSSL.drainErrors())"))
        }
        recordsSinceKeyUpdate = 0
    }

    /// Ciphertext to write to the socket; drain after every call.
    public func takeOutgoing() -> [UInt8] {
        guard !plaintextOutgoing.isEmpty else { return OpenSSL.readAll(outgoing) }
        defer { plaintextOutgoing = [] }
        return OpenSSL.readAll(outgoing) + plaintextOutgoing
    }

    /// BENCHMARK ONLY: true when both ends agreed to send application data unencrypted.
    public var isBenchmarkPlaintext: Bool { plaintextAfterHandshake }

    /// True once the handshake finished and nothing failed since.
    public var isHandshakeComplete: Bool { handshakeDone && failure == nil }

    /// The negotiated protocol, "TLSv1.3" once the handshake completed.
    public var protocolVersion: String { String(cString: SSL_get_version(ssl)) }

    /// The peer sent close_notify.
    public var isClosedByPeer: Bool { peerClosed }

    /// Leaf first; empty if the peer sent none. Set when the handshake completes. With verification
    /// on, the chain was verified against the context's trusted roots; with `.none` it is unverified.
    public var peerCertificateChain: [Certificate] { peerChain }

    /// Writes close_notify into the outgoing buffer (nothing if the handshake never completed).
    public func shutdown() {
        guard handshakeDone, failure == nil, !plaintextAfterHandshake else { return }
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    // MARK: Steps

    private func feed(_ ciphertext: [UInt8]) throws(TLSError) {
        var offset = 0
        while offset < ciphertext.count {
            let chunk = min(ciphertext.count - offset, 1 << 30)
            let written = ciphertext.withUnsafeBytes { BIO_write(incoming, $0.baseAddress! + offset, Int32(chunk)) }
            guard written > 0 else { throw fail(.protocolError("buffering received bytes failed: \(OpenSSL.drainErrors())")) }
            offset += Int(written)
        }
    }

    private func driveHandshake() throws(TLSError) {
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if result == 1 {
            handshakeDone = true
            peerChain = readPeerChain()
            plaintextAfterHandshake = context.benchmarkPlaintext && Self.agreedOnBenchmarkPlaintext(ssl)
            return
        }
        let code = SSL_get_error(ssl, result)
        if code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE { return }
        throw fail(.handshakeFailed(failureReason(code)))
    }

    /// Bytes after the handshake's last record, still in the incoming buffer (OpenSSL reads one
    /// record at a time without read-ahead): the peer's first unencrypted application data.
    private func drainUnreadBytes() -> [UInt8] { OpenSSL.readAll(incoming) }

    private func readApplicationData() throws(TLSError) -> [UInt8] {
        // A stack buffer: an idle session holds no read buffer (thousands of connections may be idle).
        let result: Result<[UInt8], TLSError> = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16 * 1024) { buffer in
            var output: [UInt8] = []
            while true {
                ERR_clear_error()
                let count = SSL_read(ssl, buffer.baseAddress, Int32(buffer.count))
                if count > 0 {
                    output.append(contentsOf: buffer[0..<Int(count)])
                    receivedApplicationData = true
                    continue
                }
                let code = SSL_get_error(ssl, count)
                switch code {
                case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                    return .success(output)
                case SSL_ERROR_ZERO_RETURN:
                    peerClosed = true
                    return output.isEmpty ? .failure(.closedByPeer) : .success(output)
                default:
                    let reason = failureReason(code)
                    // TLS 1.3: a client's handshake completes before the server has checked the client's
                    // certificate, so a refusal arrives here, before any application data.
                    let lateRejection = context.role == .client && !receivedApplicationData
                    return .failure(fail(lateRejection ? .handshakeFailed(reason) : .protocolError(reason)))
                }
            }
        }
        return try result.get()
    }

    /// Records the first failure so the session stays dead, and returns it for throwing.
    private func fail(_ error: TLSError) -> TLSError {
        failure = error
        return error
    }

    /// OpenSSL's reason, with the certificate verification result when that is what failed.
    private func failureReason(_ code: Int32) -> String {
        var reason = OpenSSL.drainErrors(fallback: Self.name(ofErrorCode: code))
        let verifyResult = SSL_get_verify_result(ssl)
        if verifyResult != X509_V_OK {
            reason += ": " + String(cString: X509_verify_cert_error_string(verifyResult))
        }
        return reason
    }

    private static func name(ofErrorCode code: Int32) -> String {
        switch code {
        case SSL_ERROR_SSL: "SSL_ERROR_SSL"
        case SSL_ERROR_SYSCALL: "SSL_ERROR_SYSCALL"
        case SSL_ERROR_ZERO_RETURN: "connection closed"
        default: "SSL error \(code)"
        }
    }

    /// The peer's certificates, leaf first. A server's SSL_get_peer_cert_chain omits the client's
    /// leaf; a client's includes the server's.
    private func readPeerChain() -> [Certificate] {
        var chain: [Certificate] = []
        guard let leaf = SSL_get1_peer_certificate(ssl) else { return [] }
        defer { X509_free(leaf) }
        guard let leafCertificate = try? Certificate(x509: leaf) else { return [] }
        chain.append(leafCertificate)
        let stack = SSL_get_peer_cert_chain(ssl)
        let count = ccs_x509_stack_count(stack)
        for index in 0..<Int32(max(count, 0)) {
            guard let x509 = ccs_x509_stack_value(stack, index), let certificate = try? Certificate(x509: x509) else { continue }
            if index == 0 && certificate == leafCertificate { continue }
            chain.append(certificate)
        }
        ERR_clear_error()
        return chain
    }
}
