/// An IPv4 address as a number, with dotted-quad parsing and printing.
///
/// It exists because address management runs inside the replicated apply, where addresses are
/// counted, compared and stepped through: numbers make that exact, and the printed form is only
/// for the API and the wire.
public struct IPv4Address: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public var value: UInt32

    public init(_ value: UInt32) { self.value = value }

    /// Parses `a.b.c.d` (each part 0–255, no leading signs or spaces); nil otherwise.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), let byte = UInt8(part) else { return nil }
            value = value << 8 | UInt32(byte)
        }
        self.value = value
    }

    public var description: String {
        "\(value >> 24).\(value >> 16 & 0xff).\(value >> 8 & 0xff).\(value & 0xff)"
    }

    public static func < (lhs: IPv4Address, rhs: IPv4Address) -> Bool { lhs.value < rhs.value }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let parsed = IPv4Address(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an IPv4 address: \(text)")
        }
        self = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// An IPv4 subnet in CIDR form (`10.0.1.0/24`): its first address and prefix length.
public struct IPv4Subnet: Codable, Sendable, Hashable, CustomStringConvertible {
    public private(set) var base: IPv4Address
    public private(set) var prefixLength: Int

    /// `base` must have no bits set past the prefix.
    public init(base: IPv4Address, prefixLength: Int) {
        precondition((0...32).contains(prefixLength), "prefix length \(prefixLength) is out of range")
        precondition(base.value & ~Self.mask(prefixLength) == 0, "\(base)/\(prefixLength) has host bits set")
        self.base = base
        self.prefixLength = prefixLength
    }

    /// Parses `a.b.c.d/n`; nil when malformed or when host bits are set (`10.0.1.5/24`), as
    /// Docker refuses such a subnet too.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let base = IPv4Address(parts[0]), parts[1].count <= 2, parts[1].allSatisfy(\.isASCII),
              let length = Int(parts[1]), (0...32).contains(length), base.value & ~Self.mask(length) == 0 else { return nil }
        self.init(base: base, prefixLength: length)
    }

    static func mask(_ length: Int) -> UInt32 { length == 0 ? 0 : UInt32.max << (32 - length) }

    /// The number of addresses, network and broadcast included.
    public var size: UInt64 { UInt64(1) << (32 - prefixLength) }

    /// The last address (the broadcast address).
    public var last: IPv4Address { IPv4Address(base.value | ~Self.mask(prefixLength)) }

    public func contains(_ address: IPv4Address) -> Bool {
        address.value & Self.mask(prefixLength) == base.value
    }

    public func overlaps(_ other: IPv4Subnet) -> Bool {
        contains(other.base) || other.contains(base)
    }

    /// `address` written with this subnet's prefix length (`10.0.1.5/24`), as Docker shows
    /// task addresses and VIPs.
    public func cidr(_ address: IPv4Address) -> String { "\(address)/\(prefixLength)" }

    public var description: String { "\(base)/\(prefixLength)" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let parsed = IPv4Subnet(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an IPv4 subnet: \(text)")
        }
        self = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
