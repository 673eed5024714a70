/// The networks of the cluster and every allocation made for them: subnets, VXLAN ids, an address
/// pool per network, node attachment addresses and the cluster-wide ingress ports.
///
/// It exists so that all of networking's bookkeeping changes only inside the deterministic apply
/// (every manager computes the same addresses, VNIs and ports from the same log, snapshots
/// carry it whole) and sits apart from the other objects. Every allocator is next-fit: it
/// continues after what it handed out last, so a released value is not reused soon.
public struct ClusterNetworking: Codable, Sendable, Equatable {
    public internal(set) var networks: [String: Network] = [:]
    /// Address pools by network id.
    public internal(set) var pools: [String: AddressPool] = [:]
    /// Each node's address on a network (node id → network id → address): the node's end of the
    /// overlay, given on ingress when the node joins and on another network when a task of it
    /// is assigned there. Freed when the node or the network is removed.
    public internal(set) var nodeAddresses: [String: [String: IPv4Address]] = [:]
    /// Ingress ports (`tcp/8080`) → the service that publishes them.
    public internal(set) var ingressPorts: [String: String] = [:]
    /// The next subnet of the default address pool to try (an index into its subnets).
    var nextSubnet: UInt32 = 0
    var nextVXLANID: UInt32 = Self.firstVXLANID
    var nextDynamicPort: UInt32 = Self.dynamicPorts.lowerBound

    public init() {}

    // MARK: Limits (Docker's)

    /// VXLAN ids below 4096 are left to VLAN-style uses, as libnetwork does; ids have 24 bits.
    public static let firstVXLANID: UInt32 = 4096
    public static let lastVXLANID: UInt32 = (1 << 24) - 1
    /// Ingress ports given to a published port without a number.
    public static let dynamicPorts: ClosedRange<UInt32> = 30000...32767
    public static let ingressName = "ingress"

    /// Network ids by name are unique; a name or an id (or a unique id prefix) finds one.
    public func network(named name: String) -> Network? {
        networks.values.first { $0.spec.name == name }
    }

    public var ingressNetwork: Network? { networks.values.first { $0.spec.ingress } }

    /// Networks ordered by id.
    public var sortedNetworks: [Network] { networks.keys.sorted().map { networks[$0]! } }

    // MARK: Subnets and VXLAN ids

    /// The requested subnet (checked against every other network's), or the next free subnet of
    /// the cluster's default address pool.
    mutating func allocateSubnet(_ requested: IPv4Subnet?, name: String, pool: DefaultAddressPool) throws -> IPv4Subnet {
        let taken = networks.values.map(\.subnet)
        if let requested {
            if let clash = networks.values.first(where: { $0.subnet.overlaps(requested) }) {
                throw ClusterError.invalid("subnet \(requested) overlaps \(clash.subnet) of network \(clash.spec.name): choose another subnet")
            }
            return requested
        }
        let count = pool.subnetCount
        var index = UInt64(nextSubnet) % count
        for _ in 0..<count {
            let candidate = pool.subnet(at: index)
            index = (index + 1) % count
            if !taken.contains(where: { $0.overlaps(candidate) }) {
                nextSubnet = UInt32(index)
                return candidate
            }
        }
        throw ClusterError.invalid("cannot create network \(name): every subnet of the default address pool "
            + "\(pool.summary) is in use; remove networks or give this one a subnet (--subnet)")
    }

    mutating func allocateVXLANID(name: String) throws -> UInt32 {
        let taken = Set(networks.values.map(\.vxlanID))
        let span = Self.lastVXLANID - Self.firstVXLANID + 1
        var candidate = (Self.firstVXLANID...Self.lastVXLANID).contains(nextVXLANID) ? nextVXLANID : Self.firstVXLANID
        for _ in 0..<min(span, UInt32(taken.count) + 1) {
            if !taken.contains(candidate) {
                nextVXLANID = candidate == Self.lastVXLANID ? Self.firstVXLANID : candidate + 1
                return candidate
            }
            candidate = candidate == Self.lastVXLANID ? Self.firstVXLANID : candidate + 1
        }
        throw ClusterError.invalid("cannot create network \(name): no VXLAN id is free; remove networks")
    }

    // MARK: Addresses

    /// The address of `owner` on network `networkID`, allocated if it has none.
    mutating func allocateAddress(on networkID: String, owner: String) throws -> IPv4Address {
        guard var pool = pools[networkID], let network = networks[networkID] else {
            throw ClusterError.notFound(kind: "network", id: networkID)
        }
        guard let address = pool.allocate(owner: owner) else {
            throw ClusterError.invalid("network \(network.spec.name) has no free address left in \(pool.subnet) (\(pool.capacity) in use): "
                + "remove services or tasks from it, or use a network with a larger subnet")
        }
        pools[networkID] = pool
        return address
    }

    mutating func releaseAddress(on networkID: String, owner: String) {
        pools[networkID]?.release(owner: owner)
    }

    static func taskOwner(_ id: String) -> String { "task:\(id)" }
    static func vipOwner(_ id: String) -> String { "vip:\(id)" }
    static func nodeOwner(_ id: String) -> String { "node:\(id)" }

    /// Node `nodeID`'s address on `networkID`, given if it has none. Nil when the pool is full:
    /// the node then has no end on that network yet, which the dispatcher's tables show.
    mutating func attachNode(_ nodeID: String, to networkID: String) -> IPv4Address? {
        if let held = nodeAddresses[nodeID]?[networkID] { return held }
        guard let address = try? allocateAddress(on: networkID, owner: Self.nodeOwner(nodeID)) else { return nil }
        nodeAddresses[nodeID, default: [:]][networkID] = address
        return address
    }

    mutating func detachNode(_ nodeID: String) {
        for networkID in (nodeAddresses.removeValue(forKey: nodeID) ?? [:]).keys {
            releaseAddress(on: networkID, owner: Self.nodeOwner(nodeID))
        }
    }

    // MARK: Ingress ports

    static func portKey(_ protocolName: String, _ port: UInt32) -> String { "\(protocolName)/\(port)" }

    /// The next free dynamic port for `protocolName`, skipping `avoid`.
    mutating func dynamicPort(_ protocolName: String, avoiding avoid: Set<String>) -> UInt32? {
        let range = Self.dynamicPorts
        var candidate = range.contains(nextDynamicPort) ? nextDynamicPort : range.lowerBound
        for _ in 0..<range.count {
            let key = Self.portKey(protocolName, candidate)
            if ingressPorts[key] == nil, !avoid.contains(key) {
                nextDynamicPort = candidate == range.upperBound ? range.lowerBound : candidate + 1
                return candidate
            }
            candidate = candidate == range.upperBound ? range.lowerBound : candidate + 1
        }
        return nil
    }
}

extension ClusterNetworking {
    /// A stable id for the built-in ingress network, derived from the cluster id so every
    /// replica (and a replay of the log) names it the same: 25 characters of [0-9a-z] like
    /// swarmkit's ids.
    public static func ingressID(clusterID: String) -> String {
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        var text = ""
        var seed: UInt64 = 0xcbf2_9ce4_8422_2325
        while text.count < 25 {
            for byte in Array("ingress:\(clusterID):\(text.count)".utf8) {
                seed = (seed ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            }
            var value = seed
            for _ in 0..<8 where text.count < 25 {
                text.append(alphabet[Int(value % 36)])
                value /= 36
            }
        }
        return text
    }
}
