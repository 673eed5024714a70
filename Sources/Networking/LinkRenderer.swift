/// Turns a plan and what already exists into the `ip` and `bridge` batches that make the kernel
/// match the plan: task namespaces, veths into per-network bridges, one VXLAN device per network,
/// forwarding entries from the service tables, and the node-local gateway bridge.
///
/// It exists as a pure function so every command the node would run is unit-tested from golden
/// files, and so a restart renders against the observed state: missing things are created, ours
/// that are no longer planned (or half-built by a crash) are removed, complete ones are adopted.
public struct LinkRenderer: Sendable {
    public let names: NetworkNames

    public init(names: NetworkNames) { self.names = names }

    public func render(_ plan: NodeNetworkPlan, observed: ObservedNetworkState) -> [PlumbingStep] {
        let complete = completeTasks(plan, observed: observed)
        let created = plan.tasks.filter { !complete.contains($0.id) }
        var steps: [PlumbingStep] = [.sysctl(namespace: nil, key: "net.ipv4.ip_forward", value: "1")]
        let removals = removalLines(plan, observed: observed, complete: complete)
        if !removals.isEmpty { steps.append(.ip(namespace: nil, lines: removals)) }
        let creations = nodeCreationLines(plan, observed: observed, created: created)
        if !creations.isEmpty { steps.append(.ip(namespace: nil, lines: creations)) }
        for task in created {
            steps.append(.ip(namespace: names.namespace(taskID: task.id), lines: taskLines(task, plan: plan)))
        }
        let bridgeLines = isolationLines(created) + forwardingLines(plan, observed: observed)
        if !bridgeLines.isEmpty { steps.append(.bridge(namespace: nil, lines: bridgeLines)) }
        return steps
    }

    /// Host-side veth names a task has when fully built (one per attachment plus the gateway one).
    func hostVeths(_ task: LocalTask) -> [String] {
        task.attachments.map { names.hostVeth(taskID: task.id, networkID: $0.networkID) }
            + [names.hostVeth(taskID: task.id, networkID: nil)]
    }

    /// Tasks whose namespace and every host-side veth already exist: adopted as they are.
    func completeTasks(_ plan: NodeNetworkPlan, observed: ObservedNetworkState) -> Set<String> {
        Set(plan.tasks.filter { task in
            observed.namespaces.contains(names.namespace(taskID: task.id))
                && hostVeths(task).allSatisfy(observed.links.contains)
        }.map(\.id))
    }

    func removalLines(_ plan: NodeNetworkPlan, observed: ObservedNetworkState, complete: Set<String>) -> [String] {
        let keptVeths = Set(plan.tasks.filter { complete.contains($0.id) }.flatMap(hostVeths))
        let keptNamespaces = Set(plan.tasks.filter { complete.contains($0.id) }.map { names.namespace(taskID: $0.id) })
        let networkLinks = Set(plan.networks.flatMap { [names.bridge(vni: $0.vni), names.vxlan(vni: $0.vni)] })
        var lines: [String] = []
        for link in observed.links.sorted() where names.owns(link: link) {
            let kind = link.dropFirst(names.prefix.count).first!
            if kind == "v" && !keptVeths.contains(link) { lines.append("link del \(link)") }
        }
        for namespace in observed.namespaces.sorted()
        where namespace.hasPrefix(names.namespacePrefix) && !keptNamespaces.contains(namespace) {
            lines.append("netns del \(namespace)")
        }
        for link in observed.links.sorted() where names.owns(link: link) {
            let kind = link.dropFirst(names.prefix.count).first!
            if kind == "x" && !networkLinks.contains(link) { lines.append("link del \(link)") }
        }
        for link in observed.links.sorted() where names.owns(link: link) {
            let kind = link.dropFirst(names.prefix.count).first!
            if kind == "b" && !networkLinks.contains(link) { lines.append("link del \(link)") }
        }
        return lines
    }

    func nodeCreationLines(_ plan: NodeNetworkPlan, observed: ObservedNetworkState, created: [LocalTask]) -> [String] {
        var lines: [String] = []
        let gateway = names.gatewayBridge
        if !observed.links.contains(gateway) {
            lines += ["link add \(gateway) type bridge",
                      "addr add \(plan.gateway.nodeAddress)/\(plan.gateway.subnet.prefixLength) dev \(gateway)",
                      "link set \(gateway) up"]
        }
        for network in plan.networks {
            let bridge = names.bridge(vni: network.vni), vxlan = names.vxlan(vni: network.vni)
            if !observed.links.contains(bridge) {
                lines += ["link add \(bridge) address \(network.nodeAddress.derivedMAC) mtu \(plan.overlayMTU) type bridge",
                          "addr add \(network.nodeAddress)/\(network.subnet.prefixLength) dev \(bridge)",
                          "link set \(bridge) up"]
            }
            if !observed.links.contains(vxlan) {
                lines += ["link add \(vxlan) mtu \(plan.overlayMTU) type vxlan id \(network.vni) dstport \(plan.vxlanPort) local \(plan.underlayAddress) nolearning",
                          "link set \(vxlan) master \(bridge) up"]
            }
        }
        for task in created {
            let namespace = names.namespace(taskID: task.id)
            lines.append("netns add \(namespace)")
            for (index, attachment) in task.attachments.enumerated() {
                guard let network = plan.network(attachment.networkID) else { continue }
                let veth = names.hostVeth(taskID: task.id, networkID: attachment.networkID)
                lines += ["link add \(veth) mtu \(plan.overlayMTU) type veth peer name eth\(index) address \(attachment.address.derivedMAC) mtu \(plan.overlayMTU) netns \(namespace)",
                          "link set \(veth) master \(names.bridge(vni: network.vni)) up"]
            }
            let veth = names.hostVeth(taskID: task.id, networkID: nil)
            lines += ["link add \(veth) type veth peer name eth\(task.attachments.count) address \(task.gatewayAddress.derivedMAC) netns \(namespace)",
                      "link set \(veth) master \(gateway) up"]
        }
        return lines
    }

    /// Inside a new task namespace: loopback, its overlay addresses, and the default route through
    /// the gateway bridge.
    func taskLines(_ task: LocalTask, plan: NodeNetworkPlan) -> [String] {
        var lines = ["link set lo up"]
        for (index, attachment) in task.attachments.enumerated() {
            guard let network = plan.network(attachment.networkID) else { continue }
            lines += ["addr add \(attachment.address)/\(network.subnet.prefixLength) dev eth\(index)", "link set eth\(index) up"]
        }
        let gateway = "eth\(task.attachments.count)"
        lines += ["addr add \(task.gatewayAddress)/\(plan.gateway.subnet.prefixLength) dev \(gateway)", "link set \(gateway) up",
                  "route add default via \(plan.gateway.nodeAddress) dev \(gateway)"]
        return lines
    }

    /// Tasks on the gateway bridge reach the node, never each other (Docker's icc=false).
    func isolationLines(_ created: [LocalTask]) -> [String] {
        created.map { "link set dev \(names.hostVeth(taskID: $0.id, networkID: nil)) isolated on" }
    }

    /// The forwarding entries each VXLAN device should have: flooding to every peer (ARP) and each
    /// remote address's derived MAC to the node hosting it.
    public func desiredForwarding(_ plan: NodeNetworkPlan) -> [String: Set<ForwardingEntry>] {
        var result: [String: Set<ForwardingEntry>] = [:]
        for network in plan.networks {
            var entries = Set(network.peers.filter { $0 != plan.underlayAddress }.map { ForwardingEntry(mac: ForwardingEntry.flood, destination: $0) })
            for endpoint in plan.remoteEndpoints where endpoint.networkID == network.id && endpoint.host != plan.underlayAddress {
                entries.insert(ForwardingEntry(mac: endpoint.address.derivedMAC, destination: endpoint.host))
            }
            result[names.vxlan(vni: network.vni)] = entries
        }
        return result
    }

    func forwardingLines(_ plan: NodeNetworkPlan, observed: ObservedNetworkState) -> [String] {
        var lines: [String] = []
        for (device, desired) in desiredForwarding(plan).sorted(by: { $0.key < $1.key }) {
            let existing = observed.links.contains(device) ? observed.forwardingEntries[device] ?? [] : []
            for entry in existing.subtracting(desired).sorted() {
                lines.append("fdb del \(entry.mac) dev \(device) dst \(entry.destination) self")
            }
            for entry in desired.subtracting(existing).sorted() {
                lines.append("fdb append \(entry.mac) dev \(device) dst \(entry.destination) self permanent")
            }
        }
        return lines
    }
}
