import COpenSSL
import CCryptoShim

/// Why a TLS session stopped. Every failure is one of these, never a trap.
public enum TLSError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The handshake failed, or (TLS 1.3 client) the server refused our certificate, which the
    /// client learns on its first `receive` after its handshake completed. Includes OpenSSL's reason.
    case handshakeFailed(String)
    case protocolError(String)
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
/// object (`receive`/`takeOutgoing`), so the event loop keeps owning the socket. Not thread-safe.
public final class TLSSession {
    public init(context: TLSContext) throws { fatalError("unimplemented") }
    /// Client: writes the ClientHello into the outgoing buffer. Server: nothing to do.
    public func start() throws(TLSError) { fatalError("unimplemented") }
    /// Feeds ciphertext, drives the handshake, returns decrypted application data (maybe empty).
    public func receive(_ ciphertext: [UInt8]) throws(TLSError) -> [UInt8] { fatalError("unimplemented") }
    /// Encrypts application data into the outgoing buffer; only after `isHandshakeComplete`.
    public func send(_ plaintext: [UInt8]) throws(TLSError) { fatalError("unimplemented") }
    /// Ciphertext to write to the socket; drain after every call.
    public func takeOutgoing() -> [UInt8] { fatalError("unimplemented") }
    public var isHandshakeComplete: Bool { fatalError("unimplemented") }
    /// Leaf first; empty if the peer sent none.
    public var peerCertificateChain: [Certificate] { fatalError("unimplemented") }
    /// Writes close_notify into the outgoing buffer.
    public func shutdown() { fatalError("unimplemented") }
}
