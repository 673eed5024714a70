import ClusterState

/// What the leader's dispatcher sends a node about its networks: either everything (`full`),
/// which replaces what the node had, or one versioned change on top of the version it has
/// (`incremental`: the tables that changed, whole, and the ids of tables it no longer needs).
///
/// It follows the assignment stream's rules (`AssignmentMessage`): a stream id that orders
/// leaders, versions counted from 1, and `base` so a node detects a hole and asks for the full
/// set instead of serving DNS from tables with a change missing.
public struct NetworkTableMessage: Codable, Equatable, Sendable {
    public typealias Kind = StreamMessageKind

    public var kind: Kind
    public var session: UInt64
    public var version: UInt64
    /// For `incremental`: the version this change applies to (`version - 1`); 0 for `full`.
    public var base: UInt64
    /// `full`: every table the node needs; `incremental`: the changed and new ones.
    public var tables: [NetworkTable]
    /// `incremental`: ids of networks the node no longer needs.
    public var removed: [String]
    /// Host-mode published ports of the node's live tasks. `full`: all of them; `incremental`:
    /// all of them when they changed, nil when unchanged.
    public var hostPorts: [HostPortBinding]?
    /// A message too large for one frame travels as `parts` messages with the same session and
    /// version (`split(fitting:)`); this is part `part`, counted from 1. Both nil when whole, so a
    /// whole message reads as before to nodes that predate parts.
    public var part: UInt32?
    public var parts: UInt32?

    public init(kind: Kind, session: UInt64, version: UInt64, base: UInt64, tables: [NetworkTable], removed: [String] = [],
                hostPorts: [HostPortBinding]?) {
        precondition(kind == .full || base + 1 == version, "an incremental network table message applies to the version just before it")
        precondition(kind == .incremental || (removed.isEmpty && hostPorts != nil), "a full network table set lists no removals and every host port")
        self.kind = kind
        self.session = session
        self.version = version
        self.base = base
        self.tables = tables
        self.removed = removed
        self.hostPorts = hostPorts
    }
}

/// The host-mode ports one local task publishes: the node maps each `PublishedPort` on its own
/// addresses to `TargetPort` in the task, keeping the client's address.
public struct HostPortBinding: Codable, Equatable, Sendable {
    public var taskID: String
    public var serviceID: String
    public var ports: [PortConfig]

    public init(taskID: String, serviceID: String, ports: [PortConfig]) {
        self.taskID = taskID
        self.serviceID = serviceID
        self.ports = ports
    }

    /// The bindings of node `nodeID`'s live tasks whose services publish host-mode ports, by task id.
    public static func forNode(_ nodeID: String, in state: ClusterState) -> [HostPortBinding] {
        state.tasks(onNode: nodeID).compactMap { task in
            guard task.holdsAddresses, let service = state.services[task.serviceID] else { return nil }
            let ports = (service.endpoint?.ports ?? []).filter { $0.publishMode == "host" }
            return ports.isEmpty ? nil : HostPortBinding(taskID: task.id, serviceID: service.id, ports: ports)
        }
    }
}
