import ClusterState

/// The network table stream as a `StreamContent`: the items are the tables of the networks the
/// node needs (a table changed when any of it did; it goes whole), and beside them go the
/// host-mode published ports of the node's live tasks, all of them whenever they change.
public enum NetworkTableContent: StreamContent {
    public typealias Message = NetworkTableMessage

    public static func id(of table: NetworkTable) -> String { table.networkID }
    public static func stamp(of table: NetworkTable) -> NetworkTable { table }
    public static var nothingHeld: [HostPortBinding] { [] }
    public static func held(_ hostPorts: [HostPortBinding]) -> [HostPortBinding] { hostPorts }
    public static func whole(_ hostPorts: [HostPortBinding]) -> [HostPortBinding]? { hostPorts }

    /// All the host ports when they changed, nil when not.
    public static func change(from held: [HostPortBinding], to hostPorts: [HostPortBinding]) -> [HostPortBinding]? {
        hostPorts == held ? nil : hostPorts
    }

    public static func isEmpty(_ change: [HostPortBinding]?) -> Bool { change == nil }
    public static func applying(_ change: [HostPortBinding]?, to held: [HostPortBinding]) -> [HostPortBinding] { change ?? held }
    public static func transferAllowanceMillis(_ change: [HostPortBinding]?) -> UInt64 { 0 }
}

public typealias NetworkTableDispatcher = StreamDispatcher<NetworkTableContent>
public typealias NetworkTableReceiver = StreamReceiver<NetworkTableContent>
public typealias NetworkTableAck = StreamAck

extension NetworkTableMessage: StreamMessage {
    public init(kind: Kind, session: UInt64, version: UInt64, base: UInt64, items: [NetworkTable], removed: [String],
                change: [HostPortBinding]?) {
        self.init(kind: kind, session: session, version: version, base: base, tables: items, removed: removed, hostPorts: change)
    }

    public var items: [NetworkTable] { tables }
    public var change: [HostPortBinding]? { hostPorts }
}

extension StreamReceiver where Content == NetworkTableContent {
    /// The tables as of `version`, by network id.
    public var tables: [String: NetworkTable] { items }
    /// The tables ordered by network id.
    public var sortedTables: [NetworkTable] { sortedItems }
    /// Host-mode published ports of the node's live tasks.
    public var hostPorts: [HostPortBinding] { held }
}
