import Crypto
import Platform

/// The byte pipe under one HTTP server connection: a plain socket, or TLS over it.
///
/// It exists so the HTTP framing, limits and timeouts are written once and run the same over a
/// unix socket, plain TCP and TLS. Loop-confined.
protocol HTTPByteStream: AnyObject {
    /// Plaintext from the peer; valid only during the call.
    var onData: (UnsafeRawBufferPointer) -> Void { get set }
    /// Everything written so far has been handed to the kernel.
    var onDrained: () -> Void { get set }
    /// Called once with why the stream ended.
    var onClose: (String) -> Void { get set }
    var isOpen: Bool { get }
    var pendingWriteBytes: Int { get }
    /// The peer, for log lines.
    var peerDescription: String { get }
    /// Why this authenticated peer may not use the server (nil: it may, or no authentication).
    var refusal: String? { get }
    /// False until the stream can carry application data (a TLS handshake is still running).
    var isEstablished: Bool { get }
    /// The authenticated client (TLS certificate CN and OU), nil without authentication.
    var clientIdentity: String? { get }
    func write(_ bytes: [UInt8])
    func close(reason: String)
    /// Ends our sending side (after an error answer) while still reading.
    func shutdownWrite()
    /// When set, the peer ending its input (a half-close, TLS close_notify) calls this instead of
    /// closing the stream, which stays open for writing (hijacked `docker exec` streams).
    var onEndOfInput: (() -> Void)? { get set }
    /// Stops or resumes reading from the peer (backpressure of a hijacked stream).
    func setReadingPaused(_ paused: Bool)
}

extension BufferedConnection: HTTPByteStream {
    var isOpen: Bool { state == .open }
    var peerDescription: String { "\(socket.address)" }
    var refusal: String? { nil }
    var isEstablished: Bool { true }
    var clientIdentity: String? { nil }

    func write(_ bytes: [UInt8]) {
        guard state == .open else { return }
        enqueue(bytes)
        flush()
    }

    func shutdownWrite() { socket.shutdownWrite() }
}

/// Server-side TLS between a socket connection and the HTTP parser, with the client certificate
/// required (like `dockerd --tlsverify`) and, optionally, only some certificate roles admitted.
///
/// It exists so a `tcp:` API is as hard to reach as the docker daemon's TLS socket: without a
/// certificate from the trusted CA the handshake fails and no HTTP byte is parsed. Loop-confined.
final class TLSServerStream: HTTPByteStream {
    var onData: (UnsafeRawBufferPointer) -> Void = { _ in }
    var onDrained: () -> Void = {}
    var onClose: (String) -> Void = { _ in }
    private(set) var refusal: String?
    private let connection: BufferedConnection
    private let session: TLSSession
    private let allowedUnits: Set<String>?
    private let authorize: ((Certificate) -> String?)?
    private var checkedPeer = false
    private var inputEnded = false
    var onEndOfInput: (() -> Void)? {
        didSet {
            connection.onEndOfInput = onEndOfInput == nil ? nil : { [unowned self] in self.endInput() }
        }
    }

    /// `allowedUnits`: the OUs a client certificate may carry (nil: any certificate of the CA);
    /// `authorize`: a further check returning a refusal reason.
    init(connection: BufferedConnection, context: TLSContext, allowedUnits: Set<String>?,
         authorize: ((Certificate) -> String?)? = nil) throws {
        self.connection = connection
        self.allowedUnits = allowedUnits
        self.authorize = authorize
        session = try TLSSession(context: context)
        connection.onData = { [unowned self] bytes in self.received(bytes) }
        connection.onDrained = { [unowned self] in self.onDrained() }
        connection.onClose = { [unowned self] reason in
            let callback = self.onClose
            self.onClose = { _ in }
            self.onData = { _ in }
            self.onDrained = {}
            callback(reason)
        }
    }

    var isOpen: Bool { connection.state == .open }
    var isEstablished: Bool { session.isHandshakeComplete }
    var clientIdentity: String? {
        session.peerCertificateChain.first.map { "CN=\($0.subject.commonName) OU=\($0.subject.organizationalUnit ?? "-")" }
    }
    var pendingWriteBytes: Int { connection.pendingWriteBytes }
    var peerDescription: String {
        let subject = session.peerCertificateChain.first.map { " (\($0.subject.commonName), OU=\($0.subject.organizationalUnit ?? "-"))" }
        return "\(connection.socket.address)\(subject ?? "")"
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        let plaintext: [UInt8]
        do {
            plaintext = try session.receive(Array(bytes))
        } catch {
            // A close_notify alone in this read: for a hijacked stream only the input ends.
            if case .closedByPeer = error, onEndOfInput != nil { return endInput() }
            pushOutgoing()   // the alert that tells the client why
            return connection.flushAndClose(reason: "TLS: \(error)")
        }
        pushOutgoing()
        if session.isHandshakeComplete && !checkedPeer { checkPeer() }
        if !plaintext.isEmpty { plaintext.withUnsafeBytes { onData($0) } }
        if session.isClosedByPeer && connection.state == .open {
            guard onEndOfInput != nil else { return connection.close(reason: "the client ended TLS") }
            endInput()
        }
    }

    private func endInput() {
        guard !inputEnded else { return }
        inputEnded = true
        connection.setReadingPaused(true)
        onEndOfInput?()
    }

    func setReadingPaused(_ paused: Bool) {
        connection.setReadingPaused(paused || inputEnded)
    }

    /// Records a refusal when the client certificate's role is not admitted (answered as 403).
    private func checkPeer() {
        checkedPeer = true
        guard let leaf = session.peerCertificateChain.first else { return }
        let unit = leaf.subject.organizationalUnit ?? ""
        if let allowedUnits, !allowedUnits.contains(unit) {
            refusal = "a certificate with OU=\(unit.isEmpty ? "-" : unit) may not use this API: "
                + "use a client certificate ('swarmctl client-cert --out DIR' on a manager)"
        } else if let reason = authorize?(leaf) {
            refusal = reason
        }
    }

    func write(_ bytes: [UInt8]) {
        guard connection.state == .open else { return }
        do {
            try session.send(bytes)
        } catch {
            return connection.close(reason: "TLS: \(error)")
        }
        pushOutgoing()
    }

    func close(reason: String) { connection.close(reason: reason) }

    func shutdownWrite() {
        session.shutdown()
        pushOutgoing()
        // Never cut off queued ciphertext (the error answer, close_notify); the linger timer closes.
        if connection.pendingWriteBytes == 0 { connection.socket.shutdownWrite() }
    }

    private func pushOutgoing() {
        let outgoing = session.takeOutgoing()
        guard !outgoing.isEmpty, connection.state == .open else { return }
        connection.enqueue(outgoing)
        connection.flush()
    }
}
