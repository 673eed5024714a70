import COpenSSL
import CCryptoShim

/// What a TLS endpoint presents: its certificate chain (leaf first) and the leaf's key.
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
    /// Server side: verify a client cert if sent, allow none (join connections).
    case ifPresented
    /// Client side of a join: accept any server chain; the caller checks it afterwards.
    case none
}

public enum TLSRole: Sendable { case client, server }

/// A TLS 1.3-only configuration (OpenSSL `SSL_CTX`) shared by many sessions. Immutable after init:
/// on certificate renewal build a new one for new connections; existing sessions keep theirs.
public final class TLSContext: @unchecked Sendable {
    public let role: TLSRole
    public init(role: TLSRole, identity: TLSIdentity?, trustedRoots: [Certificate], peerVerification: TLSPeerVerification) throws {
        fatalError("unimplemented")
    }
}
