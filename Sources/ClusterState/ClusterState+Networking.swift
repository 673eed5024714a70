/// Networks in the apply: the network commands, and the allocation steps the service, task and
/// node commands take (VIPs and ingress ports when a service's spec changes, addresses when a
/// task is created, node attachment addresses when a task is assigned, release when a task
/// stops or is removed). A refused command changes nothing: every step that can fail works on
/// a copy and is stored only when it succeeds.
extension ClusterState {
    /// The networks, ordered by id.
    public var sortedNetworks: [Network] { networking.sortedNetworks }

    /// Finds a network by full id, name, or unique id prefix (as `docker network inspect` does).
    public func findNetwork(_ reference: String) -> Result<Network, ClusterError> {
        if let network = networking.networks[reference] { return .success(network) }
        if let network = networking.network(named: reference) { return .success(network) }
        let byPrefix = sortedNetworks.filter { $0.id.hasPrefix(reference) }
        if byPrefix.count == 1 { return .success(byPrefix[0]) }
        if byPrefix.count > 1 { return .failure(.conflict("network \(reference) is ambiguous (\(byPrefix.count) matches)")) }
        return .failure(.notFound(kind: "network", id: reference))
    }

    /// Who uses network `id`: the names of services attached to it (ingress: services with
    /// ingress ports, or host-mode ports and no network) and the ids of tasks still wanted running with an address on it, each
    /// sorted. Tasks already told to stop do not count (swarmkit's rule): `stack rm` removes the
    /// services, then at once their networks, while the tasks are still stopping.
    public func users(ofNetwork id: String) -> (services: [String], tasks: [String]) {
        let ingress = networking.networks[id]?.spec.ingress == true
        let services = sortedServices.filter { service in
            ingress ? Self.hasIngressPorts(service.spec) : (service.spec.taskTemplate.networks ?? []).contains { $0.target == id }
        }.map(\.spec.name)
        let tasks = sortedTasks.filter { task in
            task.holdsAddresses && task.desiredState <= .running && (task.networksAttachments ?? []).contains { $0.networkID == id }
        }.map(\.id)
        return (services, tasks)
    }

    // MARK: Network commands

    mutating func applyNetworkCommand(_ command: ClusterCommand, version: ObjectVersion) throws {
        switch command {
        case let .createNetwork(network):
            guard cluster != nil else { throw ClusterError.notInitialized }
            try createNetwork(network, version: version)
        case let .removeNetwork(id, _):
            guard let network = networking.networks[id] else { throw ClusterError.notFound(kind: "network", id: id) }
            let users = users(ofNetwork: id)
            if !users.services.isEmpty {
                throw ClusterError.invalid("network \(network.spec.name) is in use by service \(users.services.joined(separator: ", ")): "
                    + "remove the service or detach it (docker service update --network-rm \(network.spec.name))")
            }
            if !users.tasks.isEmpty {
                throw ClusterError.invalid("network \(network.spec.name) is in use by task \(users.tasks.joined(separator: ", ")): "
                    + "wait until the rolling update has replaced them")
            }
            for nodeID in networking.nodeAddresses.keys.sorted() where networking.nodeAddresses[nodeID]?[id] != nil {
                networking.nodeAddresses[nodeID]![id] = nil
                if networking.nodeAddresses[nodeID]!.isEmpty { networking.nodeAddresses[nodeID] = nil }
            }
            // Tasks still stopping keep their attachment records (their addresses go with the pool).
            networking.pools[id] = nil
            networking.networks[id] = nil
        default:
            preconditionFailure("not a network command: \(command)")
        }
    }

    private mutating func createNetwork(_ requested: Network, version: ObjectVersion) throws {
        let spec = requested.spec
        guard !requested.id.isEmpty else { throw ClusterError.invalid("network id is empty") }
        guard networking.networks[requested.id] == nil else { throw ClusterError.conflict("network \(requested.id) already exists") }
        if let problem = Self.networkSpecProblem(spec) { throw ClusterError.invalid(problem) }
        guard networking.network(named: spec.name) == nil else {
            throw ClusterError.conflict("network with name \(spec.name) already exists")
        }
        if spec.ingress, let existing = networking.ingressNetwork {
            throw ClusterError.invalid("only one ingress network can be present; \(existing.spec.name) exists: remove it first")
        }
        var work = networking
        let requestedSubnet = spec.ipam.first?.subnet.flatMap { IPv4Subnet($0) }
        let subnet = try work.allocateSubnet(requestedSubnet, name: spec.name, pool: cluster?.addressPool ?? .docker)
        let gateway = spec.ipam.first?.gateway.flatMap { IPv4Address($0) } ?? IPv4Address(subnet.base.value + 1)
        var network = requested
        network.subnet = subnet
        network.gateway = gateway
        network.vxlanID = try work.allocateVXLANID(name: spec.name)
        network.version = version
        network.updatedAt = network.createdAt
        work.networks[network.id] = network
        work.pools[network.id] = AddressPool(subnet: subnet, gateway: gateway)
        if spec.ingress {
            for node in nodesInJoinOrder { _ = work.attachNode(node.id, to: network.id) }
        }
        networking = work
    }

    /// What the apply refuses in a network spec, in words that say what to do; nil if none.
    public static func networkSpecProblem(_ spec: NetworkSpec) -> String? {
        if let problem = networkNameProblem(spec.name) { return problem }
        guard spec.driver == NetworkSpec.overlayDriver else {
            return "network driver \(spec.driver.isEmpty ? "(none)" : spec.driver) is not available: only overlay networks exist "
                + "in this cluster (-d overlay)"
        }
        guard spec.ipam.count <= 1 else { return "a network takes one IPAM config (one --subnet), \(spec.ipam.count) were given" }
        guard let config = spec.ipam.first else { return nil }
        var subnet: IPv4Subnet?
        if let text = config.subnet, !text.isEmpty {
            guard let parsed = IPv4Subnet(text) else {
                return "invalid subnet \(text): give an IPv4 subnet in CIDR form without host bits, such as 10.1.2.0/24"
            }
            guard (8...AddressPool.longestPrefix).contains(parsed.prefixLength) else {
                return "subnet \(text) has a /\(parsed.prefixLength) prefix: use a prefix from /8 to /\(AddressPool.longestPrefix)"
            }
            subnet = parsed
        }
        if let text = config.gateway, !text.isEmpty {
            guard let subnet else { return "gateway \(text) needs a subnet (--subnet) to go with it" }
            guard let gateway = IPv4Address(text), subnet.contains(gateway),
                  gateway != subnet.base, gateway != subnet.last else {
                return "gateway \(text) is not a host address of subnet \(subnet)"
            }
        }
        return nil
    }

    /// Docker's network name rule: a letter or digit, then letters, digits, `_`, `.` or `-`.
    static func networkNameProblem(_ name: String) -> String? {
        guard let first = name.unicodeScalars.first else { return "network name must be provided" }
        func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
            scalar.isASCII && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar))
        }
        let valid = isAlphanumeric(first) && name.unicodeScalars.allSatisfy { isAlphanumeric($0) || "_.-".unicodeScalars.contains($0) }
        guard valid, name.utf8.count <= 64 else {
            return "invalid network name \(name): use letters, digits, '_', '.' and '-', starting with a letter or digit (64 at most)"
        }
        return nil
    }

    /// Nodes by creation time, then id: the order they joined in, so an ingress network created
    /// for a state that predates networks (decoding an old snapshot) gives nodes the addresses a
    /// replay of the log from the start gives them (`initialize`, then each `addNode`).
    var nodesInJoinOrder: [Node] {
        nodes.values.sorted { ($0.createdAt.millisecondsSinceEpoch, $0.id) < ($1.createdAt.millisecondsSinceEpoch, $1.id) }
    }

    /// The built-in ingress network, created at `initialize` (the first subnet of the default
    /// address pool: 10.0.0.0/24 unless `--default-addr-pool` chose another), with an address for every node.
    mutating func createIngressNetwork(clusterID: String, at: Timestamp, version: ObjectVersion) {
        let network = Network(id: ClusterNetworking.ingressID(clusterID: clusterID), createdAt: at,
                              spec: NetworkSpec(name: ClusterNetworking.ingressName, ingress: true))
        do {
            try createNetwork(network, version: version)
        } catch {
            preconditionFailure("the ingress network of a new cluster cannot be refused: \(error)")
        }
    }

    // MARK: Services

    /// Whether `spec`'s tasks join the ingress network (`EndpointAllocation.joinsIngress`).
    static func hasIngressPorts(_ spec: ServiceSpec) -> Bool {
        let ports = (spec.endpointSpec?.ports ?? []).map { port in
            var port = port
            port.publishMode = (port.publishMode ?? "ingress").lowercased()
            return port
        }
        return EndpointAllocation.joinsIngress(ports: ports, networkCount: spec.taskTemplate.networks?.count ?? 0)
    }

    /// Allocates `service`'s endpoint for its (new) spec: published ports, VIPs, and ingress
    /// addresses for its live tasks when ingress ports appear (freed when they go). Throws,
    /// changing nothing, when the spec is invalid, a port is taken or a pool is full.
    mutating func allocateEndpoint(_ service: inout Service, version: ObjectVersion, at: Timestamp) throws {
        var work = networking
        let endpoint = try EndpointAllocation.allocate(service, in: self, networking: &work)
        var changedTasks: [SwarmTask] = []
        if let ingress = work.ingressNetwork {
            let needsIngress = EndpointAllocation.joinsIngress(ports: endpoint.ports, networkCount: service.spec.taskTemplate.networks?.count ?? 0)
            for var task in tasks(ofService: service.id) where task.holdsAddresses {
                var attachments = task.networksAttachments ?? []
                let attached = attachments.contains { $0.networkID == ingress.id }
                guard attached != needsIngress else { continue }
                if needsIngress {
                    let address = try work.allocateAddress(on: ingress.id, owner: ClusterNetworking.taskOwner(task.id))
                    attachments.insert(NetworkAttachment(networkID: ingress.id, addresses: [ingress.subnet.cidr(address)]), at: 0)
                    if let nodeID = task.nodeID { _ = work.attachNode(nodeID, to: ingress.id) }
                } else {
                    work.releaseAddress(on: ingress.id, owner: ClusterNetworking.taskOwner(task.id))
                    attachments.removeAll { $0.networkID == ingress.id }
                }
                task.networksAttachments = attachments
                task.version = version
                task.updatedAt = at
                changedTasks.append(task)
            }
        }
        networking = work
        service.endpoint = endpoint
        for task in changedTasks { tasks[task.id] = task }
    }

    /// Frees a removed service's VIPs and ingress ports (its tasks free theirs as they stop).
    mutating func releaseEndpoint(_ service: Service) {
        for vip in service.endpoint?.virtualIPs ?? [] {
            networking.releaseAddress(on: vip.networkID, owner: ClusterNetworking.vipOwner(service.id))
        }
        networking.ingressPorts = networking.ingressPorts.filter { $0.value != service.id }
    }

    // MARK: Tasks

    /// The networks a new task of `service` joins: ingress first when the service publishes
    /// ingress ports (or host-mode ports without a network of its own), then its template's
    /// networks that exist.
    func attachmentTargets(_ task: SwarmTask) -> [(networkID: String, aliases: [String]?)] {
        var targets: [(String, [String]?)] = []
        if let service = services[task.serviceID], let ingress = networking.ingressNetwork,
           EndpointAllocation.joinsIngress(ports: service.endpoint?.ports ?? [], networkCount: service.spec.taskTemplate.networks?.count ?? 0) {
            targets.append((ingress.id, nil))
        }
        for config in task.spec.networks ?? [] where networking.networks[config.target] != nil {
            if !targets.contains(where: { $0.0 == config.target }) { targets.append((config.target, config.aliases)) }
        }
        return targets
    }

    /// Gives a new task its addresses (and its node, if preassigned, an address on each of the
    /// task's networks). A full pool fails the task with an error saying so, instead of refusing
    /// the whole batch of new tasks.
    mutating func attachNewTask(_ task: inout SwarmTask) {
        let targets = attachmentTargets(task)
        guard !targets.isEmpty else { return }
        var work = networking
        var attachments: [NetworkAttachment] = []
        do {
            for (networkID, aliases) in targets {
                let address = try work.allocateAddress(on: networkID, owner: ClusterNetworking.taskOwner(task.id))
                attachments.append(NetworkAttachment(networkID: networkID, addresses: [work.pools[networkID]!.subnet.cidr(address)],
                                                     aliases: aliases))
            }
        } catch {
            task.status = TaskStatus(timestamp: task.createdAt, state: .failed, message: "network allocation failed", err: "\(error)")
            return
        }
        networking = work
        task.networksAttachments = attachments
        if let nodeID = task.nodeID { attachNode(nodeID, forTask: task) }
    }

    /// Gives node `nodeID` an address on each network of `task` (when it is assigned there).
    mutating func attachNode(_ nodeID: String, forTask task: SwarmTask) {
        for attachment in task.networksAttachments ?? [] { _ = networking.attachNode(nodeID, to: attachment.networkID) }
    }

    /// Frees `task`'s addresses once it no longer holds them (stopped, or never started and not
    /// wanted any more). Idempotent.
    mutating func releaseAddressesIfDone(_ task: SwarmTask) {
        guard !task.holdsAddresses else { return }
        releaseAddresses(task)
    }

    mutating func releaseAddresses(_ task: SwarmTask) {
        for attachment in task.networksAttachments ?? [] {
            networking.releaseAddress(on: attachment.networkID, owner: ClusterNetworking.taskOwner(task.id))
        }
    }
}

extension SwarmTask {
    /// The task may be running, so its addresses stay reserved: it has not stopped, and it is
    /// not a task that was never assigned and is no longer wanted.
    public var holdsAddresses: Bool {
        !status.state.isTerminal && !(desiredState > .running && status.state < .assigned)
    }
}
