/// Works out a service's `Endpoint` for its spec inside the apply: checks the networks and
/// published ports, gives ingress ports their numbers (cluster-wide unique; 30000–32767 when
/// none is asked for, keeping the number an unchanged port had), and a VIP on each network in
/// vip mode. Host-mode ports are not allocated: they bind on the nodes that run a task, and the
/// scheduler keeps two tasks publishing the same one off the same node.
enum EndpointAllocation {
    static func allocate(_ service: Service, in state: ClusterState, networking: inout ClusterNetworking) throws -> ServiceEndpoint {
        let spec = service.spec
        var endpointSpec = spec.endpointSpec ?? EndpointSpec()
        let mode = (endpointSpec.mode ?? "").isEmpty ? "vip" : endpointSpec.mode!.lowercased()
        guard mode == "vip" || mode == "dnsrr" else {
            throw ClusterError.invalid("EndpointSpec.Mode \(mode) is not known: use vip or dnsrr (--endpoint-mode)")
        }
        endpointSpec.mode = mode
        guard spec.networks?.isEmpty ?? true else {
            throw ClusterError.invalid("Networks: give a service's networks in TaskTemplate.Networks")
        }
        let networkIDs = try checkNetworks(spec.taskTemplate.networks ?? [], networking)
        let ports = try resolvePorts(endpointSpec.ports ?? [], mode: mode, service: service, state: state, networking: &networking)
        var targets = networkIDs
        if joinsIngress(ports: ports, networkCount: networkIDs.count) {
            guard let ingress = networking.ingressNetwork else {
                throw ClusterError.invalid("service needs ingress network, but no ingress network is present")
            }
            // A VIP on ingress only for the routing mesh: a service that joins it for host-mode
            // ports alone gets none (as in dockerd, where such a service has no VirtualIPs).
            if ports.contains(where: { $0.publishMode == "ingress" }) { targets.insert(ingress.id, at: 0) }
        }
        let owner = ClusterNetworking.vipOwner(service.id)
        for vip in service.endpoint?.virtualIPs ?? [] where mode == "dnsrr" || !targets.contains(vip.networkID) {
            networking.releaseAddress(on: vip.networkID, owner: owner)
        }
        var virtualIPs: [VirtualIP] = []
        if mode == "vip" {
            for networkID in targets {
                let address = try networking.allocateAddress(on: networkID, owner: owner)
                virtualIPs.append(VirtualIP(networkID: networkID, addr: networking.pools[networkID]!.subnet.cidr(address)))
            }
        }
        return ServiceEndpoint(spec: endpointSpec, ports: ports, virtualIPs: virtualIPs)
    }

    /// The template's network ids, checked: each exists, none is ingress, none twice.
    private static func checkNetworks(_ configs: [NetworkAttachmentConfig], _ networking: ClusterNetworking) throws -> [String] {
        var ids: [String] = []
        for config in configs {
            guard let network = networking.networks[config.target] else { throw ClusterError.notFound(kind: "network", id: config.target) }
            guard !network.spec.ingress else {
                throw ClusterError.invalid("service cannot be explicitly attached to the ingress network \"\(network.spec.name)\": "
                    + "publish a port (--publish) to use the routing mesh")
            }
            guard !ids.contains(network.id) else { throw ClusterError.invalid("network \(network.spec.name) is given twice") }
            ids.append(network.id)
        }
        return ids
    }

    /// One published port with its defaults filled and checked.
    private static func normalized(_ port: PortConfig, mode: String) throws -> PortConfig {
        var port = port
        let protocolName = (port.protocol ?? "").isEmpty ? "tcp" : port.protocol!.lowercased()
        guard protocolName == "tcp" || protocolName == "udp" else {
            throw ClusterError.invalid("published port protocol \(protocolName) is not available: use tcp or udp")
        }
        let publishMode = (port.publishMode ?? "").isEmpty ? "ingress" : port.publishMode!.lowercased()
        guard publishMode == "ingress" || publishMode == "host" else {
            throw ClusterError.invalid("publish mode \(publishMode) is not known: use ingress or host")
        }
        let policy = (port.publishPolicy ?? "").lowercased()
        guard ["", "cluster", "local"].contains(policy) else {
            throw ClusterError.invalid("publish policy \(policy) is not known: use cluster or local")
        }
        guard policy != "local" || publishMode == "ingress" else {
            throw ClusterError.invalid("publish policy local applies to ingress ports; a host-mode port already keeps the client address")
        }
        guard (1...65535).contains(port.targetPort) else {
            throw ClusterError.invalid("target port \(port.targetPort) is out of range: use 1 to 65535")
        }
        let published = port.publishedPort ?? 0
        guard published <= 65535 else { throw ClusterError.invalid("published port \(published) is out of range: use 1 to 65535") }
        guard publishMode == "ingress" || published != 0 else {
            throw ClusterError.invalid("host-mode port \(port.targetPort)/\(protocolName) needs a published port: "
                + "give published=N (this cluster does not pick host ports)")
        }
        guard !(publishMode == "ingress" && mode == "dnsrr") else {
            throw ClusterError.invalid("port published with ingress mode can't be used with dnsrr mode: publish it in host mode "
                + "or use --endpoint-mode vip")
        }
        port.protocol = protocolName
        port.publishMode = publishMode
        port.publishPolicy = policy.isEmpty || policy == "cluster" ? nil : policy
        port.publishedPort = published == 0 ? nil : published
        return port
    }

    private static func resolvePorts(_ requested: [PortConfig], mode: String, service: Service, state: ClusterState,
                                     networking: inout ClusterNetworking) throws -> [PortConfig] {
        let ports = try requested.map { try normalized($0, mode: mode) }
        var claimed = Set<String>()
        for port in ports {
            guard let published = port.publishedPort else { continue }
            let key = ClusterNetworking.portKey(port.protocol!, published)
            guard claimed.insert(key).inserted else { throw ClusterError.invalid("port '\(published)/\(port.protocol!)' is published twice") }
        }
        // Other services' host-mode ports cost a walk over every service: only taken when this
        // spec publishes an ingress port (a service without one, the common create, skips it).
        let hostPortsOfOthers = ports.contains { $0.publishMode == "ingress" } ? hostPorts(excluding: service.id, in: state) : [:]
        for port in ports {
            guard let published = port.publishedPort else { continue }
            let key = ClusterNetworking.portKey(port.protocol!, published)
            if port.publishMode == "ingress" {
                if let owner = networking.ingressPorts[key], owner != service.id {
                    throw portTaken(published, by: owner, as: "an ingress port", state)
                }
                if let owner = hostPortsOfOthers[key] { throw portTaken(published, by: owner, as: "a host-mode port", state) }
            } else if let owner = networking.ingressPorts[key], owner != service.id {
                throw portTaken(published, by: owner, as: "an ingress port", state)
            }
        }
        // Ports given a number before: a port still asked for without one keeps it.
        var previous = (service.endpoint?.ports ?? []).filter { $0.publishMode == "ingress" && $0.publishedPort != nil }
        var resolved: [PortConfig] = []
        var kept = Set<String>()
        for var port in ports {
            defer { resolved.append(port) }
            guard port.publishMode == "ingress" else { continue }
            if let published = port.publishedPort {
                kept.insert(ClusterNetworking.portKey(port.protocol!, published))
                continue
            }
            if let reuse = previous.firstIndex(where: { old in
                old.protocol == port.protocol && old.targetPort == port.targetPort
                    && !claimed.contains(ClusterNetworking.portKey(old.protocol ?? "tcp", old.publishedPort!))
            }) {
                port.publishedPort = previous.remove(at: reuse).publishedPort
            } else {
                guard let dynamic = networking.dynamicPort(port.protocol!, avoiding: claimed.union(hostPortsOfOthers.keys)) else {
                    throw ClusterError.invalid("no ingress port is free in \(ClusterNetworking.dynamicPorts.lowerBound)-"
                        + "\(ClusterNetworking.dynamicPorts.upperBound) for \(port.protocol!): give a published port, or remove services")
                }
                port.publishedPort = dynamic
            }
            let key = ClusterNetworking.portKey(port.protocol!, port.publishedPort!)
            claimed.insert(key)
            kept.insert(key)
        }
        networking.ingressPorts = networking.ingressPorts.filter { $0.value != service.id || kept.contains($0.key) }
        for key in kept { networking.ingressPorts[key] = service.id }
        return resolved
    }

    /// Host-mode ports (`tcp/8080`) of services other than `serviceID`, with one service using each
    /// (the highest id, so every manager names the same one whatever its dictionary order).
    /// Walks the services in place: copying them out in id order cost most of a create's apply
    /// with thousands of services.
    private static func hostPorts(excluding serviceID: String, in state: ClusterState) -> [String: String] {
        var ports: [String: String] = [:]
        for service in state.services.values where service.id != serviceID {
            for port in service.endpoint?.ports ?? [] where port.publishMode == "host" {
                let key = ClusterNetworking.portKey(port.protocol ?? "tcp", port.publishedPort ?? 0)
                if let owner = ports[key], owner > service.id { continue }
                ports[key] = service.id
            }
        }
        return ports
    }

    private static func portTaken(_ port: UInt32, by owner: String, as kind: String, _ state: ClusterState) -> ClusterError {
        let name = state.services[owner]?.spec.name ?? owner
        return .invalid("port '\(port)' is already in use by service '\(name)' (\(owner)) as \(kind): publish another port")
    }

    /// Whether a service's tasks join the ingress network: for its ingress-mode ports (the
    /// routing mesh), and also for host-mode ports when it has no network of its own, so each task
    /// gets its own namespace behind the node's gateway bridge (as dockerd's docker_gwbridge)
    /// instead of binding the target port in the node's namespace, where two such tasks collide and
    /// nothing maps the published port.
    static func joinsIngress(ports: [PortConfig], networkCount: Int) -> Bool {
        ports.contains { $0.publishMode == "ingress" } || (!ports.isEmpty && networkCount == 0)
    }
}
