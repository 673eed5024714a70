/// The names of everything this node creates in the kernel, all starting with one prefix.
///
/// It exists so a restarted agent (or `testbed down`, or a test's cleanup) can find what a crashed
/// run left behind by name alone, and so two nodes sharing one machine (the netns testbed) or two
/// tests running at once never touch each other's links, namespaces or tables.
/// Interface names are at most 15 bytes: prefix (2...6) + kind letter + up to 8 hex digits.
public struct NetworkNames: Equatable, Sendable {
    public let prefix: String

    /// Valid prefixes: 2 to 6 lowercase letters or digits, starting with a letter.
    public static func validate(prefix: String) throws(NetworkingError) {
        guard (2...6).contains(prefix.count), prefix.first!.isLetter,
              prefix.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber) }) else {
            throw NetworkingError("network name prefix '\(prefix)' is invalid: use 2 to 6 lowercase letters or digits, starting with a letter")
        }
    }

    public init(prefix: String) throws(NetworkingError) {
        try NetworkNames.validate(prefix: prefix)
        self.prefix = prefix
    }

    /// The nftables table (in the node namespace and in every task namespace).
    public var table: String { prefix }
    /// The node-local gateway bridge.
    public var gatewayBridge: String { prefix + "g" }
    /// The overlay bridge of a network (by VNI).
    public func bridge(vni: UInt32) -> String { prefix + "b" + String(vni, radix: 16) }
    /// The VXLAN device of a network (by VNI).
    public func vxlan(vni: UInt32) -> String { prefix + "x" + String(vni, radix: 16) }
    /// Wildcard matching every overlay bridge, for nftables.
    public var bridgeWildcard: String { prefix + "b*" }
    /// The node side of a task's veth on a network (or on the gateway bridge when `networkID` is nil).
    public func hostVeth(taskID: String, networkID: String?) -> String {
        prefix + "v" + fnv32Hex("\(taskID)/\(networkID ?? "-gateway")")
    }
    /// The task's network namespace (a file in /run/netns).
    public func namespace(taskID: String) -> String {
        prefix + "-t-" + String(taskID.map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" }.prefix(40))
    }
    public var namespacePrefix: String { prefix + "-t-" }

    /// Whether a link or namespace name is ours (created under this prefix).
    public func owns(link name: String) -> Bool {
        guard name.hasPrefix(prefix), let kind = name.dropFirst(prefix.count).first else { return false }
        let rest = name.dropFirst(prefix.count + 1)
        return "gbxv".contains(kind) && rest.allSatisfy { $0.isHexDigit } && (kind == "g") == rest.isEmpty
    }
}

/// FNV-1a, 32 bits, as 8 hex digits: a short, stable name for a (task, network) pair.
func fnv32Hex(_ text: String) -> String {
    var hash: UInt32 = 0x811c9dc5
    for byte in text.utf8 {
        hash ^= UInt32(byte)
        hash = hash &* 0x01000193
    }
    let string = String(hash, radix: 16)
    return String(repeating: "0", count: 8 - string.count) + string
}

/// A networking failure or refusal, worded for the operator: what went wrong, what to do.
public struct NetworkingError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
