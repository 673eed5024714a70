/// A stream message that may be sent in parts when it is too large for one frame; what
/// `PartAssembler` needs to put the parts back together.
public protocol SplitMessage: Sendable {
    var session: UInt64 { get }
    var version: UInt64 { get }
    /// This part's number (1...partCount, read only when partCount > 1; out of range is refused)
    /// and the number of parts (1 for a whole message).
    var partNumber: UInt32 { get }
    var partCount: UInt32 { get }
    /// The parts, in order, as one message; nil if they do not fit together.
    static func joinParts(_ ordered: [Self]) -> Self?
    /// The message as handed out whole (its part fields reset).
    var asWhole: Self { get }
}

/// The node's end of split stream messages (assignments, network tables): collects the parts of
/// each message, in any order, and hands out the whole message once every part arrived; a whole
/// message passes straight through. Pure: the node shell and the simulator's agents put it in
/// front of their `StreamReceiver`.
///
/// It exists so a message larger than one transport frame still reaches the node in one atomic
/// step of its stream. A part that is lost leaves its message incomplete: it is never handed
/// out, so the receiver sees a hole at the next change (or the dispatcher sees the version
/// unacknowledged) and the full set comes again. Incomplete messages older than the newest one
/// handed out are dropped (the stream never goes back to them), and at most `maxPending` are
/// kept, so what is held here is bounded.
public struct PartAssembler<Message: SplitMessage>: Sendable {
    struct Key: Hashable, Comparable, Sendable {
        var session: UInt64
        var version: UInt64

        static func < (a: Key, b: Key) -> Bool { (a.session, a.version) < (b.session, b.version) }
    }

    struct Pending: Sendable {
        var parts: UInt32
        var received: [UInt32: Message] = [:]
    }

    /// Incomplete messages kept at once; an older one is dropped for a newer one.
    public static var maxPending: Int { 2 }

    private var pending: [Key: Pending] = [:]
    /// The newest message handed out: parts of it or of older messages are stale.
    private var newestHandedOut: Key?

    public init() {}

    /// Incomplete messages held now.
    public var pendingCount: Int { pending.count }

    /// The parts received of incomplete messages.
    var pendingParts: [Message] { pending.values.flatMap { $0.received.values } }

    /// The whole message once `message` completes one (or `message` itself when it was not
    /// split); nil while parts are missing, or for a stale or inconsistent part.
    public mutating func add(_ message: Message) -> Message? {
        let key = Key(session: message.session, version: message.version)
        let parts = message.partCount
        guard parts > 1 else { return handOut(message, key) }
        let part = message.partNumber
        guard part >= 1, part <= parts, newestHandedOut.map({ key > $0 }) ?? true else { return nil }
        var entry = pending[key] ?? Pending(parts: parts)
        guard entry.parts == parts else {
            // Parts of one message that disagree on their count: none of them can be trusted.
            pending[key] = nil
            return nil
        }
        entry.received[part] = message
        guard entry.received.count == Int(parts) else {
            pending[key] = entry
            while pending.count > Self.maxPending, let oldest = pending.keys.min() { pending[oldest] = nil }
            return nil
        }
        pending[key] = nil
        guard let whole = Message.joinParts((1...parts).map { entry.received[$0]! }) else { return nil }
        return handOut(whole, key)
    }

    private mutating func handOut(_ message: Message, _ key: Key) -> Message {
        if newestHandedOut.map({ key > $0 }) ?? true { newestHandedOut = key }
        pending = pending.filter { $0.key > newestHandedOut! }
        return message.asWhole
    }
}
