/// The addresses of one network's subnet and who holds each: service VIPs, task addresses and
/// node attachment addresses. Allocation is next-fit: it continues after the address handed
/// out last and wraps around at the end, so an address released a moment ago is the last one
/// to be handed out again (a client holding a stale address, or a DNS answer cached somewhere,
/// does not reach a new task at once).
///
/// It lives in the replicated state and changes only inside the apply: every manager computes
/// the same addresses from the same log, so there is no leader-only bitmap to rebuild and no
/// duplicate address after a leader change (moby/moby #33795, #41576).
public struct AddressPool: Codable, Sendable, Equatable {
    public private(set) var subnet: IPv4Subnet
    public private(set) var gateway: IPv4Address
    /// Who holds which address (`vip:<service>`, `task:<task>`, `node:<node>`).
    public private(set) var owners: [String: IPv4Address] = [:]
    /// The next address to try.
    private(set) var cursor: UInt32
    /// The addresses in `owners` (derived, not encoded).
    private var used: Set<UInt32> = []

    enum CodingKeys: String, CodingKey { case subnet, gateway, owners, cursor }

    /// The smallest subnet a network may have: a /30 leaves 2 addresses, the gateway and one more.
    public static let longestPrefix = 30

    public init(subnet: IPv4Subnet, gateway: IPv4Address) {
        precondition(subnet.prefixLength <= Self.longestPrefix, "subnet \(subnet) is too small for a network")
        precondition(subnet.contains(gateway), "gateway \(gateway) is outside \(subnet)")
        self.subnet = subnet
        self.gateway = gateway
        cursor = subnet.base.value + 1
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        subnet = try container.decode(IPv4Subnet.self, forKey: .subnet)
        gateway = try container.decode(IPv4Address.self, forKey: .gateway)
        owners = try container.decode([String: IPv4Address].self, forKey: .owners)
        cursor = try container.decode(UInt32.self, forKey: .cursor)
        used = Set(owners.values.map(\.value))
    }

    /// Usable addresses: the subnet without its network and broadcast addresses and the gateway.
    public var capacity: Int { Int(subnet.size) - 3 }

    public func address(of owner: String) -> IPv4Address? { owners[owner] }

    /// The address of `owner`: the one it holds, or the next free one. Nil when every usable
    /// address is taken.
    public mutating func allocate(owner: String) -> IPv4Address? {
        if let held = owners[owner] { return held }
        let first = subnet.base.value + 1
        let last = subnet.last.value - 1
        var candidate = (first...last).contains(cursor) ? cursor : first
        for _ in 0..<(last - first + 1) {
            if candidate != gateway.value, !used.contains(candidate) {
                owners[owner] = IPv4Address(candidate)
                used.insert(candidate)
                cursor = candidate == last ? first : candidate + 1
                return IPv4Address(candidate)
            }
            candidate = candidate == last ? first : candidate + 1
        }
        return nil
    }

    /// Frees `owner`'s address, if it holds one. The cursor does not move back.
    public mutating func release(owner: String) {
        guard let address = owners.removeValue(forKey: owner) else { return }
        used.remove(address.value)
    }
}
