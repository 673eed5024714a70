import Wire

// Hand-written wire decoders for a service and what it carries besides its specs (see
// `WireFastDecodable` and `ServiceSpec+WireDecoding.swift` for the rules they follow).

extension Service: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var seen = WireSeenKeys()
        var id: String?, version: ObjectVersion?, createdAt: Timestamp?, updatedAt: Timestamp?, spec: ServiceSpec?
        var previousSpec: ServiceSpec?, updateStatus: UpdateStatus?, endpoint: ServiceEndpoint?
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            let value = entry.value
            if entry.key(is: "ID") {
                try seen.first(0); id = try value.string()
            } else if entry.key(is: "Version") {
                try seen.first(1); version = try value.decode(ObjectVersion.self)
            } else if entry.key(is: "CreatedAt") {
                try seen.first(2); createdAt = try value.decode(Timestamp.self)
            } else if entry.key(is: "UpdatedAt") {
                try seen.first(3); updatedAt = try value.decode(Timestamp.self)
            } else if entry.key(is: "Spec") {
                try seen.first(4); spec = try value.decode(ServiceSpec.self)
            } else if entry.key(is: "PreviousSpec") {
                try seen.first(5); previousSpec = try value.optional(ServiceSpec.self)
            } else if entry.key(is: "UpdateStatus") {
                try seen.first(6); updateStatus = try value.optional(UpdateStatus.self)
            } else if entry.key(is: "Endpoint") {
                try seen.first(7); endpoint = try value.optional(ServiceEndpoint.self)
            }
        }
        guard let id, let version, let createdAt, let updatedAt, let spec else { throw WireFastBail() }
        self.init(id: id, version: version, createdAt: createdAt, spec: spec, previousSpec: previousSpec, updateStatus: updateStatus)
        self.updatedAt = updatedAt
        self.endpoint = endpoint
    }
}

extension UpdateStatus: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var seen = WireSeenKeys()
        var state: UpdateState?, startedAt: Timestamp?, completedAt: Timestamp?, message: String?
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            let value = entry.value
            if entry.key(is: "State") {
                try seen.first(0); state = try value.rawValue(UpdateState.self)
            } else if entry.key(is: "StartedAt") {
                try seen.first(1); startedAt = try value.optional(Timestamp.self)
            } else if entry.key(is: "CompletedAt") {
                try seen.first(2); completedAt = try value.optional(Timestamp.self)
            } else if entry.key(is: "Message") {
                try seen.first(3); message = try value.optionalString()
            }
        }
        guard let state else { throw WireFastBail() }
        self.init(state: state, startedAt: startedAt, completedAt: completedAt, message: message)
    }
}

extension ServiceEndpoint: WireFastDecodable {
    /// As `init(from:)`: every field optional, empty when absent.
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var seen = WireSeenKeys()
        var spec: EndpointSpec?, ports: [PortConfig]?, virtualIPs: [VirtualIP]?
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            if entry.key(is: "Spec") {
                try seen.first(0); spec = try entry.value.optional(EndpointSpec.self)
            } else if entry.key(is: "Ports") {
                try seen.first(1); ports = try entry.value.optionalArray(of: PortConfig.self)
            } else if entry.key(is: "VirtualIPs") {
                try seen.first(2); virtualIPs = try entry.value.optionalArray(of: VirtualIP.self)
            }
        }
        self.init(spec: spec ?? EndpointSpec(), ports: ports ?? [], virtualIPs: virtualIPs ?? [])
    }
}

extension VirtualIP: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var seen = WireSeenKeys()
        var networkID: String?, addr: String?
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            if entry.key(is: "NetworkID") {
                try seen.first(0); networkID = try entry.value.string()
            } else if entry.key(is: "Addr") {
                try seen.first(1); addr = try entry.value.string()
            }
        }
        guard let networkID, let addr else { throw WireFastBail() }
        self.init(networkID: networkID, addr: addr)
    }
}
