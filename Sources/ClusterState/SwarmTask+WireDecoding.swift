import Wire

// Hand-written wire decoders for tasks (see `WireFastDecodable` and
// `ServiceSpec+WireDecoding.swift` for the rules they follow): the bulk of a snapshot, and of the
// `createTasks` and task status commands.

extension SwarmTask: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var seen = WireSeenKeys()
        var id: String?, version: ObjectVersion?, createdAt: Timestamp?, updatedAt: Timestamp?, serviceID: String?
        var slot: UInt64?, nodeID: String?, spec: TaskTemplate?, desiredState: TaskState?, status: TaskStatus?
        var networksAttachments: [NetworkAttachment]?, serviceAnnotations: TaskServiceAnnotations?
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
            } else if entry.key(is: "ServiceID") {
                try seen.first(4); serviceID = try value.string()
            } else if entry.key(is: "Slot") {
                try seen.first(5); slot = try value.optionalUInt64()
            } else if entry.key(is: "NodeID") {
                try seen.first(6); nodeID = try value.optionalString()
            } else if entry.key(is: "Spec") {
                try seen.first(7); spec = try value.decode(TaskTemplate.self)
            } else if entry.key(is: "DesiredState") {
                try seen.first(8); desiredState = try value.rawValue(TaskState.self)
            } else if entry.key(is: "Status") {
                try seen.first(9); status = try value.decode(TaskStatus.self)
            } else if entry.key(is: "NetworksAttachments") {
                try seen.first(10); networksAttachments = try value.optionalArray(of: NetworkAttachment.self)
            } else if entry.key(is: "ServiceAnnotations") {
                try seen.first(11); serviceAnnotations = try value.optional(TaskServiceAnnotations.self)
            }
        }
        guard let id, let version, let createdAt, let updatedAt, let serviceID, let spec, let desiredState, let status else {
            throw WireFastBail()
        }
        self.init(id: id, version: version, createdAt: createdAt, serviceID: serviceID, slot: slot, nodeID: nodeID, spec: spec,
                  desiredState: desiredState, status: status)
        self.updatedAt = updatedAt
        self.networksAttachments = networksAttachments
        self.serviceAnnotations = serviceAnnotations
    }
}

extension TaskServiceAnnotations: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var seen = WireSeenKeys()
        var name: String?
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            if entry.key(is: "Name") { try seen.first(0); name = try entry.value.string() }
        }
        guard let name else { throw WireFastBail() }
        self.init(name: name)
    }
}

extension TaskStatus: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var seen = WireSeenKeys()
        var timestamp: Timestamp?, state: TaskState?, message: String?, err: String?, containerStatus: ContainerStatus?
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            let value = entry.value
            if entry.key(is: "Timestamp") {
                try seen.first(0); timestamp = try value.decode(Timestamp.self)
            } else if entry.key(is: "State") {
                try seen.first(1); state = try value.rawValue(TaskState.self)
            } else if entry.key(is: "Message") {
                try seen.first(2); message = try value.string()
            } else if entry.key(is: "Err") {
                try seen.first(3); err = try value.optionalString()
            } else if entry.key(is: "ContainerStatus") {
                try seen.first(4); containerStatus = try value.optional(ContainerStatus.self)
            }
        }
        guard let timestamp, let state, let message else { throw WireFastBail() }
        self.init(timestamp: timestamp, state: state, message: message, err: err, containerStatus: containerStatus)
    }
}

extension ContainerStatus: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        self.init()
        var seen = WireSeenKeys()
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            if entry.key(is: "ContainerID") {
                try seen.first(0); containerID = try entry.value.optionalString()
            } else if entry.key(is: "PID") {
                try seen.first(1); pid = try entry.value.optionalInt64()
            } else if entry.key(is: "ExitCode") {
                try seen.first(2); exitCode = try entry.value.optionalInt64()
            }
        }
    }
}

extension NetworkAttachment: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var seen = WireSeenKeys()
        var networkID: String?, addresses: [String]?, aliases: [String]?
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            if entry.key(is: "NetworkID") {
                try seen.first(0); networkID = try entry.value.string()
            } else if entry.key(is: "Addresses") {
                try seen.first(1); addresses = try entry.value.strings()
            } else if entry.key(is: "Aliases") {
                try seen.first(2); aliases = try entry.value.optionalStrings()
            }
        }
        guard let networkID, let addresses else { throw WireFastBail() }
        self.init(networkID: networkID, addresses: addresses, aliases: aliases)
    }
}
