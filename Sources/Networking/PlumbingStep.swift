/// One batched operation on the kernel's network configuration, as data.
///
/// It exists so renderers stay pure (plan in, steps out, compared against golden files) and one
/// executor (`NetworkPlumbing`) decides how a step reaches the kernel: `ip -batch`, `bridge -batch`,
/// `nft -f`, `conntrack -D`, or a recording fake in tests.
public enum PlumbingStep: Equatable, Sendable {
    /// `ip [-n namespace] -batch` with these lines.
    case ip(namespace: String?, lines: [String])
    /// `bridge [-n namespace] -batch` with these lines.
    case bridge(namespace: String?, lines: [String])
    /// `nft -f` of one whole ruleset text, in the namespace (nil: the node's), one transaction.
    case nft(namespace: String?, ruleset: String)
    /// Forget connection-tracking entries whose replies come from `replySource` (a removed
    /// backend), so established flows to it stop being translated to it.
    case flushConntrack(namespace: String?, replySource: IPv4Address)
    /// Writes a kernel setting (`net.ipv4.ip_forward`) in the namespace.
    case sysctl(namespace: String?, key: String, value: String)

    /// A readable form, one step per block, for golden files and logs.
    public var rendered: String {
        switch self {
        case let .ip(namespace, lines): return block("ip", namespace, lines)
        case let .bridge(namespace, lines): return block("bridge", namespace, lines)
        case let .nft(namespace, ruleset): return block("nft", namespace, ruleset.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
        case let .flushConntrack(namespace, source): return block("conntrack", namespace, ["-D --reply-src \(source)"])
        case let .sysctl(namespace, key, value): return block("sysctl", namespace, ["\(key)=\(value)"])
        }
    }

    private func block(_ tool: String, _ namespace: String?, _ lines: [String]) -> String {
        (["# \(tool)" + (namespace.map { " in \($0)" } ?? "")] + lines).joined(separator: "\n")
    }
}

extension Array where Element == PlumbingStep {
    /// Every step's readable form, separated by blank lines (the golden-file format).
    public var rendered: String { map(\.rendered).joined(separator: "\n\n") + "\n" }
}

/// What already exists in the kernel under this node's prefix, as observed before a render.
///
/// It exists so rendering is idempotent: only what is missing is created, only what is ours and
/// no longer wanted is removed, and what a crashed run left behind is adopted or removed.
public struct ObservedNetworkState: Equatable, Sendable {
    /// Named network namespaces (all of /run/netns; only ours are considered).
    public var namespaces: Set<String>
    /// Links in the node namespace.
    public var links: Set<String>
    /// Forwarding entries with a remote destination on each of our VXLAN devices.
    public var forwardingEntries: [String: Set<ForwardingEntry>]
    /// nftables tables of family ip in the node namespace.
    public var tables: Set<String>

    public init(namespaces: Set<String> = [], links: Set<String> = [], forwardingEntries: [String: Set<ForwardingEntry>] = [:],
                tables: Set<String> = []) {
        self.namespaces = namespaces
        self.links = links
        self.forwardingEntries = forwardingEntries
        self.tables = tables
    }
}

/// A VXLAN forwarding entry: frames for `mac` go to the node at `destination`.
public struct ForwardingEntry: Hashable, Comparable, Sendable {
    public static let flood = "00:00:00:00:00:00"
    public var mac: String
    public var destination: IPv4Address

    public init(mac: String, destination: IPv4Address) {
        self.mac = mac
        self.destination = destination
    }

    public static func < (lhs: ForwardingEntry, rhs: ForwardingEntry) -> Bool {
        (lhs.mac, lhs.destination) < (rhs.mac, rhs.destination)
    }
}
