import ClusterState

/// The node's end of split assignment messages (`AssignmentMessage.split(maxPayloadBytes:)`):
/// collects the parts of each message, in any order, and hands out the whole message once every
/// part arrived; a whole message passes straight through. Pure: the node shell and the
/// simulator's agents put it in front of `AssignmentReceiver`.
///
/// It exists so a node whose tasks need more secrets and configs than fit one transport frame
/// still gets them all in one atomic step of its stream. A part that is lost leaves its message
/// incomplete: it is never handed out, so the receiver sees a hole at the next change (or the
/// dispatcher sees the version unacknowledged) and the full set comes again. Incomplete messages
/// older than the newest one handed out are dropped (the stream never goes back to them), and at
/// most `maxPending` are kept, so the payload data held here is bounded.
public struct AssignmentAssembler: Sendable {
    struct Key: Hashable, Comparable, Sendable {
        var session: UInt64
        var version: UInt64

        static func < (a: Key, b: Key) -> Bool { (a.session, a.version) < (b.session, b.version) }
    }

    struct Pending: Sendable {
        var parts: UInt32
        var received: [UInt32: AssignmentMessage] = [:]
    }

    /// Incomplete messages kept at once; an older one is dropped for a newer one.
    public static let maxPending = 2

    private var pending: [Key: Pending] = [:]
    /// The newest message handed out: parts of it or of older messages are stale.
    private var newestHandedOut: Key?

    public init() {}

    /// The whole message once `message` completes one (or `message` itself when it was not
    /// split); nil while parts are missing, or for a stale or inconsistent part.
    public mutating func add(_ message: AssignmentMessage) -> AssignmentMessage? {
        let key = Key(session: message.session, version: message.version)
        guard message.parts > 1 else { return handOut(message, key) }
        guard message.part >= 1, message.part <= message.parts, newestHandedOut.map({ key > $0 }) ?? true else { return nil }
        var entry = pending[key] ?? Pending(parts: message.parts)
        guard entry.parts == message.parts else {
            // Parts of one message that disagree on their count: none of them can be trusted.
            pending[key] = nil
            return nil
        }
        entry.received[message.part] = message
        guard entry.received.count == Int(entry.parts) else {
            pending[key] = entry
            evictBeyondLimit()
            return nil
        }
        pending[key] = nil
        // Parts that do not fit together (only the last may carry tasks): none can be trusted.
        guard let whole = Self.join(entry) else { return nil }
        return handOut(whole, key)
    }

    /// Payloads held in incomplete messages (memory the node still has), in key order.
    public var bufferedPayloadKeys: [PayloadKey] {
        Set(pending.values.flatMap { $0.received.values.flatMap { $0.payloads.map(\.key) } }).sorted()
    }

    /// Incomplete messages held now.
    public var pendingCount: Int { pending.count }

    private mutating func handOut(_ message: AssignmentMessage, _ key: Key) -> AssignmentMessage {
        if newestHandedOut.map({ key > $0 }) ?? true { newestHandedOut = key }
        pending = pending.filter { $0.key > newestHandedOut! }
        return message
    }

    private mutating func evictBeyondLimit() {
        while pending.count > Self.maxPending, let oldest = pending.keys.min() { pending[oldest] = nil }
    }

    /// The parts in order as one message: the last part's tasks, removals and forgets, every
    /// part's payloads; nil if they do not fit together.
    private static func join(_ entry: Pending) -> AssignmentMessage? {
        let ordered = (1...entry.parts).map { entry.received[$0]! }
        var whole = ordered.last!
        guard ordered.dropLast().allSatisfy({ $0.tasks.isEmpty && $0.removed.isEmpty && $0.forget.isEmpty }),
              ordered.allSatisfy({ $0.kind == whole.kind && $0.base == whole.base }) else { return nil }
        whole.payloads = ordered.flatMap(\.payloads)
        whole.part = 1
        whole.parts = 1
        return whole
    }
}
