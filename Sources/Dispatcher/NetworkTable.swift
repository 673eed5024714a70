import ClusterState

/// One overlay network as a node needs it to wire tasks and answer DNS: the network's VXLAN id
/// and subnet, every node's end of it (overlay address and underlay address, the VTEP), and
/// every service on it with its VIP, published ports and live tasks' addresses.
///
/// It exists so service discovery and load balancing never depend on gossip: the leader builds
/// the tables from the replicated state and the dispatcher pushes them (`NetworkTableMessage`),
/// so every node that has the same version has the same tables (moby/moby #47728).
/// Addresses are in CIDR form as the API shows them (`10.0.1.5/24`); lists are sorted.
public struct NetworkTable: Codable, Equatable, Sendable {
    public var networkID: String
    public var name: String
    public var vxlanID: UInt32
    public var subnet: String
    public var gateway: String
    /// The routing-mesh network: every node gets it, and its services' ingress ports are
    /// published on every node.
    public var ingress: Bool
    /// Nodes with an address on the network, by node id.
    public var peers: [Peer]
    /// Services with a VIP or a live task on the network, by name.
    public var services: [ServiceEntry]

    public init(networkID: String, name: String, vxlanID: UInt32, subnet: String, gateway: String, ingress: Bool,
                peers: [Peer], services: [ServiceEntry]) {
        self.networkID = networkID
        self.name = name
        self.vxlanID = vxlanID
        self.subnet = subnet
        self.gateway = gateway
        self.ingress = ingress
        self.peers = peers
        self.services = services
    }

    /// A node's end of the network.
    public struct Peer: Codable, Equatable, Sendable {
        public var nodeID: String
        /// The node's address on the overlay (CIDR form).
        public var address: String
        /// The node's underlay address, where VXLAN packets for it go (`Node.Status.Addr`).
        public var underlayAddress: String

        public init(nodeID: String, address: String, underlayAddress: String) {
            self.nodeID = nodeID
            self.address = address
            self.underlayAddress = underlayAddress
        }
    }

    /// A service on the network.
    public struct ServiceEntry: Codable, Equatable, Sendable {
        public var serviceID: String
        /// The DNS name (`web`); `tasks.web` names its tasks.
        public var name: String
        /// Extra DNS names on this network (`Networks[].Aliases`).
        public var aliases: [String]
        /// `vip`: `name` resolves to `vip`; `dnsrr`: to every running task's address.
        public var endpointMode: String
        /// The service's VIP on this network (vip mode), CIDR form.
        public var vip: String?
        /// Published ports (ingress ones only in the ingress table; host-mode ones in every table
        /// of the service, ingress included when it has no network of its own; the node maps
        /// those to its local tasks).
        public var ports: [PortConfig]
        /// Live tasks on the network (not stopped), by task id.
        public var tasks: [TaskEndpoint]

        public init(serviceID: String, name: String, aliases: [String], endpointMode: String, vip: String?, ports: [PortConfig],
                    tasks: [TaskEndpoint]) {
            self.serviceID = serviceID
            self.name = name
            self.aliases = aliases
            self.endpointMode = endpointMode
            self.vip = vip
            self.ports = ports
            self.tasks = tasks
        }
    }

    /// One task's address on the network and where it stands. A node puts a task into load
    /// balancing and DNS only while `state` is running and `desiredState` is running (or below).
    public struct TaskEndpoint: Codable, Equatable, Sendable {
        public var taskID: String
        /// Docker's task name: `web.1.<task id>` (replicated) or `web.<node id>.<task id>` (global).
        public var name: String
        public var nodeID: String?
        public var address: String
        public var state: TaskState
        public var desiredState: TaskState

        public init(taskID: String, name: String, nodeID: String?, address: String, state: TaskState, desiredState: TaskState) {
            self.taskID = taskID
            self.name = name
            self.nodeID = nodeID
            self.address = address
            self.state = state
            self.desiredState = desiredState
        }
    }
}

/// Builds `NetworkTable`s from the replicated state. Pure.
public enum NetworkTables {
    /// Every network's table, by network id.
    public static func all(in state: ClusterState) -> [String: NetworkTable] {
        var entries: [String: [String: NetworkTable.ServiceEntry]] = [:]
        for service in state.sortedServices {
            let mode = service.endpoint?.spec.mode ?? "vip"
            for vip in service.endpoint?.virtualIPs ?? [] {
                entries[vip.networkID, default: [:]][service.id] = entry(service, networkID: vip.networkID, vip: vip.addr, mode: mode, state: state)
            }
        }
        for task in state.sortedTasks where task.holdsAddresses {
            guard let service = state.services[task.serviceID] else { continue }
            for attachment in task.networksAttachments ?? [] {
                guard state.networking.networks[attachment.networkID] != nil, let address = attachment.addresses.first else { continue }
                var serviceEntry = entries[attachment.networkID]?[service.id]
                    ?? entry(service, networkID: attachment.networkID, vip: nil, mode: service.endpoint?.spec.mode ?? "vip", state: state)
                serviceEntry.tasks.append(NetworkTable.TaskEndpoint(taskID: task.id, name: taskName(task, service), nodeID: task.nodeID,
                                                                    address: address, state: task.status.state,
                                                                    desiredState: task.desiredState))
                entries[attachment.networkID, default: [:]][service.id] = serviceEntry
            }
        }
        var peers: [String: [NetworkTable.Peer]] = [:]
        for nodeID in state.networking.nodeAddresses.keys.sorted() {
            guard let node = state.nodes[nodeID] else { continue }
            for (networkID, address) in state.networking.nodeAddresses[nodeID]! {
                guard let pool = state.networking.pools[networkID] else { continue }
                peers[networkID, default: []].append(NetworkTable.Peer(nodeID: nodeID, address: pool.subnet.cidr(address),
                                                                       underlayAddress: node.status.addr))
            }
        }
        var tables: [String: NetworkTable] = [:]
        for network in state.sortedNetworks {
            let services = (entries[network.id] ?? [:]).values.sorted { ($0.name, $0.serviceID) < ($1.name, $1.serviceID) }
            tables[network.id] = NetworkTable(networkID: network.id, name: network.spec.name, vxlanID: network.vxlanID,
                                              subnet: network.subnet.description, gateway: network.gateway.description,
                                              ingress: network.spec.ingress, peers: peers[network.id] ?? [], services: services)
        }
        return tables
    }

    /// The ids of the networks node `nodeID` needs: ingress, and every network one of its live
    /// tasks has an address on. Sorted.
    public static func networks(ofNode nodeID: String, in state: ClusterState) -> [String] {
        var ids = Set<String>()
        if let ingress = state.networking.ingressNetwork { ids.insert(ingress.id) }
        for task in state.tasks(onNode: nodeID) where task.holdsAddresses {
            for attachment in task.networksAttachments ?? [] where state.networking.networks[attachment.networkID] != nil {
                ids.insert(attachment.networkID)
            }
        }
        return ids.sorted()
    }

    /// The tables node `nodeID` needs, ordered by network id.
    public static func tables(forNode nodeID: String, in state: ClusterState, all: [String: NetworkTable]? = nil) -> [NetworkTable] {
        let tables = all ?? self.all(in: state)
        return networks(ofNode: nodeID, in: state).compactMap { tables[$0] }
    }

    private static func entry(_ service: Service, networkID: String, vip: String?, mode: String, state: ClusterState)
        -> NetworkTable.ServiceEntry {
        let ingress = state.networking.networks[networkID]?.spec.ingress == true
        // A service without networks of its own joins ingress for its host-mode ports too (its
        // tasks get namespaces there), so the ingress table carries those.
        let ownNetworks = !(service.spec.taskTemplate.networks ?? []).isEmpty
        let ports = (service.endpoint?.ports ?? []).filter {
            ingress ? $0.publishMode == "ingress" || (!ownNetworks && $0.publishMode == "host") : $0.publishMode == "host"
        }
        let aliases = (service.spec.taskTemplate.networks ?? []).first { $0.target == networkID }?.aliases ?? []
        return NetworkTable.ServiceEntry(serviceID: service.id, name: service.spec.name, aliases: aliases.sorted(), endpointMode: mode,
                                         vip: vip, ports: ports, tasks: [])
    }

    /// Docker's task name.
    public static func taskName(_ task: SwarmTask, _ service: Service) -> String {
        if let slot = task.slot, slot != 0 { return "\(service.spec.name).\(slot).\(task.id)" }
        return "\(service.spec.name).\(task.nodeID ?? "").\(task.id)"
    }
}
