import ClusterState

/// The node's end of split network table messages (`NetworkTableMessage.split(fitting:)`):
/// collects the parts of each message, in any order, and hands out the whole message once every
/// part arrived (the pieces of each table joined back); a whole message passes straight
/// through. Pure: the node shell puts it in front of `NetworkTableReceiver`.
///
/// It exists so a node on a network with tens of thousands of tasks still gets its tables in
/// one atomic step of its stream (never DNS from half a table). As with `AssignmentAssembler`, a
/// lost part leaves its message incomplete and never handed out, so the stream's hole detection
/// brings the full set again; parts of messages older than the newest handed out are dropped,
/// and at most `maxPending` incomplete messages are kept.
public struct NetworkTableAssembler: Sendable {
    struct Key: Hashable, Comparable, Sendable {
        var session: UInt64
        var version: UInt64

        static func < (a: Key, b: Key) -> Bool { (a.session, a.version) < (b.session, b.version) }
    }

    struct Pending: Sendable {
        var parts: UInt32
        var received: [UInt32: NetworkTableMessage] = [:]
    }

    /// Incomplete messages kept at once; an older one is dropped for a newer one.
    public static let maxPending = 2

    private var pending: [Key: Pending] = [:]
    private var newestHandedOut: Key?

    public init() {}

    /// Incomplete messages held now.
    public var pendingCount: Int { pending.count }

    /// The whole message once `message` completes one (or `message` itself when it was not
    /// split); nil while parts are missing, or for a stale or inconsistent part.
    public mutating func add(_ message: NetworkTableMessage) -> NetworkTableMessage? {
        let key = Key(session: message.session, version: message.version)
        guard let parts = message.parts, parts > 1 else { return handOut(message, key) }
        guard let part = message.part, part >= 1, part <= parts, newestHandedOut.map({ key > $0 }) ?? true else { return nil }
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
        guard let whole = Self.join((1...parts).map { entry.received[$0]! }) else { return nil }
        return handOut(whole, key)
    }

    private mutating func handOut(_ message: NetworkTableMessage, _ key: Key) -> NetworkTableMessage {
        if newestHandedOut.map({ key > $0 }) ?? true { newestHandedOut = key }
        pending = pending.filter { $0.key > newestHandedOut! }
        var whole = message
        whole.part = nil
        whole.parts = nil
        return whole
    }

    /// The parts in order as one message: a table cut between parts (same network id at the end
    /// of one and the start of the next) joined, and a service cut between them too; the last
    /// part's removals and host ports. nil if they do not fit together.
    static func join(_ ordered: [NetworkTableMessage]) -> NetworkTableMessage? {
        let last = ordered.last!
        guard ordered.allSatisfy({ $0.kind == last.kind && $0.base == last.base }),
              ordered.dropLast().allSatisfy({ $0.removed.isEmpty }) else { return nil }
        var tables: [NetworkTable] = []
        for table in ordered.flatMap(\.tables) {
            guard var joined = tables.last, joined.networkID == table.networkID else {
                tables.append(table)
                continue
            }
            joined.peers += table.peers
            var services = table.services[...]
            if let first = services.first, joined.services.last?.serviceID == first.serviceID {
                joined.services[joined.services.count - 1].tasks += first.tasks
                services = services.dropFirst()
            }
            joined.services += services
            tables[tables.count - 1] = joined
        }
        return NetworkTableMessage(kind: last.kind, session: last.session, version: last.version, base: last.base, tables: tables,
                                   removed: last.removed, hostPorts: last.hostPorts)
    }
}
