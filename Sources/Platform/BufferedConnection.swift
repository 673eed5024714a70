/// A nonblocking socket on an event loop with a read buffer and a write queue.
///
/// It exists so protocol code never sees EAGAIN, partial writes or a half-finished connect: bytes
/// arrive through `onData`, writes are appended with `enqueue` and go out in as few `send` calls
/// as possible (`flush`), and every way a connection can end funnels into exactly one `onClose`.
/// Loop-confined: create it and call it only on `loop`'s thread.
public final class BufferedConnection {
    public enum State: Equatable, Sendable {
        case connecting
        case open
        case closed
    }

    public let socket: Socket
    public let loop: EventLoop
    public private(set) var state: State

    /// The nonblocking connect finished successfully.
    public var onConnected: () -> Void = {}
    /// Bytes read from the peer; valid only during the call.
    public var onData: (UnsafeRawBufferPointer) -> Void = { _ in }
    /// Everything enqueued has been handed to the kernel.
    public var onDrained: () -> Void = {}
    /// Called once, with why the connection ended; the socket is already closed.
    public var onClose: (String) -> Void = { _ in }
    /// When set, the peer's end of input (a half-close, e.g. after the stdin of a hijacked
    /// `docker exec`) calls this and stops reading instead of closing: writing goes on.
    public var onEndOfInput: (() -> Void)?
    /// True once the peer ended its input (see `onEndOfInput`).
    public private(set) var inputEnded = false
    /// While true, nothing is read (the consumer applies backpressure); the kernel buffers, then
    /// the peer's writes block.
    public private(set) var readingPaused = false

    private var output: [UInt8] = []
    private var outputStart = 0
    private var readBuffer: [UInt8]
    private var writableArmed = false

    /// Takes ownership of `socket` and registers it. `connecting` is true while a nonblocking
    /// connect is in progress (from `Socket.connect`).
    public init(socket: Socket, loop: EventLoop, connecting: Bool, readChunkSize: Int = 64 * 1024) throws {
        precondition(readChunkSize > 0, "read chunk size must be positive")
        self.socket = socket
        self.loop = loop
        self.state = connecting ? .connecting : .open
        self.readBuffer = [UInt8](repeating: 0, count: readChunkSize)
        writableArmed = connecting
        try loop.register(fd: socket.descriptor, readable: !connecting, writable: connecting) { [weak self] events in
            self?.handle(events)
        }
    }

    /// Owners should `close` first; a connection dropped while open is unregistered here so its
    /// descriptor number can be registered again once the socket closes it.
    deinit {
        if state != .closed && loop.inEventLoop { loop.unregister(fd: socket.descriptor) }
    }

    /// Bytes enqueued but not yet accepted by the kernel.
    public var pendingWriteBytes: Int { output.count - outputStart }

    /// Appends bytes to the write queue without a system call; see `flush()`.
    public func enqueue(_ bytes: UnsafeRawBufferPointer) {
        precondition(state != .closed, "enqueue on a closed connection to \(socket.address)")
        if outputStart > 0 && outputStart >= output.count / 2 {
            // Drop what the kernel already took so a slowly draining queue does not keep it alive.
            output.removeFirst(outputStart)
            outputStart = 0
        }
        output.append(contentsOf: bytes)
    }

    /// Appends bytes to the write queue without a system call; see `flush()`.
    public func enqueue(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { enqueue($0) }
    }

    /// Writes as much of the queue as the kernel takes; waits for EPOLLOUT for the rest.
    public func flush() {
        guard state == .open else { return }
        while outputStart < output.count {
            let result: IOResult
            do {
                result = try output.withUnsafeBytes { try socket.write(from: UnsafeRawBufferPointer(rebasing: $0[outputStart...])) }
            } catch {
                return close(reason: "write failed: \(error)")
            }
            guard case let .transferred(count) = result else { return armWritable(true) }
            outputStart += count
        }
        resetOutput()
        armWritable(false)
        onDrained()
    }

    /// Closes now, discarding unsent bytes; `onClose` runs with `reason`. Later calls do nothing.
    public func close(reason: String) {
        guard state != .closed else { return }
        state = .closed
        loop.unregister(fd: socket.descriptor)
        socket.close()
        output = []
        outputStart = 0
        let callback = onClose
        onConnected = {}
        onData = { _ in }
        onDrained = {}
        onClose = { _ in }
        callback(reason)
    }

    /// Stops or resumes reading from the peer (backpressure from a slower consumer).
    public func setReadingPaused(_ paused: Bool) {
        guard readingPaused != paused else { return }
        readingPaused = paused
        armWritable(writableArmed)
    }

    /// Tries once to send what is queued (e.g. a rejection notice), then closes.
    public func flushAndClose(reason: String) {
        flush()
        close(reason: reason)
    }

    // MARK: Events

    private func handle(_ events: IOEvents) {
        switch state {
        case .connecting: finishConnect()
        case .open:
            // Not reading (input ended or paused), a hang-up means the peer is gone entirely;
            // level-triggered, it would otherwise be reported again and again.
            if (inputEnded || readingPaused) && !events.isDisjoint(with: [.hangup, .error]) {
                return close(reason: "peer closed the connection")
            }
            if !events.isDisjoint(with: [.readable, .hangup, .error]) && !readingPaused && !inputEnded { readAvailable() }
            if state == .open && events.contains(.writable) { flush() }
        case .closed: return
        }
    }

    private func finishConnect() {
        let code = socket.pendingError()
        guard code == 0 else {
            return close(reason: "connect to \(socket.address) failed: \(SystemError("connect", errno: code).description)")
        }
        state = .open
        armWritable(pendingWriteBytes > 0, readable: true)
        onConnected()
        if state == .open && pendingWriteBytes > 0 { flush() }
    }

    /// Reads a few chunks per readiness event so one busy peer cannot starve the others.
    private func readAvailable() {
        for _ in 0..<4 {
            let result: IOResult
            do {
                result = try readBuffer.withUnsafeMutableBytes { try socket.read(into: $0) }
            } catch {
                return close(reason: "read failed: \(error)")
            }
            switch result {
            case .wouldBlock: return
            case .endOfFile:
                guard let onEndOfInput else { return close(reason: "peer closed the connection") }
                inputEnded = true
                armWritable(writableArmed)
                return onEndOfInput()
            case let .transferred(count):
                readBuffer.withUnsafeBytes { onData(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
                if state != .open || readingPaused || count < readBuffer.count { return }
            }
        }
    }

    private func armWritable(_ writable: Bool, readable: Bool? = nil) {
        guard state != .closed else { return }
        do {
            try loop.modify(fd: socket.descriptor, readable: readable ?? (!readingPaused && !inputEnded), writable: writable)
            writableArmed = writable
        } catch {
            close(reason: "epoll_ctl failed: \(error)")
        }
    }

    private func resetOutput() {
        // Keep a modest buffer for reuse; give back memory after a burst (e.g. snapshot chunks).
        if output.capacity > 1 << 20 { output = [] } else { output.removeAll(keepingCapacity: true) }
        outputStart = 0
    }
}
