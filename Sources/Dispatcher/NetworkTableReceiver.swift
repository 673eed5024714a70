import ClusterState

/// The node's end of the network table stream: applies full sets and in-order changes, refuses
/// a change that does not follow the version it has, and says what it has applied (the ack its
/// heartbeats carry). Pure: the node shell (later) and the simulator's agents feed it messages;
/// the network plumbing renders from `tables` and `hostPorts`.
public struct NetworkTableReceiver: Sendable {
    public enum Outcome: Equatable, Sendable {
        case applied, stale, needsFullSet, waitingForFullSet
    }

    public private(set) var session: UInt64 = 0
    public private(set) var version: UInt64 = 0
    public private(set) var needsFullSet = false
    /// The tables as of `version`, by network id.
    public private(set) var tables: [String: NetworkTable] = [:]
    public private(set) var hostPorts: [HostPortBinding] = []

    public init() {}

    public var ack: NetworkTableAck { NetworkTableAck(session: session, version: version, needsFullSet: needsFullSet) }

    public var sortedTables: [NetworkTable] { tables.keys.sorted().map { tables[$0]! } }

    public mutating func receive(_ message: NetworkTableMessage) -> Outcome {
        switch message.kind {
        case .full:
            guard message.session > session || (message.session == session && message.version > version) else { return .stale }
            session = message.session
            version = message.version
            needsFullSet = false
            tables = Dictionary(message.tables.map { ($0.networkID, $0) }, uniquingKeysWith: { _, last in last })
            hostPorts = message.hostPorts ?? []
            return .applied
        case .incremental:
            if message.session < session || (message.session == session && message.version <= version) { return .stale }
            guard message.session == session, message.base == version, !needsFullSet else {
                if needsFullSet { return .waitingForFullSet }
                needsFullSet = true
                return .needsFullSet
            }
            version = message.version
            for table in message.tables { tables[table.networkID] = table }
            for id in message.removed { tables[id] = nil }
            if let ports = message.hostPorts { hostPorts = ports }
            return .applied
        }
    }
}
