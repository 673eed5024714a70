import Wire

// Fast Wire encoding of the network parts of services and tasks: the bytes of their `Codable`
// conformances through `WireEncoder` (`WireFastEncodingTests`).

extension NetworkAttachmentConfig: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encode(target, forKey: "Target")
        try writer.encodeIfPresent(aliases, forKey: "Aliases")
    }
}

extension NetworkAttachment: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encode(networkID, forKey: "NetworkID")
        try writer.encode(addresses, forKey: "Addresses")
        try writer.encodeIfPresent(aliases, forKey: "Aliases")
    }
}

extension VirtualIP: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encode(networkID, forKey: "NetworkID")
        writer.encode(addr, forKey: "Addr")
    }
}

extension ServiceEndpoint: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        try writer.encode(spec, forKey: "Spec")
        try writer.encode(ports, forKey: "Ports")
        try writer.encode(virtualIPs, forKey: "VirtualIPs")
    }
}
