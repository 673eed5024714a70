/// The address space that overlay networks and the ingress network get their subnets from when
/// none is given: Docker's `swarm init --default-addr-pool CIDR … --default-addr-pool-mask-length N`.
///
/// It exists because 10.0.0.0/8 collides with many sites' own networks (and the project's tests
/// must keep every address inside documentation ranges). It is chosen once, when the cluster is
/// initialised, and carried by the cluster object, so every replica's apply (and every replay of
/// the log) carves the same subnets. Candidate subnets are numbered pool by pool, in the order the
/// pools were given; the allocator walks that numbering next-fit.
public struct DefaultAddressPool: Codable, Sendable, Equatable {
    /// The pools, in the order given; they do not overlap.
    public private(set) var pools: [IPv4Subnet]
    /// The prefix length of each subnet carved from them (Docker's `SubnetSize`).
    public private(set) var subnetPrefix: Int

    /// Docker's default: /24 networks out of 10.0.0.0/8.
    public static let docker = DefaultAddressPool(checked: [IPv4Subnet(base: IPv4Address(10 << 24), prefixLength: 8)], subnetPrefix: 24)
    /// At most this many pools (Docker sets no limit; a bound keeps the cluster object small).
    public static let maximumPools = 16
    /// Pools are /8 or longer, as network subnets are (`--subnet` accepts /8 to /30).
    public static let shortestPoolPrefix = 8

    private init(checked pools: [IPv4Subnet], subnetPrefix: Int) {
        self.pools = pools
        self.subnetPrefix = subnetPrefix
    }

    /// Validates `cidrs` and `maskLength` (nil: 24, Docker's default) and refuses, naming the
    /// setting and the value, a malformed CIDR, a pool outside /8…/30, overlapping pools, or a
    /// mask length shorter than a pool's prefix or longer than /30.
    public init(cidrs: [String], maskLength: Int? = nil) throws(ClusterError) {
        guard !cidrs.isEmpty else {
            throw .invalid("default address pool: give at least one IPv4 subnet in CIDR form, such as 10.20.0.0/16")
        }
        guard cidrs.count <= Self.maximumPools else {
            throw .invalid("default address pool: \(cidrs.count) pools were given, at most \(Self.maximumPools) are allowed")
        }
        var pools: [IPv4Subnet] = []
        for text in cidrs {
            guard let pool = IPv4Subnet(text) else {
                throw .invalid("default address pool \(text) is not an IPv4 subnet in CIDR form without host bits: use one such as 10.20.0.0/16")
            }
            guard (Self.shortestPoolPrefix...AddressPool.longestPrefix).contains(pool.prefixLength) else {
                throw .invalid("default address pool \(text) has a /\(pool.prefixLength) prefix: use a prefix from /\(Self.shortestPoolPrefix) "
                    + "to /\(AddressPool.longestPrefix)")
            }
            if let clash = pools.first(where: { $0.overlaps(pool) }) {
                throw .invalid("default address pool \(text) overlaps the pool \(clash): give pools that do not overlap")
            }
            pools.append(pool)
        }
        let mask = maskLength ?? 24
        let longestPool = pools.map(\.prefixLength).max()!
        guard (longestPool...AddressPool.longestPrefix).contains(mask) else {
            throw .invalid("default address pool mask length \(mask) is invalid for the pool \(pools.first { $0.prefixLength == longestPool }!): "
                + "use a length from \(longestPool) (the pool's own prefix) to \(AddressPool.longestPrefix)")
        }
        // Every manager's apply walks the candidate subnets: at most 65,536 per pool, as 10.0.0.0/8
        // cut into /24s, so a full or mostly covered pool never stalls the apply.
        let shortestPool = pools.map(\.prefixLength).min()!
        guard mask - shortestPool <= Self.maximumSubnetBits else {
            throw .invalid("default address pool mask length \(mask) cuts the pool \(pools.first { $0.prefixLength == shortestPool }!) into "
                + "2^\(mask - shortestPool) subnets: use a length up to \(shortestPool + Self.maximumSubnetBits) (at most 65,536 subnets per pool)")
        }
        self.init(checked: pools, subnetPrefix: mask)
    }

    /// At most 2^16 subnets per pool.
    static let maximumSubnetBits = 16

    /// How many subnets of `subnetPrefix` the pools hold (at least 1).
    public var subnetCount: UInt64 {
        pools.reduce(0) { $0 + (UInt64(1) << UInt64(subnetPrefix - $1.prefixLength)) }
    }

    /// The `index`-th candidate subnet, counting pool by pool (`index < subnetCount`).
    public func subnet(at index: UInt64) -> IPv4Subnet {
        precondition(index < subnetCount, "subnet index \(index) is past the \(subnetCount) subnets of \(self)")
        var remaining = index
        for pool in pools {
            let count = UInt64(1) << UInt64(subnetPrefix - pool.prefixLength)
            if remaining < count {
                let base = pool.base.value | UInt32(remaining) << UInt32(32 - subnetPrefix)
                return IPv4Subnet(base: IPv4Address(base), prefixLength: subnetPrefix)
            }
            remaining -= count
        }
        preconditionFailure("unreachable: index \(index) within \(subnetCount)")
    }

    /// `10.0.0.0/8` or `198.51.100.0/25, 203.0.113.0/24` with `(/27 subnets)`.
    public var summary: String { pools.map(\.description).joined(separator: ", ") + " (/\(subnetPrefix) subnets)" }

    enum CodingKeys: String, CodingKey {
        case pools = "Pools", subnetPrefix = "SubnetPrefix"
    }

    /// Decoding checks the invariants again: a cluster object read from disk or the wire is not trusted to hold them.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let pools = try container.decode([IPv4Subnet].self, forKey: .pools)
        let prefix = try container.decode(Int.self, forKey: .subnetPrefix)
        do {
            try self.init(cidrs: pools.map(\.description), maskLength: prefix)
        } catch {
            throw DecodingError.dataCorruptedError(forKey: .pools, in: container, debugDescription: "\(error)")
        }
    }
}
