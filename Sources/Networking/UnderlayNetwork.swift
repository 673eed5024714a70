import Foundation

/// Several "hosts" on one machine: a network namespace per host on an underlay bridge (itself in
/// its own namespace), addresses 192.0.2.1… (TEST-NET-1), plus a client namespace at 192.0.2.200
/// playing the outside user. Every namespace name starts with `prefix`.
///
/// It exists for `swarmctl testbed up --netns` and the netns tests: real kernel network stacks per
/// node (VXLAN port, nftables, conntrack, listening ports all private) without virtual machines,
/// and removal by prefix alone, so a crashed run can always be cleaned up.
public struct UnderlayNetwork: Sendable {
    public let prefix: String
    public let hostCount: Int
    public static let clientAddress = IPv4Address(192, 0, 2, 200)

    public var underlayNamespace: String { prefix + "-u" }
    public var clientNamespace: String { prefix + "-cl" }
    public func hostNamespace(_ index: Int) -> String { prefix + "-h\(index + 1)" }
    public func hostAddress(_ index: Int) -> IPv4Address { IPv4Address(192, 0, 2, UInt8(index + 1)) }

    /// Creates the namespaces and links; on failure removes whatever it created and throws.
    public static func create(prefix: String, hosts: Int) throws -> UnderlayNetwork {
        precondition((1...100).contains(hosts), "1 to 100 hosts")
        guard !prefix.isEmpty, prefix.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            throw NetworkingError("underlay prefix '\(prefix)' must be letters and digits")
        }
        let network = UnderlayNetwork(prefix: prefix, hostCount: hosts)
        do { try network.build() } catch {
            _ = destroy(prefix: prefix)
            throw error
        }
        return network
    }

    public init(prefix: String, hostCount: Int) {
        self.prefix = prefix
        self.hostCount = hostCount
    }

    private func build() throws {
        let ends = (0..<hostCount).map { (hostNamespace($0), hostAddress($0)) } + [(clientNamespace, Self.clientAddress)]
        try Self.ip(nil, ([underlayNamespace] + ends.map(\.0)).map { "netns add \($0)" })
        try Self.ip(underlayNamespace, ["link set lo up", "link add ubr type bridge", "link set ubr up"])
        for (index, (namespace, address)) in ends.enumerated() {
            try Self.ip(nil, ["link add u\(index) netns \(namespace) type veth peer name p\(index) netns \(underlayNamespace)"])
            try Self.ip(underlayNamespace, ["link set p\(index) master ubr up"])
            try Self.ip(namespace, ["link set lo up", "link set u\(index) name eth0", "addr add \(address)/24 dev eth0", "link set eth0 up"])
        }
    }

    /// Every namespace whose name starts with `prefix` (including task namespaces the nodes made
    /// under a longer prefix), task namespaces first.
    public static func namespaces(prefix: String) -> [String] {
        let all = (try? FileManager.default.contentsOfDirectory(atPath: HostNetworkPlumbing.namespaceDirectory)) ?? []
        return all.filter { $0.hasPrefix(prefix) }.sorted { ($0.contains("-t-") ? 0 : 1, $0) < ($1.contains("-t-") ? 0 : 1, $1) }
    }

    /// Removes every namespace starting with `prefix`; returns what could not be removed.
    @discardableResult
    public static func destroy(prefix: String) -> [String] {
        guard !prefix.isEmpty else { return [] }
        var failures: [String] = []
        for namespace in namespaces(prefix: prefix) {
            let output = try? CommandRunner.run(["ip", "netns", "del", namespace])
            if output?.succeeded != true { failures.append("\(namespace): \(output?.text ?? "ip not found")") }
        }
        return failures
    }

    static func ip(_ namespace: String?, _ lines: [String]) throws {
        let arguments = ["ip"] + (namespace.map { ["-n", $0] } ?? []) + ["-batch", "-"]
        let output = try CommandRunner.run(arguments, input: lines.joined(separator: "\n") + "\n")
        guard output.succeeded else { throw NetworkingError("\(arguments.joined(separator: " ")) failed: \(output.text)") }
    }
}
