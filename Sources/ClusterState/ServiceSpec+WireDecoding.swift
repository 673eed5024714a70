import Wire

// Hand-written wire decoders for a service spec and everything under it (see `WireFastDecodable`):
// each reads the keys its `CodingKeys` name, `decode` fields must be there and not nil,
// `decodeIfPresent` ones may be absent or nil, unknown keys are skipped, and anything else (a
// known key twice, a bad value) bails to the `Codable` path. Keys are numbered for `WireSeenKeys`
// in `CodingKeys` order. `WireFastDecodingTests` checks each against `init(from:)`.

extension ServiceSpec: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var seen = WireSeenKeys()
        var name: String?, labels: [String: String]?, taskTemplate: TaskTemplate?, mode: ServiceMode?
        var updateConfig: UpdateConfig?, rollbackConfig: UpdateConfig?, endpointSpec: EndpointSpec?
        var networks: [NetworkAttachmentConfig]?
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            let value = entry.value
            if entry.key(is: "Name") {
                try seen.first(0); name = try value.optionalString()
            } else if entry.key(is: "Labels") {
                try seen.first(1); labels = try value.optionalStringDictionary()
            } else if entry.key(is: "TaskTemplate") {
                try seen.first(2); taskTemplate = try value.decode(TaskTemplate.self)
            } else if entry.key(is: "Mode") {
                try seen.first(3); mode = try value.optional(ServiceMode.self)
            } else if entry.key(is: "UpdateConfig") {
                try seen.first(4); updateConfig = try value.optional(UpdateConfig.self)
            } else if entry.key(is: "RollbackConfig") {
                try seen.first(5); rollbackConfig = try value.optional(UpdateConfig.self)
            } else if entry.key(is: "EndpointSpec") {
                try seen.first(6); endpointSpec = try value.optional(EndpointSpec.self)
            } else if entry.key(is: "Networks") {
                try seen.first(7); networks = try value.optionalArray(of: NetworkAttachmentConfig.self)
            }
        }
        guard let taskTemplate else { throw WireFastBail() }
        self.init(name: name ?? "", labels: labels ?? [:], taskTemplate: taskTemplate, mode: mode ?? .replicated(replicas: 1),
                  updateConfig: updateConfig, rollbackConfig: rollbackConfig, endpointSpec: endpointSpec, networks: networks)
    }
}

extension ServiceMode: WireFastDecodable {
    /// As `init(from:)`: `Replicated` first, then `Global`, else one replica.
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var seen = WireSeenKeys()
        var replicated: Replicated?, global: Global?
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            if entry.key(is: "Replicated") {
                try seen.first(0); replicated = try entry.value.optional(Replicated.self)
            } else if entry.key(is: "Global") {
                try seen.first(1); global = try entry.value.optional(Global.self)
            }
        }
        if let replicated {
            self = .replicated(replicas: replicated.replicas ?? 1)
        } else if global != nil {
            self = .global
        } else {
            self = .replicated(replicas: 1)
        }
    }
}

extension ServiceMode.Replicated: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var seen = WireSeenKeys()
        var replicas: UInt64?
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            if entry.key(is: "Replicas") { try seen.first(0); replicas = try entry.value.optionalUInt64() }
        }
        self.init(replicas: replicas)
    }
}

extension ServiceMode.Global: WireFastDecodable {
    /// No fields; the body must still be a valid keyed body.
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var entries = try reader.keyed()
        while try entries.next() != nil {}
        self.init()
    }
}

extension TaskTemplate: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var seen = WireSeenKeys()
        var containerSpec: ContainerSpec?, resources: ResourceRequirements?, restartPolicy: RestartPolicy?
        var placement: Placement?, forceUpdate: UInt64?, runtime: String?, networks: [NetworkAttachmentConfig]?
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            let value = entry.value
            if entry.key(is: "ContainerSpec") {
                try seen.first(0); containerSpec = try value.decode(ContainerSpec.self)
            } else if entry.key(is: "Resources") {
                try seen.first(1); resources = try value.optional(ResourceRequirements.self)
            } else if entry.key(is: "RestartPolicy") {
                try seen.first(2); restartPolicy = try value.optional(RestartPolicy.self)
            } else if entry.key(is: "Placement") {
                try seen.first(3); placement = try value.optional(Placement.self)
            } else if entry.key(is: "ForceUpdate") {
                try seen.first(4); forceUpdate = try value.optionalUInt64()
            } else if entry.key(is: "Runtime") {
                try seen.first(5); runtime = try value.optionalString()
            } else if entry.key(is: "Networks") {
                try seen.first(6); networks = try value.optionalArray(of: NetworkAttachmentConfig.self)
            }
        }
        guard let containerSpec else { throw WireFastBail() }
        self.init(containerSpec: containerSpec, resources: resources, restartPolicy: restartPolicy, placement: placement,
                  forceUpdate: forceUpdate, runtime: runtime, networks: networks)
    }
}

extension ContainerSpec: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var seen = WireSeenKeys()
        var image: String?
        // Fields go straight into self: a ContainerSpec is large, and a local copy cost a move.
        self.init(image: "")
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            let value = entry.value
            if entry.key(is: "Image") {
                try seen.first(0); image = try value.string()
            } else if entry.key(is: "Labels") {
                try seen.first(1); self.labels = try value.optionalStringDictionary()
            } else if entry.key(is: "Command") {
                try seen.first(2); self.command = try value.optionalStrings()
            } else if entry.key(is: "Args") {
                try seen.first(3); self.args = try value.optionalStrings()
            } else if entry.key(is: "Hostname") {
                try seen.first(4); self.hostname = try value.optionalString()
            } else if entry.key(is: "Env") {
                try seen.first(5); self.env = try value.optionalStrings()
            } else if entry.key(is: "Dir") {
                try seen.first(6); self.dir = try value.optionalString()
            } else if entry.key(is: "User") {
                try seen.first(7); self.user = try value.optionalString()
            } else if entry.key(is: "Init") {
                try seen.first(8); self.initProcess = try value.optionalBool()
            } else if entry.key(is: "StopGracePeriod") {
                try seen.first(9); self.stopGracePeriod = try value.optionalInt64()
            } else if entry.key(is: "StopSignal") {
                try seen.first(10); self.stopSignal = try value.optionalString()
            } else if entry.key(is: "Healthcheck") {
                try seen.first(11); self.healthcheck = try value.optional(HealthConfig.self)
            } else if entry.key(is: "Isolation") {
                try seen.first(12); self.isolation = try value.optionalString()
            } else if entry.key(is: "Groups") {
                try seen.first(13); self.groups = try value.optionalStrings()
            } else if entry.key(is: "Privileges") {
                try seen.first(14); self.privileges = try value.optional(Privileges.self)
            } else if entry.key(is: "ReadOnly") {
                try seen.first(15); self.readOnly = try value.optionalBool()
            } else if entry.key(is: "Mounts") {
                try seen.first(16); self.mounts = try value.optionalArray(of: Mount.self)
            } else if entry.key(is: "Hosts") {
                try seen.first(17); self.hosts = try value.optionalStrings()
            } else if entry.key(is: "DNSConfig") {
                try seen.first(18); self.dnsConfig = try value.optional(DNSConfig.self)
            } else if entry.key(is: "Sysctls") {
                try seen.first(19); self.sysctls = try value.optionalStringDictionary()
            } else if entry.key(is: "CapabilityAdd") {
                try seen.first(20); self.capabilityAdd = try value.optionalStrings()
            } else if entry.key(is: "CapabilityDrop") {
                try seen.first(21); self.capabilityDrop = try value.optionalStrings()
            } else if entry.key(is: "Ulimits") {
                try seen.first(22); self.ulimits = try value.optionalArray(of: Ulimit.self)
            } else if entry.key(is: "Secrets") {
                try seen.first(23); self.secrets = try value.optionalArray(of: SecretReference.self)
            } else if entry.key(is: "Configs") {
                try seen.first(24); self.configs = try value.optionalArray(of: ConfigReference.self)
            }
        }
        guard let image else { throw WireFastBail() }
        self.image = image
    }
}

extension HealthConfig: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        self.init()
        var seen = WireSeenKeys()
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            let value = entry.value
            if entry.key(is: "Test") {
                try seen.first(0); test = try value.optionalStrings()
            } else if entry.key(is: "Interval") {
                try seen.first(1); interval = try value.optionalInt64()
            } else if entry.key(is: "Timeout") {
                try seen.first(2); timeout = try value.optionalInt64()
            } else if entry.key(is: "Retries") {
                try seen.first(3); retries = try value.optionalInt64()
            } else if entry.key(is: "StartPeriod") {
                try seen.first(4); startPeriod = try value.optionalInt64()
            }
        }
    }
}

extension ResourceRequirements: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        self.init()
        var seen = WireSeenKeys()
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            if entry.key(is: "Limits") {
                try seen.first(0); limits = try entry.value.optional(ResourceAmounts.self)
            } else if entry.key(is: "Reservations") {
                try seen.first(1); reservations = try entry.value.optional(ResourceAmounts.self)
            }
        }
    }
}

extension ResourceAmounts: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        self.init()
        var seen = WireSeenKeys()
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            if entry.key(is: "NanoCPUs") {
                try seen.first(0); nanoCPUs = try entry.value.optionalInt64()
            } else if entry.key(is: "MemoryBytes") {
                try seen.first(1); memoryBytes = try entry.value.optionalInt64()
            } else if entry.key(is: "Pids") {
                try seen.first(2); pids = try entry.value.optionalInt64()
            }
        }
    }
}

extension RestartPolicy: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        self.init()
        var seen = WireSeenKeys()
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            let value = entry.value
            if entry.key(is: "Condition") {
                try seen.first(0); condition = try value.optionalRawValue(RestartCondition.self)
            } else if entry.key(is: "Delay") {
                try seen.first(1); delay = try value.optionalInt64()
            } else if entry.key(is: "MaxAttempts") {
                try seen.first(2); maxAttempts = try value.optionalUInt64()
            } else if entry.key(is: "Window") {
                try seen.first(3); window = try value.optionalInt64()
            }
        }
    }
}

extension Placement: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        self.init()
        var seen = WireSeenKeys()
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            let value = entry.value
            if entry.key(is: "Constraints") {
                try seen.first(0); constraints = try value.optionalStrings()
            } else if entry.key(is: "Preferences") {
                try seen.first(1); preferences = try value.optionalArray(of: PlacementPreference.self)
            } else if entry.key(is: "MaxReplicas") {
                try seen.first(2); maxReplicas = try value.optionalUInt64()
            }
        }
    }
}

extension PlacementPreference: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var seen = WireSeenKeys()
        var spread: Spread?
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            if entry.key(is: "Spread") { try seen.first(0); spread = try entry.value.optional(Spread.self) }
        }
        self.init(spreadDescriptor: "")
        self.spread = spread
    }
}

extension PlacementPreference.Spread: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var seen = WireSeenKeys()
        var descriptor: String?
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            if entry.key(is: "SpreadDescriptor") { try seen.first(0); descriptor = try entry.value.string() }
        }
        guard let descriptor else { throw WireFastBail() }
        self.init(spreadDescriptor: descriptor)
    }
}

extension UpdateConfig: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        self.init()
        var seen = WireSeenKeys()
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            let value = entry.value
            if entry.key(is: "Parallelism") {
                try seen.first(0); parallelism = try value.optionalUInt64()
            } else if entry.key(is: "Delay") {
                try seen.first(1); delay = try value.optionalInt64()
            } else if entry.key(is: "FailureAction") {
                try seen.first(2); failureAction = try value.optionalRawValue(UpdateFailureAction.self)
            } else if entry.key(is: "Monitor") {
                try seen.first(3); monitor = try value.optionalInt64()
            } else if entry.key(is: "MaxFailureRatio") {
                try seen.first(4); maxFailureRatio = try value.optionalDouble()
            } else if entry.key(is: "Order") {
                try seen.first(5); order = try value.optionalRawValue(UpdateOrder.self)
            }
        }
    }
}

extension EndpointSpec: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        self.init()
        var seen = WireSeenKeys()
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            if entry.key(is: "Mode") {
                try seen.first(0); mode = try entry.value.optionalString()
            } else if entry.key(is: "Ports") {
                try seen.first(1); ports = try entry.value.optionalArray(of: PortConfig.self)
            }
        }
    }
}

extension PortConfig: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var seen = WireSeenKeys()
        var name: String?, proto: String?, targetPort: UInt32?, publishedPort: UInt32?
        var publishMode: String?, publishPolicy: String?
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            let value = entry.value
            if entry.key(is: "Name") {
                try seen.first(0); name = try value.optionalString()
            } else if entry.key(is: "Protocol") {
                try seen.first(1); proto = try value.optionalString()
            } else if entry.key(is: "TargetPort") {
                try seen.first(2); targetPort = try value.uint32()
            } else if entry.key(is: "PublishedPort") {
                try seen.first(3); publishedPort = try value.optionalUInt32()
            } else if entry.key(is: "PublishMode") {
                try seen.first(4); publishMode = try value.optionalString()
            } else if entry.key(is: "PublishPolicy") {
                try seen.first(5); publishPolicy = try value.optionalString()
            }
        }
        guard let targetPort else { throw WireFastBail() }
        self.init(name: name, protocol: proto, targetPort: targetPort, publishedPort: publishedPort,
                  publishMode: publishMode, publishPolicy: publishPolicy)
    }
}

extension NetworkAttachmentConfig: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var seen = WireSeenKeys()
        var target: String?, aliases: [String]?
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            if entry.key(is: "Target") {
                try seen.first(0); target = try entry.value.string()
            } else if entry.key(is: "Aliases") {
                try seen.first(1); aliases = try entry.value.optionalStrings()
            }
        }
        guard let target else { throw WireFastBail() }
        self.init(target: target, aliases: aliases)
    }
}

extension Mount: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var seen = WireSeenKeys()
        var type: String?, source: String?, target: String?, readOnly: Bool?
        var bindOptions: BindOptions?, volumeOptions: VolumeOptions?, tmpfsOptions: TmpfsOptions?
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            let value = entry.value
            if entry.key(is: "Type") {
                try seen.first(0); type = try value.string()
            } else if entry.key(is: "Source") {
                try seen.first(1); source = try value.optionalString()
            } else if entry.key(is: "Target") {
                try seen.first(2); target = try value.string()
            } else if entry.key(is: "ReadOnly") {
                try seen.first(3); readOnly = try value.optionalBool()
            } else if entry.key(is: "BindOptions") {
                try seen.first(4); bindOptions = try value.optional(BindOptions.self)
            } else if entry.key(is: "VolumeOptions") {
                try seen.first(5); volumeOptions = try value.optional(VolumeOptions.self)
            } else if entry.key(is: "TmpfsOptions") {
                try seen.first(6); tmpfsOptions = try value.optional(TmpfsOptions.self)
            }
        }
        guard let type, let target else { throw WireFastBail() }
        self.init(type: type, source: source, target: target, readOnly: readOnly, bindOptions: bindOptions,
                  volumeOptions: volumeOptions, tmpfsOptions: tmpfsOptions)
    }
}

extension Mount.BindOptions: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        self.init()
        var seen = WireSeenKeys()
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            if entry.key(is: "Propagation") { try seen.first(0); propagation = try entry.value.optionalString() }
        }
    }
}

extension Mount.VolumeOptions: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        self.init()
        var seen = WireSeenKeys()
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            if entry.key(is: "NoCopy") { try seen.first(0); noCopy = try entry.value.optionalBool() }
        }
    }
}

extension Mount.TmpfsOptions: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        self.init()
        var seen = WireSeenKeys()
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            if entry.key(is: "SizeBytes") {
                try seen.first(0); sizeBytes = try entry.value.optionalInt64()
            } else if entry.key(is: "Mode") {
                try seen.first(1); mode = try entry.value.optionalUInt32()
            }
        }
    }
}

extension Privileges: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        self.init()
        var seen = WireSeenKeys()
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            if entry.key(is: "Seccomp") {
                try seen.first(0); seccomp = try entry.value.optional(Seccomp.self)
            } else if entry.key(is: "NoNewPrivileges") {
                try seen.first(1); noNewPrivileges = try entry.value.optionalBool()
            }
        }
    }
}

extension Privileges.Seccomp: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        self.init()
        var seen = WireSeenKeys()
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            if entry.key(is: "Mode") { try seen.first(0); mode = try entry.value.optionalString() }
        }
    }
}

extension DNSConfig: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        self.init()
        var seen = WireSeenKeys()
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            if entry.key(is: "Nameservers") {
                try seen.first(0); nameservers = try entry.value.optionalStrings()
            } else if entry.key(is: "Search") {
                try seen.first(1); search = try entry.value.optionalStrings()
            } else if entry.key(is: "Options") {
                try seen.first(2); options = try entry.value.optionalStrings()
            }
        }
    }
}

extension Ulimit: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var seen = WireSeenKeys()
        var name: String?, soft: Int64?, hard: Int64?
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            if entry.key(is: "Name") {
                try seen.first(0); name = try entry.value.string()
            } else if entry.key(is: "Soft") {
                try seen.first(1); soft = try entry.value.int64()
            } else if entry.key(is: "Hard") {
                try seen.first(2); hard = try entry.value.int64()
            }
        }
        guard let name, let soft, let hard else { throw WireFastBail() }
        self.init(name: name, soft: soft, hard: hard)
    }
}

extension PayloadFile: WireFastDecodable {
    /// As `init(from:)`: every field optional, with "" and 0 for the absent ones.
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var seen = WireSeenKeys()
        var name: String?, uid: String?, gid: String?, mode: UInt32?
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            let value = entry.value
            if entry.key(is: "Name") {
                try seen.first(0); name = try value.optionalString()
            } else if entry.key(is: "UID") {
                try seen.first(1); uid = try value.optionalString()
            } else if entry.key(is: "GID") {
                try seen.first(2); gid = try value.optionalString()
            } else if entry.key(is: "Mode") {
                try seen.first(3); mode = try value.optionalUInt32()
            }
        }
        self.init(name: name ?? "", uid: uid ?? "", gid: gid ?? "", mode: mode ?? 0)
    }
}

extension SecretReference: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var seen = WireSeenKeys()
        var file: PayloadFile?, id: String?, name: String?
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            if entry.key(is: "File") {
                try seen.first(0); file = try entry.value.optional(PayloadFile.self)
            } else if entry.key(is: "SecretID") {
                try seen.first(1); id = try entry.value.optionalString()
            } else if entry.key(is: "SecretName") {
                try seen.first(2); name = try entry.value.optionalString()
            }
        }
        self.init(file: file, secretID: id ?? "", secretName: name ?? "")
    }
}

extension ConfigReference: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var seen = WireSeenKeys()
        var file: PayloadFile?, id: String?, name: String?
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            if entry.key(is: "File") {
                try seen.first(0); file = try entry.value.optional(PayloadFile.self)
            } else if entry.key(is: "ConfigID") {
                try seen.first(1); id = try entry.value.optionalString()
            } else if entry.key(is: "ConfigName") {
                try seen.first(2); name = try entry.value.optionalString()
            }
        }
        self.init(file: file, configID: id ?? "", configName: name ?? "")
    }
}
