import COpenSSL
import CCryptoShim

/// What a TLS endpoint presents: its certificate chain (leaf first, then intermediates such as a
/// cross-signed root during rotation) and the leaf's key.
public struct TLSIdentity: Sendable {
    public var chain: [Certificate]
    public var key: PrivateKey
    public init(chain: [Certificate], key: PrivateKey) {
        self.chain = chain
        self.key = key
    }
}

/// How an endpoint checks the other side's certificate.
public enum TLSPeerVerification: Sendable {
    /// Mutual: the peer must present a chain to `trustedRoots` (a server requires a client cert).
    case required
    /// Server side: verify a client cert if sent, allow none (join connections). On a client it
    /// means the same as `.required`, since a TLS 1.3 server always presents a certificate.
    case ifPresented
    /// Client side of a join: accept any server chain; the caller checks it afterwards (e.g. against
    /// the CA digest in the join token). On a server: no client certificate is requested.
    case none
}

public enum TLSRole: Sendable { case client, server }

/// A TLS 1.3-only configuration (OpenSSL `SSL_CTX`) shared by many sessions. Immutable after init:
/// on certificate renewal build a new one for new connections; existing sessions keep theirs.
///
/// Settings: TLS 1.3 minimum and maximum; no session tickets and no session cache (connections are
/// long-lived, and resumption would skip client-certificate checks); AES-128-GCM preferred; buffers
/// released while idle; exactly the identity's chain is sent (no auto-chaining); only `trustedRoots` are trusted (never the system store). Names are not
/// checked here: after the handshake the caller reads `peerCertificateChain` (CN = node id, OU = role).
public final class TLSContext: @unchecked Sendable {
    public let role: TLSRole
    public let peerVerification: TLSPeerVerification
    /// The OpenSSL context. Never mutated after init (SSL_new only takes references), hence Sendable.
    let context: OpaquePointer

    /// True for `systemTrustClient` (TLS 1.2 allowed, system CA store); false for cluster contexts (TLS 1.3 only).
    public let isPublicClient: Bool

    /// BENCHMARK ONLY: offer (client) or accept (server) to drop encryption after the handshake
    /// (see `TLSBenchmarkPlaintext.swift`). Never on outside a benchmark.
    public let benchmarkPlaintext: Bool

    /// `benchmarkPlaintext`: BENCHMARK ONLY, see the property.
    public convenience init(role: TLSRole, identity: TLSIdentity?, trustedRoots: [Certificate], peerVerification: TLSPeerVerification,
                            benchmarkPlaintext: Bool = false) throws {
        try self.init(role: role, identity: identity, trustedRoots: trustedRoots, peerVerification: peerVerification, publicClient: false,
                      benchmarkPlaintext: benchmarkPlaintext)
    }

    /// A client for public HTTPS servers such as image registries: TLS 1.2 or 1.3 (registries are not
    /// all on 1.3), ECDHE with AEAD ciphers only, trusts the system CA store plus `additionalRoots`, and
    /// requires a valid server certificate. Make its sessions with `TLSSession(context:serverName:)` so the
    /// server's name is checked and sent (SNI).
    public static func systemTrustClient(additionalRoots: [Certificate] = []) throws -> TLSContext {
        try TLSContext(role: .client, identity: nil, trustedRoots: additionalRoots, peerVerification: .required, publicClient: true)
    }

    private init(role: TLSRole, identity: TLSIdentity?, trustedRoots: [Certificate], peerVerification: TLSPeerVerification,
                 publicClient: Bool, benchmarkPlaintext: Bool = false) throws {
        if role == .server && identity == nil { throw CryptoError("TLS server context: a server needs an identity (certificate and key)") }
        if peerVerification != .none && trustedRoots.isEmpty && !publicClient {
            throw CryptoError("TLS context: peer verification is on but no trusted root was given")
        }
        if let identity, identity.chain.isEmpty { throw CryptoError("TLS context: the identity's certificate chain is empty") }
        ERR_clear_error()
        guard let context = SSL_CTX_new(role == .server ? TLS_server_method() : TLS_client_method()) else {
            throw OpenSSL.error("SSL_CTX_new")
        }
        self.context = context
        self.role = role
        self.peerVerification = peerVerification
        self.isPublicClient = publicClient
        self.benchmarkPlaintext = benchmarkPlaintext && !publicClient
        // From here on, deinit frees `context` if a step below throws.
        if publicClient { try configurePublicClient() } else { try configureProtocol() }
        if self.benchmarkPlaintext { try configureBenchmarkPlaintext() }
        if let identity { try install(identity) }
        try trust(trustedRoots)
        SSL_CTX_set_verify(context, Self.verifyMode(role: role, peerVerification: peerVerification), nil)
        SSL_CTX_set_verify_depth(context, 4)
    }

    deinit { SSL_CTX_free(context) }

    private static func verifyMode(role: TLSRole, peerVerification: TLSPeerVerification) -> Int32 {
        switch (role, peerVerification) {
        case (_, .none): SSL_VERIFY_NONE
        case (.server, .required): SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
        case (.server, .ifPresented), (.client, .required), (.client, .ifPresented): SSL_VERIFY_PEER
        }
    }

    private func configureProtocol() throws {
        guard ccs_ctx_set_tls13_only(context) == 1 else { throw OpenSSL.error("TLS context: restricting to TLS 1.3") }
        guard SSL_CTX_set_num_tickets(context, 0) == 1 else { throw OpenSSL.error("TLS context: disabling session tickets") }
        guard ccs_ctx_set_no_tickets(context) == 1 else { throw OpenSSL.error("TLS context: disabling session tickets") }
        _ = ccs_ctx_disable_session_cache(context)
        guard ccs_ctx_set_modes(context) == 1 else { throw OpenSSL.error("TLS context: setting modes") }
        guard SSL_CTX_set_ciphersuites(context, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384") == 1 else {
            throw OpenSSL.error("TLS context: setting cipher suites")
        }
    }

    private func configurePublicClient() throws {
        guard ccs_ctx_set_tls12_or_13(context) == 1 else { throw OpenSSL.error("TLS context: restricting to TLS 1.2 and 1.3") }
        guard SSL_CTX_set_cipher_list(context, "ECDHE+AESGCM:ECDHE+CHACHA20") == 1 else {
            throw OpenSSL.error("TLS context: setting TLS 1.2 ciphers")
        }
        guard ccs_ctx_set_modes(context) == 1 else { throw OpenSSL.error("TLS context: setting modes") }
        guard SSL_CTX_set_default_verify_paths(context) == 1 else { throw OpenSSL.error("TLS context: loading the system CA store") }
    }

    private func install(_ identity: TLSIdentity) throws {
        try OpenSSL.withX509(identity.chain[0]) { leaf in   // SSL_CTX_use_certificate takes its own reference
            guard SSL_CTX_use_certificate(context, leaf) == 1 else { throw OpenSSL.error("TLS context: using the certificate") }
        }
        for intermediate in identity.chain.dropFirst() {
            try OpenSSL.withX509(intermediate) { x509 in   // add1: takes its own reference
                guard ccs_ctx_add1_chain_cert(context, x509) == 1 else { throw OpenSSL.error("TLS context: adding a chain certificate") }
            }
        }
        try OpenSSL.withKey(identity.key) { pkey in
            guard SSL_CTX_use_PrivateKey(context, pkey) == 1, SSL_CTX_check_private_key(context) == 1 else {
                throw CryptoError("TLS context: the private key does not match certificate \(identity.chain[0].subject.commonName) (\(OpenSSL.drainErrors()))")
            }
        }
    }

    private func trust(_ roots: [Certificate]) throws {
        guard let store = SSL_CTX_get_cert_store(context) else { throw OpenSSL.error("TLS context: certificate store") }
        for root in roots {
            try OpenSSL.withX509(root) { x509 in
                guard X509_STORE_add_cert(store, x509) == 1 else { throw OpenSSL.error("TLS context: trusting \(root.subject.commonName)") }
            }
        }
    }
}
