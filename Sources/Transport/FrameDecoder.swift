/// Turns a byte stream, in chunks of any size, into frames.
///
/// It exists to keep framing pure and exhaustively testable (every split point) apart from sockets.
/// The header is validated as soon as its 5 bytes are present, so a hostile length (say 4 GiB) is
/// refused before anything is buffered for it: memory held is at most one maximal frame plus the
/// chunk being fed. After an error the decoder stays failed; the connection must be closed.
public struct FrameDecoder: Sendable {
    public static let defaultMaxPayloadSize = 16 << 20

    /// Largest payload accepted; may be raised once the peer is authenticated.
    public var maxPayloadSize: Int {
        didSet { precondition(maxPayloadSize > 0 && maxPayloadSize <= Int(UInt32.max), "invalid maximum frame size \(maxPayloadSize)") }
    }
    private var buffer: [UInt8] = []
    private var start = 0
    private var failure: FrameError?

    public init(maxPayloadSize: Int = FrameDecoder.defaultMaxPayloadSize) {
        precondition(maxPayloadSize > 0 && maxPayloadSize <= Int(UInt32.max), "invalid maximum frame size \(maxPayloadSize)")
        self.maxPayloadSize = maxPayloadSize
    }

    /// Bytes received but not yet returned as frames.
    public var bufferedByteCount: Int { buffer.count - start }

    /// Appends received bytes. Call `nextFrame()` until it returns nil after each feed.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil else { return }
        compactIfWorthwhile()
        buffer.append(contentsOf: bytes)
    }

    public mutating func feed(_ bytes: some Collection<UInt8>) {
        guard failure == nil else { return }
        compactIfWorthwhile()
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame, nil if more bytes are needed, or the (sticky) framing error.
    public mutating func nextFrame() throws(FrameError) -> RawFrame? {
        if let failure { throw failure }
        guard bufferedByteCount >= Frame.headerSize else { return nil }
        let (length, type) = try checkedHeader()
        let total = Frame.headerSize + length
        guard bufferedByteCount >= total else { return nil }
        let payloadStart = start + Frame.headerSize
        let payload = Array(buffer[payloadStart..<payloadStart + length])
        start += total
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
            start = 0
        }
        return RawFrame(type: type, payload: payload)
    }

    private mutating func checkedHeader() throws(FrameError) -> (Int, FrameType) {
        var length: UInt32 = 0
        for index in 0..<4 { length |= UInt32(buffer[start + index]) << (8 * UInt32(index)) }
        let typeByte = buffer[start + 4]
        guard Int(length) <= maxPayloadSize else { try fail(.oversized(length: length, limit: maxPayloadSize)) }
        guard let type = FrameType(rawValue: typeByte) else { try fail(.unknownType(typeByte)) }
        return (Int(length), type)
    }

    private mutating func fail(_ error: FrameError) throws(FrameError) -> Never {
        failure = error
        buffer = []
        start = 0
        throw error
    }

    private mutating func compactIfWorthwhile() {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
    }
}
