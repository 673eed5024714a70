/// The network tables a node holds from the leader's network table stream (our extra
/// `Swarm.NetworkTables` object in `/info`).
///
/// It exists so an operator (and the end-to-end tests) can see, on any node, which service
/// addresses that node would route and resolve, and whether its stream is in step with the
/// leader's, without reading logs.
public struct NetworkTablesStatus: Codable, Sendable, Equatable {
    /// One network's table, reduced to what discovery and load balancing use.
    public struct Table: Codable, Sendable, Equatable {
        public var networkID: String
        public var name: String
        public var vxlanID: UInt32
        public var subnet: String
        /// Nodes with tasks on the network (the VXLAN peers), by node id.
        public var peers: [String]
        public var services: [ServiceEntry]

        public init(networkID: String, name: String, vxlanID: UInt32, subnet: String, peers: [String], services: [ServiceEntry]) {
            self.networkID = networkID
            self.name = name
            self.vxlanID = vxlanID
            self.subnet = subnet
            self.peers = peers
            self.services = services
        }

        enum CodingKeys: String, CodingKey {
            case networkID = "NetworkID", name = "Name", vxlanID = "VXLANID", subnet = "Subnet", peers = "Peers", services = "Services"
        }
    }

    /// A service on one network: its name, VIP and task addresses.
    public struct ServiceEntry: Codable, Sendable, Equatable {
        public var serviceID: String
        public var name: String
        public var endpointMode: String
        public var vip: String?
        /// Task addresses (no prefix length), in the table's order.
        public var taskAddresses: [String]

        public init(serviceID: String, name: String, endpointMode: String, vip: String?, taskAddresses: [String]) {
            self.serviceID = serviceID
            self.name = name
            self.endpointMode = endpointMode
            self.vip = vip
            self.taskAddresses = taskAddresses
        }

        enum CodingKeys: String, CodingKey {
            case serviceID = "ServiceID", name = "Name", endpointMode = "EndpointMode", vip = "VIP", taskAddresses = "TaskAddresses"
        }
    }

    /// Where one stream stands: its session and latest version.
    public struct Position: Codable, Sendable, Equatable {
        public var session: UInt64
        public var version: UInt64

        public init(session: UInt64, version: UInt64) {
            self.session = session
            self.version = version
        }

        enum CodingKeys: String, CodingKey {
            case session = "Session", version = "Version"
        }
    }

    /// The stream session and version this node has applied.
    public var session: UInt64
    public var version: UInt64
    /// The node found a hole and waits for the full set.
    public var needsFullSet: Bool
    /// Holes this node found in its stream since it started.
    public var gapsSeen: UInt64
    /// On the leader: what it last sent each node with a session, by node id; nil elsewhere.
    public var sent: [String: Position]?
    public var tables: [Table]

    public init(session: UInt64, version: UInt64, needsFullSet: Bool, gapsSeen: UInt64, sent: [String: Position]?, tables: [Table]) {
        self.session = session
        self.version = version
        self.needsFullSet = needsFullSet
        self.gapsSeen = gapsSeen
        self.sent = sent
        self.tables = tables
    }

    enum CodingKeys: String, CodingKey {
        case session = "Session", version = "Version", needsFullSet = "NeedsFullSet", gapsSeen = "GapsSeen"
        case sent = "Sent", tables = "Tables", count = "Count"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(session, forKey: .session)
        try container.encode(version, forKey: .version)
        try container.encode(needsFullSet, forKey: .needsFullSet)
        try container.encode(gapsSeen, forKey: .gapsSeen)
        try container.encodeIfPresent(sent, forKey: .sent)
        try container.encode(tables.count, forKey: .count)
        try container.encode(tables, forKey: .tables)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        session = try container.decode(UInt64.self, forKey: .session)
        version = try container.decode(UInt64.self, forKey: .version)
        needsFullSet = try container.decode(Bool.self, forKey: .needsFullSet)
        gapsSeen = try container.decode(UInt64.self, forKey: .gapsSeen)
        sent = try container.decodeIfPresent([String: Position].self, forKey: .sent)
        tables = try container.decode([Table].self, forKey: .tables)
    }
}
