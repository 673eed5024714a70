import Wire

// Fast Wire encoding of the container settings of a spec (mounts, privileges, DNS, ulimits):
// the bytes of their `Codable` conformances through `WireEncoder` (`WireFastEncodingTests`).

extension Mount: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encode(type, forKey: "Type")
        writer.encodeIfPresent(source, forKey: "Source")
        writer.encode(target, forKey: "Target")
        writer.encodeIfPresent(readOnly, forKey: "ReadOnly")
        if let bindOptions {
            try writer.encodeNested(forKey: "BindOptions") { $0.encodeIfPresent(bindOptions.propagation, forKey: "Propagation") }
        }
        if let volumeOptions {
            try writer.encodeNested(forKey: "VolumeOptions") { $0.encodeIfPresent(volumeOptions.noCopy, forKey: "NoCopy") }
        }
        if let tmpfsOptions {
            try writer.encodeNested(forKey: "TmpfsOptions") { optionsWriter in
                optionsWriter.encodeIfPresent(tmpfsOptions.sizeBytes, forKey: "SizeBytes")
                optionsWriter.encodeIfPresent(tmpfsOptions.mode, forKey: "Mode")
            }
        }
    }
}

extension Privileges: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        if let seccomp {
            try writer.encodeNested(forKey: "Seccomp") { $0.encodeIfPresent(seccomp.mode, forKey: "Mode") }
        }
        writer.encodeIfPresent(noNewPrivileges, forKey: "NoNewPrivileges")
    }
}

extension DNSConfig: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        try writer.encodeIfPresent(nameservers, forKey: "Nameservers")
        try writer.encodeIfPresent(search, forKey: "Search")
        try writer.encodeIfPresent(options, forKey: "Options")
    }
}

extension Ulimit: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encode(name, forKey: "Name")
        writer.encode(soft, forKey: "Soft")
        writer.encode(hard, forKey: "Hard")
    }
}

extension PayloadFile: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encode(name, forKey: "Name")
        writer.encode(uid, forKey: "UID")
        writer.encode(gid, forKey: "GID")
        writer.encode(mode, forKey: "Mode")
    }
}

extension SecretReference: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        try writer.encodeIfPresent(file, forKey: "File")
        writer.encode(secretID, forKey: "SecretID")
        writer.encode(secretName, forKey: "SecretName")
    }
}

extension ConfigReference: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        try writer.encodeIfPresent(file, forKey: "File")
        writer.encode(configID, forKey: "ConfigID")
        writer.encode(configName, forKey: "ConfigName")
    }
}
