import ClusterState

/// The networking invariants of a cluster state, checked by the control-plane simulator after
/// every committed command (and usable on any state):
/// 1. no two live objects share an address on a network (service VIPs, live tasks' addresses,
///    node attachment addresses), and each address is inside its network's subnet;
/// 2. the objects and the address pools agree (every address an object shows is the one its
///    pool has for it, and the pools hold nothing for objects that are gone or stopped);
/// 3. VXLAN ids are unique, subnets do not overlap, each ingress port belongs to one service and
///    matches that service's endpoint;
/// 4. every live task has an address on each network of its template (and ingress when its
///    service publishes ingress ports), and its node has an address on each of them.
public enum NetworkInvariants {
    public static func problems(in state: ClusterState) -> [String] {
        var problems: [String] = []
        let networking = state.networking
        var holders: [String: [String: String]] = [:]  // network → address → holder
        func hold(_ networkID: String, _ cidr: String, _ holder: String, owner: String) {
            guard let pool = networking.pools[networkID] else {
                problems.append("\(holder) has an address on network \(networkID), which does not exist")
                return
            }
            let text = cidr.split(separator: "/").first.map(String.init) ?? cidr
            guard let address = IPv4Address(text), pool.subnet.contains(address) else {
                problems.append("\(holder) has address \(cidr) outside \(pool.subnet)")
                return
            }
            if let other = holders[networkID]?[text] { problems.append("\(holder) and \(other) share \(text) on network \(networkID)") }
            holders[networkID, default: [:]][text] = holder
            if pool.address(of: owner) != address {
                problems.append("\(holder) shows \(text) on network \(networkID) but the pool has \(pool.address(of: owner)?.description ?? "nothing")")
            }
        }
        for service in state.sortedServices {
            for vip in service.endpoint?.virtualIPs ?? [] {
                hold(vip.networkID, vip.addr, "VIP of service \(service.spec.name)", owner: "vip:\(service.id)")
            }
        }
        var liveOwners = Set(state.services.keys.map { "vip:\($0)" })
        for task in state.sortedTasks where task.holdsAddresses {
            liveOwners.insert("task:\(task.id)")
            // Attachments on a removed network belong to tasks that are stopping (the network went
            // once nothing wanted it); its addresses went with it.
            for attachment in task.networksAttachments ?? [] where networking.networks[attachment.networkID] != nil {
                hold(attachment.networkID, attachment.addresses.first ?? "", "task \(task.id)", owner: "task:\(task.id)")
            }
            problems += missingAttachments(task, in: state)
        }
        for nodeID in networking.nodeAddresses.keys.sorted() {
            liveOwners.insert("node:\(nodeID)")
            if state.nodes[nodeID] == nil { problems.append("removed node \(nodeID) still has network addresses") }
            for (networkID, address) in networking.nodeAddresses[nodeID]! {
                hold(networkID, address.description, "node \(nodeID)", owner: "node:\(nodeID)")
            }
        }
        for (networkID, pool) in networking.pools.sorted(by: { $0.key < $1.key }) {
            for owner in pool.owners.keys.sorted() where !liveOwners.contains(owner) {
                problems.append("network \(networkID) still holds \(pool.owners[owner]!) for \(owner), which no longer holds it")
            }
            for (owner, address) in pool.owners where holders[networkID]?[address.description] == nil {
                problems.append("network \(networkID) holds \(address) for \(owner), which does not show it")
            }
        }
        problems += networkProblems(state)
        return problems
    }

    private static func missingAttachments(_ task: SwarmTask, in state: ClusterState) -> [String] {
        var problems: [String] = []
        let attached = Set((task.networksAttachments ?? []).map(\.networkID))
        var wanted = (task.spec.networks ?? []).map(\.target)
        if let service = state.services[task.serviceID], let ingress = state.networking.ingressNetwork,
           (service.endpoint?.ports ?? []).contains(where: { $0.publishMode == "ingress" }) {
            wanted.append(ingress.id)
        }
        // A task failed by the allocation itself has no addresses and says why.
        if task.status.state == .failed && attached.isEmpty { return [] }
        for networkID in wanted where state.networking.networks[networkID] != nil && !attached.contains(networkID) {
            problems.append("live task \(task.id) has no address on network \(networkID)")
        }
        if let nodeID = task.nodeID, state.nodes[nodeID] != nil {
            for networkID in attached where state.networking.networks[networkID] != nil && state.networking.nodeAddresses[nodeID]?[networkID] == nil {
                problems.append("node \(nodeID) runs task \(task.id) on network \(networkID) but has no address there")
            }
        }
        return problems
    }

    private static func networkProblems(_ state: ClusterState) -> [String] {
        var problems: [String] = []
        let networks = state.sortedNetworks
        var vnis: [UInt32: String] = [:]
        for (position, network) in networks.enumerated() {
            if let other = vnis[network.vxlanID] { problems.append("networks \(other) and \(network.id) share VXLAN id \(network.vxlanID)") }
            vnis[network.vxlanID] = network.id
            for other in networks[(position + 1)...] where other.subnet.overlaps(network.subnet) {
                problems.append("networks \(network.id) and \(other.id) have overlapping subnets \(network.subnet) and \(other.subnet)")
            }
        }
        var published: [String: String] = [:]
        for service in state.sortedServices {
            for port in service.endpoint?.ports ?? [] where port.publishMode == "ingress" {
                let key = "\(port.protocol ?? "tcp")/\(port.publishedPort ?? 0)"
                if let other = published[key] { problems.append("services \(other) and \(service.id) both publish ingress port \(key)") }
                published[key] = service.id
                if state.networking.ingressPorts[key] != service.id {
                    problems.append("service \(service.id) publishes \(key) but the port table gives it to \(state.networking.ingressPorts[key] ?? "nobody")")
                }
            }
        }
        for (key, owner) in state.networking.ingressPorts where published[key] != owner {
            problems.append("ingress port \(key) is held for service \(owner), which does not publish it")
        }
        return problems
    }
}
