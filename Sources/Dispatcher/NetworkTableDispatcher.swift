import ClusterState

/// The leader's end of every node's network table stream: a session starts with every table
/// the node needs, later changes go as versioned increments (whole tables), and each heartbeat's
/// `NetworkTableAck` is checked against what was sent, with the assignment stream's rules
/// (`AssignmentDispatcher`): a hole, another stream, or a version that stays unacknowledged for
/// longer than `inFlightMillis` gets the full set again.
///
/// Pure; one value lives for one leadership. The caller builds the tables
/// (`NetworkTables.tables(forNode:in:)`) and host ports (`HostPortBinding.forNode`).
public struct NetworkTableDispatcher: Sendable {
    struct Session: Sendable {
        var link: UInt64
        var id: UInt64
        var version: UInt64
        var sent: [String: NetworkTable]
        var sentHostPorts: [HostPortBinding]
        var fullSentAt: UInt64
        var unacknowledged: [(version: UInt64, at: UInt64)]
    }

    public let term: UInt64
    public let inFlightMillis: UInt64
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

    /// A heartbeat from `node` on `link` carrying `ack`; `tables` and `hostPorts` are what the
    /// node needs now. Returns the message to send back, or nil when the node is in sync.
    public mutating func heartbeat(node: String, link: UInt64, ack: NetworkTableAck, tables: [NetworkTable],
                                   hostPorts: [HostPortBinding], now: Timestamp) -> NetworkTableMessage? {
        let millis = now.millisecondsSinceEpoch
        guard var session = sessions[node], session.link == link else {
            counter += 1
            sessions[node] = Session(link: link, id: AssignmentSessionID.make(term: term, counter: counter), version: 0, sent: [:],
                                     sentHostPorts: [], fullSentAt: millis, unacknowledged: [])
            return full(node, tables: tables, hostPorts: hostPorts, now: now)
        }
        if ack.needsFullSet || ack.version > session.version && ack.session == session.id {
            resyncs += 1
            return full(node, tables: tables, hostPorts: hostPorts, now: now)
        }
        guard ack.session == session.id else {
            guard millis >= session.fullSentAt + inFlightMillis else { return nil }
            resyncs += 1
            return full(node, tables: tables, hostPorts: hostPorts, now: now)
        }
        session.unacknowledged.removeAll { $0.version <= ack.version }
        sessions[node] = session
        if let oldest = session.unacknowledged.first, millis >= oldest.at + inFlightMillis {
            resyncs += 1
            return full(node, tables: tables, hostPorts: hostPorts, now: now)
        }
        return changes(node, tables: tables, hostPorts: hostPorts, now: now)
    }

    /// The increment from what was sent, nil if nothing changed or the node has no session.
    public mutating func changes(_ node: String, tables: [NetworkTable], hostPorts: [HostPortBinding],
                                 now: Timestamp) -> NetworkTableMessage? {
        guard var session = sessions[node] else { return nil }
        let current = Dictionary(tables.map { ($0.networkID, $0) }, uniquingKeysWith: { _, last in last })
        let changed = tables.filter { session.sent[$0.networkID] != $0 }
        let removed = session.sent.keys.filter { current[$0] == nil }.sorted()
        let portsChanged = hostPorts != session.sentHostPorts
        guard !changed.isEmpty || !removed.isEmpty || portsChanged else { return nil }
        session.version += 1
        session.sent = current
        session.sentHostPorts = hostPorts
        session.unacknowledged.append((session.version, now.millisecondsSinceEpoch))
        sessions[node] = session
        return NetworkTableMessage(kind: .incremental, session: session.id, version: session.version, base: session.version - 1,
                                   tables: changed, removed: removed, hostPorts: portsChanged ? hostPorts : nil)
    }

    /// What `node`'s stream carries as of its latest version (tables ordered by network id), nil
    /// without a session: what a node that acknowledged that version must hold.
    public func sent(to node: String) -> (session: UInt64, version: UInt64, tables: [NetworkTable], hostPorts: [HostPortBinding])? {
        guard let session = sessions[node] else { return nil }
        return (session.id, session.version, session.sent.keys.sorted().map { session.sent[$0]! }, session.sentHostPorts)
    }

    /// Forgets `node`'s session (the node left the cluster).
    public mutating func close(_ node: String) {
        sessions[node] = nil
    }

    private mutating func full(_ node: String, tables: [NetworkTable], hostPorts: [HostPortBinding], now: Timestamp) -> NetworkTableMessage {
        var session = sessions[node]!
        session.version += 1
        session.sent = Dictionary(tables.map { ($0.networkID, $0) }, uniquingKeysWith: { _, last in last })
        session.sentHostPorts = hostPorts
        session.fullSentAt = now.millisecondsSinceEpoch
        session.unacknowledged = [(session.version, now.millisecondsSinceEpoch)]
        sessions[node] = session
        return NetworkTableMessage(kind: .full, session: session.id, version: session.version, base: 0, tables: tables,
                                   hostPorts: hostPorts)
    }
}
