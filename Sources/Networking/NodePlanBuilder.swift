/// Builds a node's `NodeNetworkPlan` from the service tables the dispatcher pushes (one table per
/// network: its VNI and subnet, every node's end of it, every service with its VIP, ports and
/// live tasks), plus what only this node knows: its tasks' health.
///
/// It exists so the glue between the replicated data and the plumbing is a field-by-field copy
/// into `NetworkTableInput`: choosing the networks present here, the local task namespaces, the
/// ready backends, the forwarding entries and the gateway addresses is decided here, pure and tested.
public enum NodePlanBuilder {
    /// Health of a local task as the agent sees it.
    public struct Health: Equatable, Sendable {
        public var hasHealthCheck: Bool
        public var healthy: Bool
        public init(hasHealthCheck: Bool, healthy: Bool) {
            self.hasHealthCheck = hasHealthCheck
            self.healthy = healthy
        }
    }

    /// `tables`: those the dispatcher sent this node. `health`: local tasks with a health check
    /// (remote tasks reach the tables as running only once their own node saw them healthy).
    public static func plan(nodeID: String, gateway: GatewayBridge, tables: [NetworkTableInput],
                            health: [String: Health] = [:], overlayMTU: Int = 1450) throws(NetworkingError) -> NodeNetworkPlan {
        var networks: [OverlayNetwork] = []
        var underlay: IPv4Address?
        var remote = Set<RemoteEndpoint>()
        for table in tables.sorted(by: { $0.networkID < $1.networkID }) where isNeeded(table, nodeID: nodeID) {
            guard let subnet = IPv4Subnet(table.subnet) else { throw NetworkingError("network \(table.name): invalid subnet '\(table.subnet)'") }
            guard let own = table.peers.first(where: { $0.nodeID == nodeID }) else { continue }
            let ownUnderlay = try address(own.underlayAddress, "node \(nodeID)'s underlay address")
            underlay = underlay ?? ownUnderlay
            var peers: [IPv4Address] = []
            for peer in table.peers where peer.nodeID != nodeID {
                let host = try address(peer.underlayAddress, "node \(peer.nodeID)'s underlay address")
                peers.append(host)
                remote.insert(RemoteEndpoint(networkID: table.networkID, address: try address(peer.address, "node \(peer.nodeID)'s address"), host: host))
            }
            networks.append(OverlayNetwork(id: table.networkID, name: table.name, vni: table.vxlanID, subnet: subnet,
                                           nodeAddress: try address(own.address, "node \(nodeID)'s address on \(table.name)"),
                                           peers: peers.sorted()))
        }
        guard let underlay else {
            return NodeNetworkPlan(underlayAddress: IPv4Address(0), gateway: gateway, overlayMTU: overlayMTU)
        }
        let present = Set(networks.map(\.id))
        var attachments: [String: [TaskAttachment]] = [:], names: [String: String] = [:]
        var services: [String: ServiceEntry] = [:]
        for table in tables.sorted(by: { $0.networkID < $1.networkID }) where present.contains(table.networkID) {
            let hosts = Dictionary(table.peers.map { ($0.nodeID, $0.underlayAddress) }, uniquingKeysWith: { first, _ in first })
            for input in table.services {
                var service = services[input.serviceID] ?? ServiceEntry(id: input.serviceID, name: input.name,
                                                                         endpointMode: input.endpointMode == "dnsrr" ? .dnsrr : .vip)
                service.aliases = Array(Set(service.aliases + input.aliases)).sorted()
                if let vip = input.vip { service.virtualIPs[table.networkID] = try address(vip, "service \(input.name)'s VIP") }
                for port in input.ports where !service.ports.contains(port) { service.ports.append(port) }
                if table.ingress { service.ingressNetworkID = table.networkID }
                for task in input.tasks {
                    let taskAddress = try address(task.address, "task \(task.taskID)'s address")
                    let local = task.nodeID == nodeID
                    if local && !task.terminated {
                        attachments[task.taskID, default: []].append(TaskAttachment(networkID: table.networkID, address: taskAddress))
                        names[task.taskID] = task.name
                    } else if !local, let node = task.nodeID, let host = hosts[node].flatMap(IPv4Address.init) {
                        remote.insert(RemoteEndpoint(networkID: table.networkID, address: taskAddress, host: host))
                    }
                    let taskHealth = local ? health[task.taskID] : nil
                    let ready = ServiceBackend.isReady(running: task.running, hasHealthCheck: taskHealth?.hasHealthCheck ?? false,
                                                       healthy: taskHealth?.healthy ?? false, stopRequested: task.stopRequested)
                    if let index = service.backends.firstIndex(where: { $0.taskID == task.taskID }) {
                        service.backends[index].addresses[table.networkID] = taskAddress
                        service.backends[index].ready = service.backends[index].ready && ready
                    } else {
                        service.backends.append(ServiceBackend(taskID: task.taskID, taskName: task.name,
                                                               addresses: [table.networkID: taskAddress], ready: ready))
                    }
                }
                services[input.serviceID] = service
            }
        }
        let gatewayAddresses = GatewayAddresses.assign(Array(attachments.keys), in: gateway)
        let tasks = attachments.keys.sorted().map { id in
            LocalTask(id: id, name: names[id] ?? id, gatewayAddress: gatewayAddresses[id]!,
                      attachments: attachments[id]!.sorted { $0.networkID < $1.networkID })
        }
        let plan = NodeNetworkPlan(underlayAddress: underlay, gateway: gateway, overlayMTU: overlayMTU, networks: networks, tasks: tasks,
                                   services: services.values.sorted { $0.id < $1.id },
                                   remoteEndpoints: remote.sorted { ($0.networkID, $0.address) < ($1.networkID, $1.address) })
        try plan.validate()
        return plan
    }

    /// Whether this node builds a network: it has a live task on it, or it is the ingress network
    /// and some service publishes a port (the routing mesh answers on every node). Every node
    /// receives the ingress table; a node (or a test cluster on one machine) whose services publish
    /// nothing creates no bridge, VXLAN device or rules for it.
    static func isNeeded(_ table: NetworkTableInput, nodeID: String) -> Bool {
        table.services.contains { service in
            (table.ingress && !service.ports.isEmpty) || service.tasks.contains { $0.nodeID == nodeID && !$0.terminated }
        }
    }

    /// Parses an address in the tables' CIDR form (`10.0.1.5/24`) or plain.
    static func address(_ text: String, _ what: String) throws(NetworkingError) -> IPv4Address {
        let plain = text.split(separator: "/").first.map(String.init) ?? text
        guard let address = IPv4Address(plain) else { throw NetworkingError("\(what) '\(text)' is not an IPv4 address") }
        return address
    }
}

/// Each local task's address on the gateway bridge, derived from its id (FNV hash into the subnet,
/// the next free address on a collision, tasks taken in id order), so a restarted agent computes
/// the same addresses for the task namespaces it adopts without having stored them.
public enum GatewayAddresses {
    public static func assign(_ taskIDs: [String], in gateway: GatewayBridge) -> [String: IPv4Address] {
        let size = UInt32(1) << UInt32(32 - gateway.subnet.prefixLength)
        precondition(size >= 8 && UInt32(taskIDs.count) < size - 3, "gateway subnet \(gateway.subnet) too small for \(taskIDs.count) tasks")
        let usable = size - 2   // network and broadcast addresses excluded
        var used: Set<UInt32> = [gateway.nodeAddress.value]
        var result: [String: IPv4Address] = [:]
        for id in taskIDs.sorted() {
            var offset = UInt32(fnv32Hex(id), radix: 16)! % usable
            while used.contains(gateway.subnet.network.value + 1 + offset) { offset = (offset + 1) % usable }
            let address = gateway.subnet.network.value + 1 + offset
            used.insert(address)
            result[id] = IPv4Address(address)
        }
        return result
    }
}

/// One service table as the dispatcher sends it (Dispatcher's `NetworkTable`, field for field).
public struct NetworkTableInput: Equatable, Sendable {
    public struct Peer: Equatable, Sendable {
        public var nodeID: String
        public var address: String
        public var underlayAddress: String
        public init(nodeID: String, address: String, underlayAddress: String) {
            self.nodeID = nodeID
            self.address = address
            self.underlayAddress = underlayAddress
        }
    }

    public struct Service: Equatable, Sendable {
        public var serviceID: String
        public var name: String
        public var aliases: [String]
        public var endpointMode: String
        public var vip: String?
        public var ports: [PublishedPort]
        public var tasks: [Task]
        public init(serviceID: String, name: String, aliases: [String] = [], endpointMode: String = "vip", vip: String? = nil,
                    ports: [PublishedPort] = [], tasks: [Task] = []) {
            self.serviceID = serviceID
            self.name = name
            self.aliases = aliases
            self.endpointMode = endpointMode
            self.vip = vip
            self.ports = ports
            self.tasks = tasks
        }
    }

    /// A task's address and where it stands: `running` (observed state running), `stopRequested`
    /// (desired state past running: it leaves load balancing now, before it is stopped),
    /// `terminated` (observed state past running: its namespace goes).
    public struct Task: Equatable, Sendable {
        public var taskID: String
        public var name: String
        public var nodeID: String?
        public var address: String
        public var running: Bool
        public var stopRequested: Bool
        public var terminated: Bool
        public init(taskID: String, name: String, nodeID: String?, address: String, running: Bool, stopRequested: Bool = false,
                    terminated: Bool = false) {
            self.taskID = taskID
            self.name = name
            self.nodeID = nodeID
            self.address = address
            self.running = running
            self.stopRequested = stopRequested
            self.terminated = terminated
        }
    }

    public var networkID: String
    public var name: String
    public var vxlanID: UInt32
    public var subnet: String
    public var ingress: Bool
    public var peers: [Peer]
    public var services: [Service]

    public init(networkID: String, name: String, vxlanID: UInt32, subnet: String, ingress: Bool, peers: [Peer], services: [Service]) {
        self.networkID = networkID
        self.name = name
        self.vxlanID = vxlanID
        self.subnet = subnet
        self.ingress = ingress
        self.peers = peers
        self.services = services
    }
}
