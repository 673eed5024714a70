import Platform

/// Connections that have not (yet) proven a cluster certificate, grouped by source address,
/// oldest first: TLS handshakes in progress and join-only connections.
///
/// It exists so a flood from one address can never crowd out another: each source holds at most
/// `perSource` slots (its own oldest is evicted for a newcomer), and when all `total` slots are
/// taken the oldest connection of the busiest source makes room. A new source therefore always
/// gets a slot. Pure bookkeeping: the transport closes what `admit` returns.
struct PreAuthTable {
    let perSource: Int
    let total: Int
    /// Connection ids per source, ascending (ids grow with age).
    private var bySource: [UInt64: [ConnectionID]] = [:]
    private(set) var count = 0

    init(perSource: Int, total: Int) {
        precondition(perSource > 0 && total >= perSource, "pre-auth limits must satisfy 0 < perSource <= total")
        self.perSource = perSource
        self.total = total
    }

    /// Records `id` from `source` and returns the connections to close to make room for it.
    mutating func admit(_ id: ConnectionID, from source: UInt64) -> [ConnectionID] {
        var evicted: [ConnectionID] = []
        if let own = bySource[source], own.count >= perSource {
            evicted.append(own[0])
            remove(own[0], from: source)
        } else if count >= total, let busiest = busiestSource() {
            let oldest = bySource[busiest]![0]
            evicted.append(oldest)
            remove(oldest, from: busiest)
        }
        bySource[source, default: []].append(id)
        count += 1
        assert(count <= total && bySource[source]!.count <= perSource, "pre-auth table over its limits")
        return evicted
    }

    /// Forgets `id` (authenticated or closed); unknown ids are ignored.
    mutating func remove(_ id: ConnectionID, from source: UInt64) {
        guard var own = bySource[source], let position = own.firstIndex(of: id) else { return }
        own.remove(at: position)
        bySource[source] = own.isEmpty ? nil : own
        count -= 1
    }

    func count(from source: UInt64) -> Int { bySource[source]?.count ?? 0 }

    /// The source holding the most slots (ties: the one with the oldest connection).
    private func busiestSource() -> UInt64? {
        bySource.max { lhs, rhs in
            lhs.value.count != rhs.value.count ? lhs.value.count < rhs.value.count : lhs.value[0].rawValue > rhs.value[0].rawValue
        }?.key
    }
}

extension SocketAddress {
    /// The pre-auth table's key for a remote address: the IPv4 address (every port of a host
    /// shares its slots), or one key for every unix-socket client.
    static func sourceKey(of address: SocketAddress) -> UInt64 {
        switch address {
        case let .tcp(ipv4, _): UInt64(ipv4)
        case .unix: UInt64.max
        }
    }

    /// A source key for logs: "127.0.0.2" or "unix socket clients".
    static func describeSource(_ key: UInt64) -> String {
        guard key <= UInt64(UInt32.max) else { return "unix socket clients" }
        return (0..<4).reversed().map { String((key >> (8 * UInt64($0))) & 0xff) }.joined(separator: ".")
    }
}
