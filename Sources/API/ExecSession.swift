import Dispatch
import Glibc
import Platform

/// Docker's stdcopy framing of a multiplexed stream: a stream byte (1 stdout, 2 stderr), three
/// zero bytes, the payload's length as a big-endian UInt32, then the payload. Without a terminal
/// the docker CLI and docker-py expect stdout and stderr on one hijacked socket in this form.
public enum StdcopyFrame {
    public static func encode(stream: UInt8, _ payload: some Collection<UInt8>) -> [UInt8] {
        let length = UInt32(payload.count)
        return [stream, 0, 0, 0, UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)]
            + payload
    }
}

/// One running `docker exec` between a hijacked connection and the process's descriptors: output
/// to the client (stdcopy frames without a terminal, raw bytes with one), the client's input to
/// the process, the client's half-close to the process's stdin, and the exit code recorded
/// before the connection closes (the docker CLI reads it right after the stream ends).
///
/// Bounded both ways: output is read only while less than `maxPendingOutputBytes` wait for the
/// client, input only while less than `maxPendingInputBytes` wait for the process. A client that
/// goes away ends the process. Loop-confined; a thread per exec waits for the exit.
final class ExecSession {
    static let maxPendingOutputBytes = 256 << 10
    static let maxPendingInputBytes = 64 << 10
    static let readChunkBytes = 32 << 10
    /// How long output may still drain after the command exited (a background job it left may
    /// hold the pipes open forever).
    static let drainAfterExitMillis = 2_000

    private let loop: EventLoop
    private let connection: HTTPHijackedConnection?
    private let process: any ExecProcessHandle
    private let attachStdin: Bool
    private let onFinish: (Int32) -> Void
    /// Open output descriptors and their stream byte (0: raw; 1, 2: framed stdout, stderr; 255: dropped).
    private var outputs: [Int32: UInt8] = [:]
    /// stdin pipe or terminal master, while input can still be written.
    private var input: Int32?
    private var terminal: Int32?
    private var pendingInput: [UInt8] = []
    private var inputEndRequested = false
    private var outputPaused = false
    private var interest: [Int32: (readable: Bool, writable: Bool)] = [:]
    private var exitCode: Int32?
    private var drainTimer: TimerHandle?
    private(set) var finished = false

    /// `connection` nil: a detached exec, whose output is read and dropped. `rawStream`: output
    /// goes out unframed (the start's `Tty`, as dockerd decides it), else in stdcopy frames.
    init(loop: EventLoop, connection: HTTPHijackedConnection?, process: any ExecProcessHandle, attachStdin: Bool,
         attachStdout: Bool, attachStderr: Bool, rawStream: Bool, onFinish: @escaping (Int32) -> Void) {
        self.loop = loop
        self.connection = connection
        self.process = process
        self.attachStdin = attachStdin && connection != nil
        self.onFinish = onFinish
        switch process.streams {
        case let .terminal(master):
            terminal = master
            outputs[master] = rawStream ? 0 : 1
            input = master
        case let .pipes(stdin, stdout, stderr):
            outputs[stdout] = attachStdout ? (rawStream ? 0 : 1) : 255
            outputs[stderr] = attachStderr ? (rawStream ? 0 : 2) : 255
            input = stdin
        }
    }

    /// Wires the connection and descriptors and starts waiting for the exit.
    func start() {
        for descriptor in Set(outputs.keys).union(input.map { [$0] } ?? []) { _ = Self.setNonblocking(descriptor) }
        if let connection {
            // Weak: a connection that finishes after its queued bytes are out (or its timeout)
            // may outlive the session.
            connection.onData = { [weak self] bytes in self?.received(bytes) }
            connection.onEndOfInput = { [weak self] in self?.endOfInput() }
            connection.onDrained = { [weak self] in self?.resumeOutput() }
            connection.onClose = { [weak self] in self?.clientGone() }
        }
        updateInterest()
        let process = process
        let loop = loop
        // The closure keeps the session alive until the exit is recorded.
        let session = LoopBound(self, loop: loop)
        DispatchQueue.global().async {
            let code = process.waitForExit()
            _ = loop.execute { session.unwrapped.exited(code) }
        }
        connection?.start()
        // The client may have left between the hijack and now (the command was still starting):
        // its close went to the default callback, so end the command here.
        if let connection, !connection.isOpen { clientGone() }
    }

    // MARK: Output

    private func readOutput(_ descriptor: Int32) {
        guard let stream = outputs[descriptor] else { return }
        var buffer = [UInt8](repeating: 0, count: Self.readChunkBytes)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress!, $0.count) }
        if count < 0 && (errno == EAGAIN || errno == EINTR) { return }
        // 0: end of file; EIO: a terminal whose every slave is closed.
        guard count > 0 else { return closeOutput(descriptor) }
        guard let connection, stream != 255 else { return }
        let bytes = buffer[0..<count]
        connection.write(stream == 0 ? Array(bytes) : StdcopyFrame.encode(stream: stream, bytes))
        if connection.pendingWriteBytes >= Self.maxPendingOutputBytes && !outputPaused {
            outputPaused = true
            updateInterest()
        }
    }

    private func resumeOutput() {
        guard outputPaused else { return }
        outputPaused = false
        updateInterest()
    }

    private func closeOutput(_ descriptor: Int32) {
        outputs[descriptor] = nil
        if descriptor == terminal {
            input = nil
            pendingInput = []
        }
        release(descriptor)
        finishIfDone()
    }

    // MARK: Input

    private func received(_ bytes: [UInt8]) {
        guard attachStdin, input != nil else { return }
        pendingInput += bytes
        if pendingInput.count >= Self.maxPendingInputBytes { connection?.setReadingPaused(true) }
        flushInput()
    }

    private func flushInput() {
        guard let descriptor = input else { return }
        while !pendingInput.isEmpty {
            let count = pendingInput.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress!, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && errno == EAGAIN { break }
            guard count > 0 else {
                // The process closed its stdin: what the client sends from now on is dropped.
                pendingInput = []
                return closeInput()
            }
            pendingInput.removeFirst(count)
        }
        if pendingInput.count < Self.maxPendingInputBytes / 2 { connection?.setReadingPaused(false) }
        if pendingInput.isEmpty && inputEndRequested { return closeInput() }
        updateInterest()
    }

    /// The client's half-close: the docker CLI sends it when its stdin ends, and at once when
    /// stdin is not attached. (A client that closed entirely is seen by the hang-up of a unix
    /// socket, or by the next write over TCP.)
    private func endOfInput() {
        inputEndRequested = true
        if pendingInput.isEmpty { closeInput() }
    }

    /// Closes a stdin pipe (the process reads end of file); a terminal stays, it carries output.
    private func closeInput() {
        guard let descriptor = input, descriptor != terminal else { return updateInterest() }
        input = nil
        release(descriptor)
    }

    // MARK: Readiness

    private func updateInterest() {
        var wanted: [Int32: (readable: Bool, writable: Bool)] = [:]
        if !finished {
            for descriptor in outputs.keys { wanted[descriptor] = (!outputPaused, false) }
            if let input, !pendingInput.isEmpty { wanted[input] = (wanted[input]?.readable ?? false, true) }
        }
        for (descriptor, current) in interest where wanted[descriptor] == nil || !(wanted[descriptor]!.readable || wanted[descriptor]!.writable) {
            _ = current
            loop.unregister(fd: descriptor)
            interest[descriptor] = nil
        }
        for (descriptor, want) in wanted where want.readable || want.writable {
            if let current = interest[descriptor] {
                if current != want { try? loop.modify(fd: descriptor, readable: want.readable, writable: want.writable) }
            } else {
                do {
                    try loop.register(fd: descriptor, readable: want.readable, writable: want.writable) { [unowned self] events in
                        handle(descriptor, events)
                    }
                } catch {
                    continue
                }
            }
            interest[descriptor] = want
        }
    }

    private func handle(_ descriptor: Int32, _ events: IOEvents) {
        guard !finished else { return }
        if interest[descriptor]?.writable == true && !events.isDisjoint(with: [.writable, .error, .hangup]) && descriptor == input {
            flushInput()
        }
        if interest[descriptor]?.readable == true && !events.isDisjoint(with: [.readable, .hangup, .error]) {
            readOutput(descriptor)
        }
    }

    /// Stops watching and closes one descriptor.
    private func release(_ descriptor: Int32) {
        if interest.removeValue(forKey: descriptor) != nil { loop.unregister(fd: descriptor) }
        _ = Glibc.close(descriptor)
        updateInterest()
    }

    // MARK: Ending

    private func exited(_ code: Int32) {
        exitCode = code
        finishIfDone()
        guard !finished else { return }
        drainTimer = loop.schedule(afterMillis: Self.drainAfterExitMillis) { [self] in finish() }
    }

    private func finishIfDone() {
        if exitCode != nil && outputs.isEmpty { finish() }
    }

    private func finish() {
        guard !finished, let exitCode else { return }
        if let drainTimer { _ = loop.cancel(drainTimer) }
        closeEverything()
        onFinish(exitCode)
        if let connection {
            connection.onData = { _ in }
            connection.onEndOfInput = {}
            connection.onDrained = {}
            connection.onClose = {}
            connection.finish()
        }
    }

    /// The client went away: the command is ended (unless it already exited) and its exit is
    /// still recorded when it comes.
    private func clientGone() {
        guard !finished else { return }
        if exitCode == nil { process.terminate() }
        for descriptor in Array(outputs.keys) {
            outputs[descriptor] = nil
            if descriptor == input { input = nil }
            release(descriptor)
        }
        if let descriptor = input {
            input = nil
            release(descriptor)
        }
        finishIfDone()
    }

    /// Closes the descriptors of a process nobody watches and reaps it off the loop.
    static func abandon(_ process: any ExecProcessHandle) {
        switch process.streams {
        case let .terminal(master): _ = Glibc.close(master)
        case let .pipes(stdin, stdout, stderr): for descriptor in [stdin ?? -1, stdout, stderr] where descriptor >= 0 { _ = Glibc.close(descriptor) }
        }
        DispatchQueue.global().async { _ = process.waitForExit() }
    }

    static func setNonblocking(_ descriptor: Int32) -> Bool {
        let flags = fcntl(descriptor, F_GETFL)
        return flags >= 0 && fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) == 0
    }

    private func closeEverything() {
        finished = true
        let open = Set(outputs.keys).union(input.map { [$0] } ?? [])
        outputs = [:]
        input = nil
        for descriptor in open { release(descriptor) }
    }
}

