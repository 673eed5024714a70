/// Everything one node must make true about networking, as plain values: the overlay networks
/// present here, the tasks running here, and the service tables of those networks.
///
/// It exists so the worker-side networking is a pure function of replicated data: the runner builds
/// a plan from the dispatcher's service tables, the renderers turn it into `ip`/`bridge` commands, an
/// nftables ruleset and DNS records, and nothing is kept as refcounts that a restart could lose.
public struct NodeNetworkPlan: Equatable, Sendable {
    /// This node's address on the underlay: the VXLAN tunnel endpoint other nodes send to.
    public var underlayAddress: IPv4Address
    /// The node-local bridge tasks reach the outside through (masqueraded).
    public var gateway: GatewayBridge
    /// MTU of overlay bridges and task interfaces: the underlay MTU minus the 50 bytes of VXLAN.
    public var overlayMTU: Int
    public var vxlanPort: UInt16
    public var networks: [OverlayNetwork]
    public var tasks: [LocalTask]
    public var services: [ServiceEntry]
    /// Addresses of tasks and node attachments hosted by other nodes, for forwarding entries.
    public var remoteEndpoints: [RemoteEndpoint]

    public init(underlayAddress: IPv4Address, gateway: GatewayBridge, overlayMTU: Int = 1450, vxlanPort: UInt16 = 4789,
                networks: [OverlayNetwork] = [], tasks: [LocalTask] = [], services: [ServiceEntry] = [],
                remoteEndpoints: [RemoteEndpoint] = []) {
        self.underlayAddress = underlayAddress
        self.gateway = gateway
        self.overlayMTU = overlayMTU
        self.vxlanPort = vxlanPort
        self.networks = networks
        self.tasks = tasks
        self.services = services
        self.remoteEndpoints = remoteEndpoints
    }

    public func network(_ id: String) -> OverlayNetwork? { networks.first { $0.id == id } }

    /// Refuses a plan the renderers cannot honour, naming the first problem: a task attached to a
    /// network the plan lacks, an address outside its subnet, a duplicate id, VNI or address.
    public func validate() throws(NetworkingError) {
        var vnis = Set<UInt32>(), ids = Set<String>(), addresses = Set<IPv4Address>()
        for network in networks {
            guard ids.insert("network " + network.id).inserted, vnis.insert(network.vni).inserted else {
                throw NetworkingError("network \(network.name) (\(network.id)) appears twice or reuses VNI \(network.vni)")
            }
        }
        for task in tasks {
            guard ids.insert("task " + task.id).inserted else { throw NetworkingError("task \(task.id) appears twice in the plan") }
            guard gateway.subnet.contains(task.gatewayAddress), addresses.insert(task.gatewayAddress).inserted,
                  task.gatewayAddress != gateway.nodeAddress else {
                throw NetworkingError("task \(task.id): gateway address \(task.gatewayAddress) is outside \(gateway.subnet) or already used")
            }
            for attachment in task.attachments {
                guard let network = network(attachment.networkID) else {
                    throw NetworkingError("task \(task.id) is attached to network \(attachment.networkID), which this node's plan does not have")
                }
                guard network.subnet.contains(attachment.address), attachment.address != network.nodeAddress else {
                    throw NetworkingError("task \(task.id): address \(attachment.address) is outside \(network.subnet) or is the node's")
                }
            }
            guard Set(task.attachments.map(\.networkID)).count == task.attachments.count else {
                throw NetworkingError("task \(task.id) is attached twice to one network")
            }
        }
    }
    public func task(_ id: String) -> LocalTask? { tasks.first { $0.id == id } }
}

/// The node-local bridge (Docker's `docker_gwbridge`): every task gets a second interface on it, its
/// default route, masqueraded to the node's address for outbound traffic. Host-mode and
/// `policy=local` published ports are delivered to a task's address on it, so replies follow the
/// default route back through the node and the client address is kept.
public struct GatewayBridge: Equatable, Sendable {
    public var subnet: IPv4Subnet
    /// The node's own address on the bridge: the tasks' default gateway.
    public var nodeAddress: IPv4Address

    public init(subnet: IPv4Subnet, nodeAddress: IPv4Address) {
        precondition(subnet.contains(nodeAddress), "gateway address \(nodeAddress) outside \(subnet)")
        self.subnet = subnet
        self.nodeAddress = nodeAddress
    }
}

/// One overlay network as this node sees it.
public struct OverlayNetwork: Equatable, Sendable {
    public var id: String
    public var name: String
    /// VXLAN network identifier, in [4096, 2^24) as allocated by the managers.
    public var vni: UInt32
    public var subnet: IPv4Subnet
    /// This node's attachment address on the network: the routing mesh enters the overlay from it.
    public var nodeAddress: IPv4Address
    /// Underlay addresses of the other nodes that have this network (flooding for ARP goes to them).
    public var peers: [IPv4Address]

    public init(id: String, name: String, vni: UInt32, subnet: IPv4Subnet, nodeAddress: IPv4Address, peers: [IPv4Address]) {
        precondition(vni > 0 && vni < 1 << 24, "VNI \(vni) outside 1..<2^24")
        precondition(subnet.contains(nodeAddress), "node address \(nodeAddress) outside \(subnet)")
        self.id = id
        self.name = name
        self.vni = vni
        self.subnet = subnet
        self.nodeAddress = nodeAddress
        self.peers = peers
    }
}

/// A task (container) on this node that has network attachments: it gets its own namespace.
public struct LocalTask: Equatable, Sendable {
    public var id: String
    /// The task name used in DNS (`web.1.<id>`).
    public var name: String
    /// The task's address on the node-local gateway bridge.
    public var gatewayAddress: IPv4Address
    public var attachments: [TaskAttachment]

    public init(id: String, name: String, gatewayAddress: IPv4Address, attachments: [TaskAttachment]) {
        self.id = id
        self.name = name
        self.gatewayAddress = gatewayAddress
        self.attachments = attachments
    }
}

/// A task's address on one overlay network.
public struct TaskAttachment: Equatable, Sendable {
    public var networkID: String
    public var address: IPv4Address

    public init(networkID: String, address: IPv4Address) {
        self.networkID = networkID
        self.address = address
    }
}

/// An address on an overlay network that lives on another node.
public struct RemoteEndpoint: Equatable, Hashable, Sendable {
    public var networkID: String
    public var address: IPv4Address
    /// The underlay address of the node hosting it.
    public var host: IPv4Address

    public init(networkID: String, address: IPv4Address, host: IPv4Address) {
        self.networkID = networkID
        self.address = address
        self.host = host
    }
}

/// How clients reach a service's tasks: through one virtual address, or by DNS round robin.
public enum EndpointMode: String, Equatable, Sendable {
    case vip, dnsrr
}

/// One service of the service tables.
public struct ServiceEntry: Equatable, Sendable {
    public var id: String
    public var name: String
    /// Other names it answers to in DNS (network aliases).
    public var aliases: [String]
    public var endpointMode: EndpointMode
    /// Its virtual address on each network it is attached to (VIP mode).
    public var virtualIPs: [String: IPv4Address]
    public var backends: [ServiceBackend]
    public var ports: [PublishedPort]
    /// The network the routing mesh reaches its tasks over (the ingress network).
    public var ingressNetworkID: String?

    public init(id: String, name: String, aliases: [String] = [], endpointMode: EndpointMode = .vip,
                virtualIPs: [String: IPv4Address] = [:], backends: [ServiceBackend] = [], ports: [PublishedPort] = [],
                ingressNetworkID: String? = nil) {
        self.id = id
        self.name = name
        self.aliases = aliases
        self.endpointMode = endpointMode
        self.virtualIPs = virtualIPs
        self.backends = backends
        self.ports = ports
        self.ingressNetworkID = ingressNetworkID
    }

    /// The backends that may receive traffic and appear in DNS.
    public var readyBackends: [ServiceBackend] { backends.filter(\.ready) }

    /// The networks the service has a VIP or a task address on, sorted.
    public var networkIDs: [String] {
        Set(virtualIPs.keys).union(backends.flatMap { $0.addresses.keys }).sorted()
    }
}

/// One task of a service, wherever it runs.
public struct ServiceBackend: Equatable, Sendable {
    public var taskID: String
    public var taskName: String
    /// Its address on each of the service's networks.
    public var addresses: [String: IPv4Address]
    /// Whether it may receive traffic: see `ServiceBackend.isReady`.
    public var ready: Bool

    public init(taskID: String, taskName: String, addresses: [String: IPv4Address], ready: Bool) {
        self.taskID = taskID
        self.taskName = taskName
        self.addresses = addresses
        self.ready = ready
    }

    /// A task enters load balancing and DNS only once running, and healthy when it has a health
    /// check; it leaves them as soon as it is asked to stop, before it is stopped.
    public static func isReady(running: Bool, hasHealthCheck: Bool, healthy: Bool, stopRequested: Bool) -> Bool {
        running && !stopRequested && (!hasHealthCheck || healthy)
    }
}

/// A published port of a service.
public struct PublishedPort: Equatable, Sendable {
    public enum Proto: String, Equatable, Sendable { case tcp, udp }
    /// `ingress`: every node accepts the port (routing mesh); `host`: only nodes running a task.
    public enum Mode: String, Equatable, Sendable { case ingress, host }
    /// For ingress ports: `mesh` sends to any task over the overlay (the client address is replaced
    /// by the node's); `local` (our extension) delivers only to this node's tasks and keeps it.
    public enum Policy: String, Equatable, Sendable { case mesh, local }

    public var proto: Proto
    public var published: UInt16
    public var target: UInt16
    public var mode: Mode
    public var policy: Policy

    public init(proto: Proto = .tcp, published: UInt16, target: UInt16, mode: Mode = .ingress, policy: Policy = .mesh) {
        self.proto = proto
        self.published = published
        self.target = target
        self.mode = mode
        self.policy = policy
    }

    /// Whether it is delivered only to local tasks' gateway addresses (client address kept).
    public var deliversLocally: Bool { mode == .host || policy == .local }
}
