import ClusterState

/// The leader's end of every node's assignment stream: a session starts with the full set of the
/// node's tasks, later changes go as versioned increments, and each heartbeat's `AssignmentAck`
/// is checked against what was sent. A node that reports a hole, another stream, or a version
/// that stays behind for longer than a message takes (`inFlightMillis`) gets the full set again.
///
/// Pure (time and tasks are inputs, messages are outputs), so the node shell and the control-plane
/// simulator run the same protocol; one value lives for one leadership (its `term` orders its
/// streams after every earlier leader's).
public struct AssignmentDispatcher: Sendable {
    struct Session: Sendable {
        /// The connection the node's heartbeats arrive on; messages go back on it.
        var link: UInt64
        var id: UInt64
        var version: UInt64
        /// What the node has as of `version` if nothing was lost: task id → task version index.
        var sent: [String: UInt64]
        /// When the latest full set went out.
        var fullSentAt: UInt64
        /// Versions sent and not acknowledged yet, oldest first, with when they were sent.
        var unacknowledged: [(version: UInt64, at: UInt64)]
        /// The secrets and configs the node has if nothing was lost.
        var payloadsSent: Set<PayloadKey> = []
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
    /// Extra time a message carrying `payloads` may be on its way: 1 ms per KiB (1 MiB/s, a slow
    /// link or a debug build), so a full set of 20 MiB of secrets is not resent every heartbeat
    /// while it still travels (each resend queued 20 MiB more behind it: the node never caught up).
    static func transferAllowanceMillis(_ payloads: [TaskPayload]) -> UInt64 {
        UInt64(payloads.reduce(0) { $0 + $1.data.count } / 1024)
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

    /// A heartbeat from `node` on `link` carrying `ack`; `tasks` are the node's assigned tasks
    /// now, `payloads` what they need (`PayloadDelivery.payloads(for:in:)`). Returns the message to
    /// send back on `link`, or nil when the node is in sync.
    public mutating func heartbeat(node: String, link: UInt64, ack: AssignmentAck, tasks: [SwarmTask],
                                   payloads: [TaskPayload] = [], now: Timestamp) -> AssignmentMessage? {
        let millis = now.millisecondsSinceEpoch
        guard var session = sessions[node], session.link == link else {
            // First heartbeat in this leadership, or the node reconnected: a new stream.
            counter += 1
            sessions[node] = Session(link: link, id: AssignmentSessionID.make(term: term, counter: counter), version: 0,
                                     sent: [:], fullSentAt: millis, unacknowledged: [])
            return full(node, tasks: tasks, payloads: payloads, now: now)
        }
        if ack.needsFullSet || ack.version > session.version && ack.session == session.id {
            resyncs += 1
            return full(node, tasks: tasks, payloads: payloads, now: now)
        }
        guard ack.session == session.id else {
            // The node has another stream: our full set is on its way, was lost, or the node
            // restarted. Give it one message time, then send the full set again.
            guard millis >= session.fullSentAt + inFlightMillis else { return nil }
            resyncs += 1
            return full(node, tasks: tasks, payloads: payloads, now: now)
        }
        session.unacknowledged.removeAll { $0.version <= ack.version }
        sessions[node] = session
        if let oldest = session.unacknowledged.first, millis >= oldest.at + inFlightMillis {
            resyncs += 1
            return full(node, tasks: tasks, payloads: payloads, now: now)
        }
        return changes(node, tasks: tasks, payloads: payloads, now: now)
    }

    /// The node's tasks changed (or may have): the increment from what was sent, nil if none or
    /// if the node has no session (its first heartbeat brings the full set). Payloads the node
    /// lacks go with it; those no task needs any more are named in `forget`.
    public mutating func changes(_ node: String, tasks: [SwarmTask], payloads: [TaskPayload] = [], now: Timestamp) -> AssignmentMessage? {
        guard var session = sessions[node] else { return nil }
        let current = Dictionary(tasks.map { ($0.id, $0.version.index) }, uniquingKeysWith: { _, last in last })
        let changed = tasks.filter { session.sent[$0.id] != $0.version.index }
        let removed = session.sent.keys.filter { current[$0] == nil }.sorted()
        let needed = Set(payloads.map(\.key))
        let delivered = payloads.filter { !session.payloadsSent.contains($0.key) }
        let forget = session.payloadsSent.subtracting(needed).sorted()
        guard !changed.isEmpty || !removed.isEmpty || !delivered.isEmpty || !forget.isEmpty else { return nil }
        session.version += 1
        session.sent = current
        session.payloadsSent = needed
        session.unacknowledged.append((session.version, now.millisecondsSinceEpoch + Self.transferAllowanceMillis(delivered)))
        sessions[node] = session
        return AssignmentMessage(kind: .incremental, session: session.id, version: session.version, base: session.version - 1,
                                 tasks: changed, removed: removed, payloads: delivered, forget: forget)
    }

    /// The full set for `node` on its session (a forced resend), nil without a session.
    public mutating func fullSet(_ node: String, tasks: [SwarmTask], payloads: [TaskPayload] = [], now: Timestamp) -> AssignmentMessage? {
        guard sessions[node] != nil else { return nil }
        return full(node, tasks: tasks, payloads: payloads, now: now)
    }

    /// What `node` has applied if nothing was lost: its stream, the latest version sent on it and
    /// the payloads the node holds as of that version; nil without a session. A node whose
    /// acknowledgement names this stream and version holds exactly these payloads.
    public func delivered(to node: String) -> (session: UInt64, version: UInt64, payloads: Set<PayloadKey>)? {
        sessions[node].map { ($0.id, $0.version, $0.payloadsSent) }
    }

    /// Forgets `node`'s session (the node left the cluster).
    public mutating func close(_ node: String) {
        sessions[node] = nil
    }

    private mutating func full(_ node: String, tasks: [SwarmTask], payloads: [TaskPayload], now: Timestamp) -> AssignmentMessage {
        var session = sessions[node]!
        session.version += 1
        session.payloadsSent = Set(payloads.map(\.key))
        session.sent = Dictionary(tasks.map { ($0.id, $0.version.index) }, uniquingKeysWith: { _, last in last })
        // A full set with many secrets takes a while to travel: no resend before it could arrive.
        let sentAt = now.millisecondsSinceEpoch + Self.transferAllowanceMillis(payloads)
        session.fullSentAt = sentAt
        // Everything before the full set is superseded by it.
        session.unacknowledged = [(session.version, sentAt)]
        sessions[node] = session
        return AssignmentMessage(kind: .full, session: session.id, version: session.version, base: 0, tasks: tasks, payloads: payloads)
    }
}
