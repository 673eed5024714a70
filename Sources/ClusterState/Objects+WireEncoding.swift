import Wire

// Fast Wire encoding of the object metadata and node types: the same bytes their `Codable`
// conformances give through `WireEncoder` (checked by `WireFastEncodingTests`).

extension ObjectVersion: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encode(index, forKey: "Index")
    }
}

extension Timestamp: WireFastEncodable {
    /// `RFC3339.format` written straight into the body (no intermediate strings): the form every
    /// object's `CreatedAt`/`UpdatedAt` takes in the log and in snapshots.
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        let seconds = Int64(millisecondsSinceEpoch / 1000)
        let (year, month, day) = RFC3339.civil(fromDays: seconds / 86_400)
        guard (0...9999).contains(year) else {
            writer.appendUTF8(RFC3339.format(millisecondsSinceEpoch))
            return
        }
        let secondOfDay = seconds % 86_400
        Self.appendDigits(year, 4, &writer)
        writer.appendByte(UInt8(ascii: "-"))
        Self.appendDigits(month, 2, &writer)
        writer.appendByte(UInt8(ascii: "-"))
        Self.appendDigits(day, 2, &writer)
        writer.appendByte(UInt8(ascii: "T"))
        Self.appendDigits(secondOfDay / 3600, 2, &writer)
        writer.appendByte(UInt8(ascii: ":"))
        Self.appendDigits(secondOfDay / 60 % 60, 2, &writer)
        writer.appendByte(UInt8(ascii: ":"))
        Self.appendDigits(secondOfDay % 60, 2, &writer)
        writer.appendByte(UInt8(ascii: "."))
        Self.appendDigits(Int64(millisecondsSinceEpoch % 1000), 3, &writer)
        writer.appendByte(UInt8(ascii: "Z"))
    }

    /// `value` (0 ≤ value < 10^width) in exactly `width` decimal digits.
    private static func appendDigits(_ value: Int64, _ width: Int, _ writer: inout WireSlotWriter) {
        precondition(value >= 0, "negative RFC 3339 field \(value)")
        var divisor: Int64 = 1
        for _ in 1..<width { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            writer.appendByte(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }
}

extension Node: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encode(id, forKey: "ID")
        try writer.encode(version, forKey: "Version")
        try writer.encode(createdAt, forKey: "CreatedAt")
        try writer.encode(updatedAt, forKey: "UpdatedAt")
        try writer.encode(spec, forKey: "Spec")
        try writer.encode(description, forKey: "Description")
        try writer.encode(status, forKey: "Status")
        try writer.encodeIfPresent(managerStatus, forKey: "ManagerStatus")
    }
}

extension NodeSpec: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encodeIfPresent(name, forKey: "Name")
        try writer.encode(labels, forKey: "Labels")
        writer.encode(role.rawValue, forKey: "Role")
        writer.encode(availability.rawValue, forKey: "Availability")
    }
}

extension NodeDescription: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encode(hostname, forKey: "Hostname")
        try writer.encodeNested(forKey: "Platform") { platformWriter in
            platformWriter.encode(platform.architecture, forKey: "Architecture")
            platformWriter.encode(platform.os, forKey: "OS")
        }
        try writer.encodeNested(forKey: "Resources") { resourcesWriter in
            resourcesWriter.encode(resources.nanoCPUs, forKey: "NanoCPUs")
            resourcesWriter.encode(resources.memoryBytes, forKey: "MemoryBytes")
        }
        try writer.encodeNested(forKey: "Engine") { engineWriter in
            engineWriter.encode(engine.engineVersion, forKey: "EngineVersion")
            try engineWriter.encodeIfPresent(engine.plugins, forKey: "Plugins")
        }
    }
}

extension EnginePlugin: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encode(type, forKey: "Type")
        writer.encode(name, forKey: "Name")
    }
}

extension NodeStatus: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encode(state.rawValue, forKey: "State")
        writer.encodeIfPresent(message, forKey: "Message")
        writer.encode(addr, forKey: "Addr")
    }
}

extension ManagerStatus: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encode(raftID, forKey: "RaftID")
        writer.encode(addr, forKey: "Addr")
        writer.encodeIfPresent(leader, forKey: "Leader")
        writer.encodeIfPresent(reachability, forKey: "Reachability")
    }
}
