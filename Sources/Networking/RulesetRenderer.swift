/// Renders the nftables rulesets of a node from its plan: one table in the node namespace (published
/// ports, masquerade, isolation between networks) and one in each task namespace (VIP load
/// balancing), each applied whole with `nft -f` so it is replaced in one transaction.
///
/// It exists because incremental rule changes with refcounts are what lose Swarm's ingress rules
/// after restarts and start-first updates (moby/moby#26563, docker/cli#2274): here the whole table
/// is re-rendered from desired state every time, so a restart cannot leave duplicates or gaps.
public struct RulesetRenderer: Sendable {
    public let names: NetworkNames

    public init(names: NetworkNames) { self.names = names }

    /// The node table: published ports DNAT'd (mesh: to any ready task over the overlay; host mode
    /// and `policy=local`: to a local task's gateway address, client address kept), masquerade of
    /// mesh traffic into the overlay and of the tasks' outbound traffic, and a forward filter that
    /// lets nothing into an overlay bridge but translated published-port traffic.
    public func nodeRuleset(_ plan: NodeNetworkPlan) -> String {
        var published: [String] = []
        for service in plan.services.sorted(by: { $0.id < $1.id }) {
            for port in service.ports {
                if let rule = publishedRule(port, service: service, plan: plan) { published.append(rule) }
            }
        }
        let bridges = names.bridgeWildcard
        return table([
            chain("published", [], published),
            chain("prerouting", ["type nat hook prerouting priority -100; policy accept;"], ["fib daddr type local jump published"]),
            chain("output", ["type nat hook output priority -100; policy accept;"], ["fib daddr type local jump published"]),
            chain("postrouting", ["type nat hook postrouting priority 100; policy accept;"], [
                "oifname \"\(bridges)\" ct status dnat masquerade",
                "ip saddr \(plan.gateway.subnet) oifname != \"\(names.gatewayBridge)\" masquerade",
            ]),
            chain("forward", ["type filter hook forward priority 0; policy accept;"], bridged(plan) + [
                "oifname \"\(bridges)\" ct status dnat accept",
                "oifname \"\(bridges)\" ct state established,related accept",
                "oifname \"\(bridges)\" drop",
            ]),
        ])
    }

    /// Frames switched inside one overlay bridge pass the forward hook too (bridge netfilter is on
    /// in every namespace): they are accepted per bridge, so only routing between networks is cut.
    func bridged(_ plan: NodeNetworkPlan) -> [String] {
        plan.networks.sorted { $0.vni < $1.vni }.map {
            let bridge = names.bridge(vni: $0.vni)
            return "iifname \"\(bridge)\" oifname \"\(bridge)\" accept"
        }
    }

    /// The rule for one published port, or nil when no backend can take it (then nothing is
    /// translated and the kernel refuses the connection).
    func publishedRule(_ port: PublishedPort, service: ServiceEntry, plan: NodeNetworkPlan) -> String? {
        let targets: [IPv4Address]
        if port.deliversLocally {
            let local = Set(plan.tasks.map(\.id))
            targets = service.readyBackends.filter { local.contains($0.taskID) }
                .compactMap { plan.task($0.taskID)?.gatewayAddress }
        } else {
            guard let network = service.ingressNetworkID ?? service.networkIDs.first, plan.network(network) != nil else { return nil }
            targets = service.readyBackends.compactMap { $0.addresses[network] }
        }
        guard let translation = dnatTarget(targets.sorted()) else { return nil }
        return "\(port.proto.rawValue) dport \(port.published) dnat to \(translation):\(port.target)"
    }

    /// The task table: in the task's own namespace, every VIP of a service on one of its networks is
    /// translated to a ready backend on that network (round robin); the source address is kept.
    /// A VIP with no ready backend is refused at once rather than left to time out.
    public func taskRuleset(_ task: LocalTask, plan: NodeNetworkPlan) -> String {
        let networks = Set(task.attachments.map(\.networkID))
        var translations: [String] = [], refusals: [String] = []
        for service in plan.services.sorted(by: { $0.id < $1.id }) where service.endpointMode == .vip {
            for (network, vip) in service.virtualIPs.sorted(by: { $0.key < $1.key }) where networks.contains(network) {
                let targets = service.readyBackends.compactMap { $0.addresses[network] }.sorted()
                if let translation = dnatTarget(targets) {
                    translations.append("ip daddr \(vip) dnat to \(translation)")
                } else {
                    refusals.append("ip daddr \(vip) reject")
                }
            }
        }
        return table([
            chain("output", ["type nat hook output priority -100; policy accept;"], translations),
            chain("refuse", ["type filter hook output priority 0; policy accept;"], refusals),
        ])
    }

    /// `a` for one target, `numgen inc mod n map { 0 : a, 1 : b }` for several, nil for none.
    func dnatTarget(_ targets: [IPv4Address]) -> String? {
        switch targets.count {
        case 0: return nil
        case 1: return "\(targets[0])"
        default:
            let entries = targets.enumerated().map { "\($0.offset) : \($0.element)" }.joined(separator: ", ")
            return "numgen inc mod \(targets.count) map { \(entries) }"
        }
    }

    /// The ruleset text that deletes the table (a node that has nothing left).
    public func deletion() -> String { "table ip \(names.table) {}\ndelete table ip \(names.table)\n" }

    /// Declaring the table first makes the delete valid on the first run; the three statements are
    /// one `nft -f` transaction, so no packet sees a half-applied table and nothing old survives.
    func table(_ chains: [String]) -> String {
        (["table ip \(names.table) {}", "delete table ip \(names.table)", "table ip \(names.table) {"]
            + chains + ["}"]).joined(separator: "\n") + "\n"
    }

    func chain(_ name: String, _ header: [String], _ rules: [String]) -> String {
        (["\tchain \(name) {"] + header.map { "\t\t" + $0 } + rules.map { "\t\t" + $0 } + ["\t}"]).joined(separator: "\n")
    }
}
