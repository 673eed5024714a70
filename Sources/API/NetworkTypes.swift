import ClusterState

/// Docker's `Network` as dockerd answers `GET /networks` and `GET /networks/{id}` for a
/// swarm-scoped overlay network (scope `swarm`, driver `overlay`, the VXLAN id in `Options`).
struct NetworkResponse: Encodable {
    var network: Network

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: DynamicKey.self)
        let spec = network.spec
        try container.encode(spec.name, forKey: DynamicKey("Name"))
        try container.encode(network.id, forKey: DynamicKey("Id"))
        try container.encode(network.createdAt, forKey: DynamicKey("Created"))
        try container.encode("swarm", forKey: DynamicKey("Scope"))
        try container.encode(spec.driver, forKey: DynamicKey("Driver"))
        try container.encode(false, forKey: DynamicKey("EnableIPv6"))
        try container.encode(NetworkIPAMResponse(subnet: network.subnet.description, gateway: network.gateway.description),
                             forKey: DynamicKey("IPAM"))
        try container.encode(false, forKey: DynamicKey("Internal"))
        try container.encode(spec.attachable, forKey: DynamicKey("Attachable"))
        try container.encode(spec.ingress, forKey: DynamicKey("Ingress"))
        try container.encode(["Network": ""], forKey: DynamicKey("ConfigFrom"))
        try container.encode(false, forKey: DynamicKey("ConfigOnly"))
        try container.encode([String: String](), forKey: DynamicKey("Containers"))
        try container.encode(["com.docker.network.driver.overlay.vxlanid_list": String(network.vxlanID)], forKey: DynamicKey("Options"))
        try container.encode(spec.labels, forKey: DynamicKey("Labels"))
    }
}

struct NetworkIPAMResponse: Encodable {
    var subnet: String
    var gateway: String

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: DynamicKey.self)
        try container.encode("default", forKey: DynamicKey("Driver"))
        try container.encodeNil(forKey: DynamicKey("Options"))
        try container.encode([["Subnet": subnet, "Gateway": gateway]], forKey: DynamicKey("Config"))
    }
}

/// The body of `POST /networks/create` (Docker's `NetworkCreateRequest`), decoded leniently.
/// Every field the Docker API defines is here so that one this cluster does not implement is
/// refused by name (`problem`) instead of dropped.
struct NetworkCreateRequest: Decodable {
    var name: String?
    var driver: String?
    var scope: String?
    var enableIPv6: Bool?
    var ipam: IPAM?
    var `internal`: Bool?
    var attachable: Bool?
    var ingress: Bool?
    var configOnly: Bool?
    var configFrom: ConfigReference?
    var options: [String: String]?
    var labels: [String: String]?

    struct IPAM: Decodable {
        var driver: String?
        var options: [String: String]?
        var config: [Config]?

        enum CodingKeys: String, CodingKey { case driver = "Driver", options = "Options", config = "Config" }
    }

    struct Config: Decodable {
        var subnet: String?
        var ipRange: String?
        var gateway: String?
        var auxiliaryAddresses: [String: String]?

        enum CodingKeys: String, CodingKey {
            case subnet = "Subnet", ipRange = "IPRange", gateway = "Gateway", auxiliaryAddresses = "AuxiliaryAddresses"
        }
    }

    struct ConfigReference: Decodable {
        var network: String?
        enum CodingKeys: String, CodingKey { case network = "Network" }
    }

    enum CodingKeys: String, CodingKey {
        case name = "Name", driver = "Driver", scope = "Scope", enableIPv6 = "EnableIPv6", ipam = "IPAM", `internal` = "Internal"
        case attachable = "Attachable", ingress = "Ingress", configOnly = "ConfigOnly", configFrom = "ConfigFrom"
        case options = "Options", labels = "Labels"
    }

    /// The first setting this cluster does not implement, as a 400 naming it; nil if none.
    func problem() -> APIError? {
        let driverName = (driver ?? "").isEmpty ? "bridge" : driver!
        if driverName != NetworkSpec.overlayDriver {
            return .badRequest("network driver \(driverName) is not available: only overlay networks exist in this cluster; "
                + "create it with -d overlay")
        }
        if let scope, !["", "swarm"].contains(scope) { return .badRequest("network scope \(scope) is not available: networks are swarm-scoped") }
        if enableIPv6 == true { return .badRequest("IPv6 networks are not implemented by this cluster yet: remove --ipv6") }
        if `internal` == true { return .badRequest("internal networks are not implemented by this cluster yet: remove --internal") }
        if configOnly == true || !(configFrom?.network ?? "").isEmpty {
            return .badRequest("config-only networks are not implemented by this cluster: remove --config-only and --config-from")
        }
        if let option = (options ?? [:]).keys.sorted().first {
            return .badRequest("network driver option \(option) is not implemented by this cluster (overlay networks here are not "
                + "encrypted and take no options): remove --opt \(option)")
        }
        if let ipam {
            if let driver = ipam.driver, !["", "default"].contains(driver) {
                return .badRequest("IPAM driver \(driver) is not available: remove --ipam-driver")
            }
            if let option = (ipam.options ?? [:]).keys.sorted().first { return .badRequest("IPAM option \(option) is not implemented: remove --ipam-opt") }
            for config in ipam.config ?? [] {
                if !(config.ipRange ?? "").isEmpty { return .badRequest("IPAM ranges are not implemented: remove --ip-range") }
                if !(config.auxiliaryAddresses ?? [:]).isEmpty { return .badRequest("auxiliary addresses are not implemented: remove --aux-address") }
            }
        }
        return nil
    }

    var spec: NetworkSpec {
        NetworkSpec(name: name ?? "", labels: labels ?? [:], driver: NetworkSpec.overlayDriver, attachable: attachable ?? false,
                    ingress: ingress ?? false,
                    ipam: (ipam?.config ?? []).map { IPAMConfig(subnet: $0.subnet, gateway: $0.gateway) })
    }
}

/// `{"Id": ..., "Warning": ""}` of `POST /networks/create`.
struct NetworkCreateResponse: Encodable {
    var id: String
    enum CodingKeys: String, CodingKey { case id = "Id", warning = "Warning" }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode("", forKey: .warning)
    }
}

/// `GET /networks` filters: `id` and `name` (substrings, as dockerd), `label` (`key` or
/// `key=value`, all must hold), `driver`, `scope` (`swarm`), `type` (`custom`, or `builtin`
/// for ingress), `dangling` (no service uses it).
struct NetworkFilter {
    static let names: Set<String> = ["id", "name", "label", "driver", "scope", "type", "dangling"]
    let filters: DockerFilters

    static func parse(_ text: String?) -> Result<NetworkFilter, APIError> {
        switch DockerFilters.parse(text, allowed: names) {
        case let .failure(error): return .failure(error)
        case let .success(filters):
            if let kind = filters["type"].first(where: { !["custom", "builtin"].contains($0) }) {
                return .failure(.badRequest("invalid filter: 'type' must be one of \"custom\" or \"builtin\", not '\(kind)'"))
            }
            if let value = filters["dangling"].first(where: { !["true", "false", "1", "0"].contains($0.lowercased()) }) {
                return .failure(.badRequest("invalid filter 'dangling=\(value)'"))
            }
            return .success(NetworkFilter(filters: filters))
        }
    }

    func matches(_ network: Network, in state: ClusterState) -> Bool {
        filters.any("id") { network.id.contains($0) }
            && filters.any("name") { network.spec.name.contains($0) }
            && ServiceFilter.labels(filters["label"], match: network.spec.labels)
            && filters.any("driver") { $0 == network.spec.driver }
            && filters.any("scope") { $0 == "swarm" }
            && filters.any("type") { ($0 == "builtin") == network.spec.ingress }
            && filters.any("dangling") { ["true", "1"].contains($0.lowercased()) == state.users(ofNetwork: network.id).services.isEmpty }
    }
}
