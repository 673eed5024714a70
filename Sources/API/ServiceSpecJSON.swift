import ClusterState

/// A `ServiceSpec` read straight from a parsed body, for the shapes clients send on every
/// `POST /services/create` (the docker CLI, docker-py, compare-bench's writes).
///
/// It exists because the lenient `Decoder` spends most of a create's decoding in `Codable`
/// machinery (a container, a box and generic metadata per object, a lookup per absent field).
/// It gives exactly what `LenientJSONDecoder.decode(ServiceSpec.self, from:)` gives, or nil: the
/// same key matching (the last exact key, else the last case-folded one), Go's zero values for
/// absent and `null` members, the same number rules; the objects it does not spell out (mounts,
/// health checks, ports, update configs, …) are decoded by `LenientJSONDecoder` itself. On any
/// value it would refuse it answers nil, and the caller decodes with `LenientJSONDecoder`, whose
/// error names the field. `ServiceSpecDecodingEquivalenceTests` holds the two to the same output.
enum ServiceSpecJSON {
    /// The spec, or nil when `LenientJSONDecoder` must decide (it then refuses the body, or
    /// accepts it identically).
    static func decode(_ document: JSONValue) -> ServiceSpec? {
        try? serviceSpec(document)
    }

    /// A value this reader leaves to `LenientJSONDecoder`.
    private struct Unhandled: Error {}

    private typealias Members = [(String, JSONValue)]

    // MARK: The spec's own objects (field names as in each type's CodingKeys)

    private static func serviceSpec(_ value: JSONValue) throws(Unhandled) -> ServiceSpec {
        let members = try object(value)
        var spec = ServiceSpec(name: try string(member(members, "Name")) ?? "",
                               labels: try stringMap(member(members, "Labels")) ?? [:],
                               taskTemplate: try taskTemplate(member(members, "TaskTemplate")),
                               mode: try mode(member(members, "Mode")) ?? .replicated(replicas: 1))
        spec.updateConfig = try lenient(UpdateConfig.self, member(members, "UpdateConfig"))
        spec.rollbackConfig = try lenient(UpdateConfig.self, member(members, "RollbackConfig"))
        spec.endpointSpec = try endpointSpec(member(members, "EndpointSpec"))
        spec.networks = try lenient([NetworkAttachmentConfig].self, member(members, "Networks"))
        return spec
    }

    /// `TaskTemplate` is not optional in the spec: absent or null, it is the zero template.
    private static func taskTemplate(_ value: JSONValue?) throws(Unhandled) -> TaskTemplate {
        let members = try objectOrZero(value)
        return TaskTemplate(containerSpec: try containerSpec(member(members, "ContainerSpec")),
                            resources: try resources(member(members, "Resources")),
                            restartPolicy: try lenient(RestartPolicy.self, member(members, "RestartPolicy")),
                            placement: try placement(member(members, "Placement")),
                            forceUpdate: try integer(UInt64.self, member(members, "ForceUpdate")),
                            runtime: try string(member(members, "Runtime")),
                            networks: try lenient([NetworkAttachmentConfig].self, member(members, "Networks")))
    }

    private static func containerSpec(_ value: JSONValue?) throws(Unhandled) -> ContainerSpec {
        let members = try objectOrZero(value)
        var spec = ContainerSpec(image: try string(member(members, "Image")) ?? "",
                                 labels: try stringMap(member(members, "Labels")),
                                 command: try strings(member(members, "Command")),
                                 args: try strings(member(members, "Args")),
                                 hostname: try string(member(members, "Hostname")),
                                 env: try strings(member(members, "Env")),
                                 dir: try string(member(members, "Dir")),
                                 user: try string(member(members, "User")),
                                 initProcess: try bool(member(members, "Init")),
                                 stopGracePeriod: try integer(Int64.self, member(members, "StopGracePeriod")),
                                 stopSignal: try string(member(members, "StopSignal")),
                                 healthcheck: try lenient(HealthConfig.self, member(members, "Healthcheck")),
                                 isolation: try string(member(members, "Isolation")))
        spec.groups = try strings(member(members, "Groups"))
        spec.privileges = try lenient(Privileges.self, member(members, "Privileges"))
        spec.readOnly = try bool(member(members, "ReadOnly"))
        spec.mounts = try lenient([Mount].self, member(members, "Mounts"))
        spec.hosts = try strings(member(members, "Hosts"))
        spec.dnsConfig = try dnsConfig(member(members, "DNSConfig"))
        spec.sysctls = try stringMap(member(members, "Sysctls"))
        spec.capabilityAdd = try strings(member(members, "CapabilityAdd"))
        spec.capabilityDrop = try strings(member(members, "CapabilityDrop"))
        spec.ulimits = try lenient([Ulimit].self, member(members, "Ulimits"))
        spec.secrets = try lenient([SecretReference].self, member(members, "Secrets"))
        spec.configs = try lenient([ConfigReference].self, member(members, "Configs"))
        return spec
    }

    /// `ServiceMode.init(from:)`: `Replicated` (replicas default 1), else `Global`, else one replica.
    private static func mode(_ value: JSONValue?) throws(Unhandled) -> ServiceMode? {
        guard let members = try optionalObject(value) else { return nil }
        if let replicated = try optionalObject(member(members, "Replicated")) {
            return .replicated(replicas: try integer(UInt64.self, member(replicated, "Replicas")) ?? 1)
        }
        if try optionalObject(member(members, "Global")) != nil { return .global }
        return .replicated(replicas: 1)
    }

    private static func resources(_ value: JSONValue?) throws(Unhandled) -> ResourceRequirements? {
        guard let members = try optionalObject(value) else { return nil }
        return ResourceRequirements(limits: try amounts(member(members, "Limits")), reservations: try amounts(member(members, "Reservations")))
    }

    private static func amounts(_ value: JSONValue?) throws(Unhandled) -> ResourceAmounts? {
        guard let members = try optionalObject(value) else { return nil }
        return ResourceAmounts(nanoCPUs: try integer(Int64.self, member(members, "NanoCPUs")),
                               memoryBytes: try integer(Int64.self, member(members, "MemoryBytes")),
                               pids: try integer(Int64.self, member(members, "Pids")))
    }

    private static func placement(_ value: JSONValue?) throws(Unhandled) -> Placement? {
        guard let members = try optionalObject(value) else { return nil }
        return Placement(constraints: try strings(member(members, "Constraints")),
                         preferences: try lenient([PlacementPreference].self, member(members, "Preferences")),
                         maxReplicas: try integer(UInt64.self, member(members, "MaxReplicas")))
    }

    private static func dnsConfig(_ value: JSONValue?) throws(Unhandled) -> DNSConfig? {
        guard let members = try optionalObject(value) else { return nil }
        return DNSConfig(nameservers: try strings(member(members, "Nameservers")), search: try strings(member(members, "Search")),
                         options: try strings(member(members, "Options")))
    }

    private static func endpointSpec(_ value: JSONValue?) throws(Unhandled) -> EndpointSpec? {
        guard let members = try optionalObject(value) else { return nil }
        return EndpointSpec(mode: try string(member(members, "Mode")), ports: try lenient([PortConfig].self, member(members, "Ports")))
    }

    // MARK: Values, as LenientDecoder reads them

    /// `LenientKeyedContainer.lookup`: the last exact key, else the last case-folded one.
    private static func member(_ members: Members, _ name: String) -> JSONValue? {
        LenientKeys.lookup(name, in: members)
    }

    /// A present object (`decodeIfPresent` of a struct): nil when absent or null.
    private static func optionalObject(_ value: JSONValue?) throws(Unhandled) -> Members? {
        switch value {
        case nil, .null?: return nil
        case let .object(members)?: return members
        default: throw Unhandled()
        }
    }

    /// A struct that is not optional: absent or null decodes as an object with no members.
    private static func objectOrZero(_ value: JSONValue?) throws(Unhandled) -> Members {
        try optionalObject(value) ?? []
    }

    private static func object(_ value: JSONValue) throws(Unhandled) -> Members {
        guard case let .object(members) = value else { throw Unhandled() }
        return members
    }

    /// `decodeIfPresent(String.self)`.
    private static func string(_ value: JSONValue?) throws(Unhandled) -> String? {
        switch value {
        case nil, .null?: return nil
        case let .string(text)?: return text
        default: throw Unhandled()
        }
    }

    /// An item of a string array or a value of a string map: null is "" (Go's zero value).
    private static func stringItem(_ value: JSONValue) throws(Unhandled) -> String {
        switch value {
        case .null: return ""
        case let .string(text): return text
        default: throw Unhandled()
        }
    }

    private static func bool(_ value: JSONValue?) throws(Unhandled) -> Bool? {
        switch value {
        case nil, .null?: return nil
        case let .bool(flag)?: return flag
        default: throw Unhandled()
        }
    }

    private static func integer<T: FixedWidthInteger>(_ type: T.Type, _ value: JSONValue?) throws(Unhandled) -> T? {
        switch value {
        case nil, .null?: return nil
        case .number?:
            guard let number = try? LenientDecoder.integer(type, value, at: []) else { throw Unhandled() }
            return number
        default: throw Unhandled()
        }
    }

    /// `decodeIfPresent([String].self)`.
    private static func strings(_ value: JSONValue?) throws(Unhandled) -> [String]? {
        switch value {
        case nil, .null?: return nil
        case let .array(items)?:
            var result: [String] = []
            result.reserveCapacity(items.count)
            for item in items { result.append(try stringItem(item)) }
            return result
        default: throw Unhandled()
        }
    }

    /// `decodeIfPresent([String: String].self)`: each key once, with the value its lookup finds
    /// (the last member spelled exactly so), as `Dictionary.init(from:)` does.
    private static func stringMap(_ value: JSONValue?) throws(Unhandled) -> [String: String]? {
        guard let members = try optionalObject(value) else { return nil }
        var result: [String: String] = [:]
        result.reserveCapacity(members.count)
        for (key, _) in members {
            result[key] = try stringItem(member(members, key)!)
        }
        return result
    }

    /// A field this reader does not spell out, decoded by `LenientJSONDecoder` (nil when absent or
    /// null, as `decodeIfPresent`).
    private static func lenient<T: Decodable>(_ type: T.Type, _ value: JSONValue?) throws(Unhandled) -> T? {
        switch value {
        case nil, .null?: return nil
        case let value?:
            do {
                return try LenientJSONDecoder.decode(type, from: value)
            } catch {
                throw Unhandled()
            }
        }
    }
}
