import ClusterState

/// The leader's end of every node's stream of one kind (`AssignmentDispatcher`,
/// `NetworkTableDispatcher`): a session starts with the full set, later changes go as versioned
/// increments, and each heartbeat's `StreamAck` is checked against what was sent. A node that
/// reports a hole, another stream, or a version that stays behind for longer than a message
/// takes (`inFlightMillis`) gets the full set again.
///
/// Pure (time and items are inputs, messages are outputs), so the node shell and the
/// control-plane simulator run the same protocol; one value lives for one leadership (its `term`
/// orders its streams after every earlier leader's).
public struct StreamDispatcher<Content: StreamContent>: Sendable {
    public typealias Item = Content.Message.Item
    public typealias Message = Content.Message

    struct Session: Sendable {
        /// The connection the node's heartbeats arrive on; messages go back on it.
        var link: UInt64
        var id: UInt64
        var version: UInt64 = 0
        /// What the node has as of `version` if nothing was lost: item id → stamp.
        var sent: [String: Content.Stamp] = [:]
        /// What the node holds beside the items as of `version` if nothing was lost.
        var held: Content.Held = Content.nothingHeld
        /// When the latest full set went out.
        var fullSentAt: UInt64
        /// Versions sent and not acknowledged yet, oldest first, with when they were sent.
        var unacknowledged: [(version: UInt64, at: UInt64)] = []
    }

    /// What a node that acknowledged `version` of `session` holds.
    public struct Position: Sendable {
        public var session: UInt64
        public var version: UInt64
        /// The items' stamps, ordered by item id.
        public var stamps: [Content.Stamp]
        public var held: Content.Held
    }

    public let term: UInt64
    /// How long a message may be on its way before a heartbeat that does not acknowledge it
    /// means it was lost (`inFlightMillis(heartbeatPeriodMillis:)` in the shell and simulator).
    public let inFlightMillis: UInt64

    /// The in-flight bound for a heartbeat period: a quarter of it, at least 50 ms. Far above a
    /// message's trip on a healthy link, yet short enough that the first heartbeat after a heal
    /// repairs what the partition lost (a whole period made a node that healed just after a lost
    /// change wait one more heartbeat: a replaced task then ran twice for over a period).
    /// Too short only costs an extra full set, never correctness.
    public static func inFlightMillis(heartbeatPeriodMillis: UInt64) -> UInt64 {
        max(50, heartbeatPeriodMillis / 4)
    }

    private var sessions: [String: Session] = [:]
    private var counter: UInt32 = 0
    /// Full sets sent because a node had a hole, another stream or fell behind (not first sets).
    public private(set) var resyncs: UInt64 = 0

    public init(term: UInt64, inFlightMillis: UInt64) {
        precondition(inFlightMillis > 0, "the in-flight bound must be positive")
        self.term = term
        self.inFlightMillis = inFlightMillis
    }

    /// Nodes with a session, in id order.
    public var nodes: [String] { sessions.keys.sorted() }

    /// Where messages for `node` go (the link its heartbeats arrive on), nil without a session.
    public func link(of node: String) -> UInt64? { sessions[node]?.link }

    /// A heartbeat from `node` on `link` carrying `ack`; `items` and `extra` are what the node
    /// should have now. Returns the message to send back on `link`, or nil when it is in sync.
    public mutating func heartbeat(node: String, link: UInt64, ack: StreamAck, items: [Item], extra: Content.Extra,
                                   now: Timestamp) -> Message? {
        let millis = now.millisecondsSinceEpoch
        guard var session = sessions[node], session.link == link else {
            // First heartbeat in this leadership, or the node reconnected: a new stream.
            counter += 1
            sessions[node] = Session(link: link, id: StreamSessionID.make(term: term, counter: counter), fullSentAt: millis)
            return full(node, items: items, extra: extra, now: now)
        }
        if ack.needsFullSet || ack.version > session.version && ack.session == session.id {
            return resync(node, items: items, extra: extra, now: now)
        }
        guard ack.session == session.id else {
            // The node has another stream: our full set is on its way, was lost, or the node
            // restarted. Give it one message time, then send the full set again.
            guard millis >= session.fullSentAt + inFlightMillis else { return nil }
            return resync(node, items: items, extra: extra, now: now)
        }
        session.unacknowledged.removeAll { $0.version <= ack.version }
        sessions[node] = session
        if let oldest = session.unacknowledged.first, millis >= oldest.at + inFlightMillis {
            return resync(node, items: items, extra: extra, now: now)
        }
        return changes(node, items: items, extra: extra, now: now)
    }

    /// The node's items changed (or may have): the increment from what was sent, nil if none or
    /// if the node has no session (its first heartbeat brings the full set).
    public mutating func changes(_ node: String, items: [Item], extra: Content.Extra, now: Timestamp) -> Message? {
        guard var session = sessions[node] else { return nil }
        let current = Self.stamps(items)
        let changed = items.filter { session.sent[Content.id(of: $0)] != Content.stamp(of: $0) }
        let removed = session.sent.keys.filter { current[$0] == nil }.sorted()
        let change = Content.change(from: session.held, to: extra)
        guard !changed.isEmpty || !removed.isEmpty || !Content.isEmpty(change) else { return nil }
        session.version += 1
        session.sent = current
        session.held = Content.held(extra)
        session.unacknowledged.append((session.version, now.millisecondsSinceEpoch + Content.transferAllowanceMillis(change)))
        sessions[node] = session
        return Message(kind: .incremental, session: session.id, version: session.version, base: session.version - 1,
                       items: changed, removed: removed, change: change)
    }

    /// The full set for `node` on its session (a forced resend), nil without a session.
    public mutating func fullSet(_ node: String, items: [Item], extra: Content.Extra, now: Timestamp) -> Message? {
        guard sessions[node] != nil else { return nil }
        return full(node, items: items, extra: extra, now: now)
    }

    /// What `node` has applied if nothing was lost: its stream, the latest version sent on it and
    /// what that version carries; nil without a session. A node whose acknowledgement names
    /// this stream and version holds exactly this.
    public func sent(to node: String) -> Position? {
        guard let session = sessions[node] else { return nil }
        return Position(session: session.id, version: session.version,
                        stamps: session.sent.keys.sorted().map { session.sent[$0]! }, held: session.held)
    }

    /// Forgets `node`'s session (the node left the cluster).
    public mutating func close(_ node: String) {
        sessions[node] = nil
    }

    private mutating func resync(_ node: String, items: [Item], extra: Content.Extra, now: Timestamp) -> Message {
        resyncs += 1
        return full(node, items: items, extra: extra, now: now)
    }

    private mutating func full(_ node: String, items: [Item], extra: Content.Extra, now: Timestamp) -> Message {
        var session = sessions[node]!
        let change = Content.whole(extra)
        session.version += 1
        session.held = Content.held(extra)
        session.sent = Self.stamps(items)
        // A large full set takes a while to travel: no resend before it could arrive.
        let sentAt = now.millisecondsSinceEpoch + Content.transferAllowanceMillis(change)
        session.fullSentAt = sentAt
        // Everything before the full set is superseded by it.
        session.unacknowledged = [(session.version, sentAt)]
        sessions[node] = session
        return Message(kind: .full, session: session.id, version: session.version, base: 0, items: items, removed: [], change: change)
    }

    private static func stamps(_ items: [Item]) -> [String: Content.Stamp] {
        Dictionary(items.map { (Content.id(of: $0), Content.stamp(of: $0)) }, uniquingKeysWith: { _, last in last })
    }
}
