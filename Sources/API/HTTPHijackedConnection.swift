import Platform

/// A server connection a handler took over after its response head (`docker exec`'s
/// `Upgrade: tcp`): raw bytes both ways, a half-close of the client's side seen as end of input,
/// and reading paused and resumed by the consumer.
///
/// It exists so a hijacked stream keeps the server's limits: the writer watches
/// `pendingWriteBytes` (and `onDrained`) instead of queueing without bound, and the reader pauses
/// the socket instead of buffering. Loop-confined: use it on `loop`'s thread only.
public final class HTTPHijackedConnection {
    public let loop: EventLoop
    /// Bytes from the client (a copy).
    public var onData: ([UInt8]) -> Void = { _ in }
    /// The client ended its input (half-close); writing goes on.
    public var onEndOfInput: () -> Void = {}
    /// Everything written so far has been handed to the kernel.
    public var onDrained: () -> Void = {}
    /// The connection ended (the client went away, or `close`/`finish` completed); called once.
    public var onClose: () -> Void = {}
    public private(set) var isOpen = true
    public private(set) var inputEnded = false

    private let stream: any HTTPByteStream
    private var leftover: [UInt8]
    private var started = false
    /// Reading stopped because `leftover` reached `maxLeftoverBytes` before `start`.
    private var pausedForLeftover = false
    /// Input kept before `start` (the handler is still setting up) before reading pauses.
    static let maxLeftoverBytes = 64 << 10
    private var finishing = false

    init(stream: any HTTPByteStream, loop: EventLoop, leftover: [UInt8]) {
        self.stream = stream
        self.loop = loop
        self.leftover = leftover
    }

    /// Starts delivering input (what arrived with the request first) once the callbacks are set.
    public func start() {
        guard !started else { return }
        started = true
        if pausedForLeftover {
            pausedForLeftover = false
            stream.setReadingPaused(false)
        }
        if !leftover.isEmpty {
            let early = leftover
            leftover = []
            onData(early)
        }
        if inputEnded { onEndOfInput() }
    }

    /// Bytes accepted but not yet written to the socket.
    public var pendingWriteBytes: Int { stream.pendingWriteBytes }

    public func write(_ bytes: [UInt8]) {
        guard isOpen, !finishing, !bytes.isEmpty else { return }
        stream.write(bytes)
    }

    public func setReadingPaused(_ paused: Bool) {
        guard isOpen else { return }
        stream.setReadingPaused(paused)
    }

    /// Longest wait in `finish` for a client that does not read the rest.
    static let finishTimeoutMillis = 30_000

    /// Closes the connection once everything written has gone out, or after
    /// `finishTimeoutMillis` if the client stops reading.
    public func finish() {
        guard isOpen, !finishing else { return }
        finishing = true
        if stream.pendingWriteBytes == 0 { return stream.close(reason: "hijacked stream finished") }
        _ = loop.schedule(afterMillis: Self.finishTimeoutMillis) { [weak self] in
            self?.close(reason: "the client did not read the end of the hijacked stream within \(Self.finishTimeoutMillis) ms")
        }
    }

    /// Closes now, dropping unsent bytes.
    public func close(reason: String) {
        guard isOpen else { return }
        stream.close(reason: reason)
    }

    // MARK: From the server connection

    func received(_ bytes: UnsafeRawBufferPointer) {
        guard !inputEnded else { return }
        guard !started else { return onData(Array(bytes)) }
        leftover += bytes
        if leftover.count >= Self.maxLeftoverBytes && !pausedForLeftover {
            pausedForLeftover = true
            stream.setReadingPaused(true)
        }
    }

    func endOfInput() {
        guard !inputEnded else { return }
        inputEnded = true
        if started { onEndOfInput() }
    }

    func drained() {
        if finishing { return stream.close(reason: "hijacked stream finished") }
        onDrained()
    }

    func connectionClosed() {
        guard isOpen else { return }
        isOpen = false
        let callback = onClose
        onData = { _ in }
        onEndOfInput = {}
        onDrained = {}
        onClose = {}
        callback()
    }
}
