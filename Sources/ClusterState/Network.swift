/// An overlay network (Docker's swarm-scoped `Network`): what the user asked for and what the
/// apply allocated for it (subnet, gateway, VXLAN id).
///
/// It exists in the replicated state so every manager agrees on each network's addresses and
/// VXLAN id, and the dispatcher can tell every node the same service tables.
public struct Network: Codable, Sendable, Equatable {
    public var id: String
    public var version: ObjectVersion
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var spec: NetworkSpec
    /// Allocated by the apply (the spec's `IPAM` subnet, or the next free /24 of 10.0.0.0/8).
    public var subnet: IPv4Subnet
    public var gateway: IPv4Address
    /// The VXLAN network identifier, from 4096 up.
    public var vxlanID: UInt32

    public init(id: String, version: ObjectVersion = ObjectVersion(index: 0), createdAt: Timestamp, spec: NetworkSpec,
                subnet: IPv4Subnet = IPv4Subnet(base: IPv4Address(0), prefixLength: 0), gateway: IPv4Address = IPv4Address(0),
                vxlanID: UInt32 = 0) {
        self.id = id
        self.version = version
        self.createdAt = createdAt
        updatedAt = createdAt
        self.spec = spec
        self.subnet = subnet
        self.gateway = gateway
        self.vxlanID = vxlanID
    }

    enum CodingKeys: String, CodingKey {
        case id = "ID", version = "Version", createdAt = "CreatedAt", updatedAt = "UpdatedAt", spec = "Spec"
        case subnet = "Subnet", gateway = "Gateway", vxlanID = "VXLANID"
    }
}

/// What users write for a network (`docker network create -d overlay`). Only the overlay driver
/// exists; the route refuses everything this cluster does not implement, naming it.
public struct NetworkSpec: Codable, Sendable, Equatable {
    public static let overlayDriver = "overlay"

    public var name: String
    public var labels: [String: String]
    public var driver: String
    /// Standalone containers may join it (Docker's flag; recorded and shown, there are no
    /// standalone containers here).
    public var attachable: Bool
    /// The routing-mesh network that carries published ingress ports (one per cluster).
    public var ingress: Bool
    /// The requested subnet and gateway (at most one IPv4 entry); nil: allocated from the pool.
    public var ipam: [IPAMConfig]

    public init(name: String, labels: [String: String] = [:], driver: String = NetworkSpec.overlayDriver,
                attachable: Bool = false, ingress: Bool = false, ipam: [IPAMConfig] = []) {
        self.name = name
        self.labels = labels
        self.driver = driver
        self.attachable = attachable
        self.ingress = ingress
        self.ipam = ipam
    }

    enum CodingKeys: String, CodingKey {
        case name = "Name", labels = "Labels", driver = "Driver", attachable = "Attachable", ingress = "Ingress", ipam = "IPAM"
    }
}

/// One `IPAM.Config` entry: `Subnet` and optional `Gateway` (the first address when absent).
public struct IPAMConfig: Codable, Sendable, Equatable {
    public var subnet: String?
    public var gateway: String?

    public init(subnet: String? = nil, gateway: String? = nil) {
        self.subnet = subnet
        self.gateway = gateway
    }

    enum CodingKeys: String, CodingKey { case subnet = "Subnet", gateway = "Gateway" }
}

/// One network of a task template (`TaskTemplate.Networks[]`, or the legacy `Networks[]` of a
/// service spec): the network id (the API resolves names) and DNS aliases.
public struct NetworkAttachmentConfig: Codable, Sendable, Equatable {
    public var target: String
    public var aliases: [String]?

    public init(target: String, aliases: [String]? = nil) {
        self.target = target
        self.aliases = aliases
    }

    enum CodingKeys: String, CodingKey { case target = "Target", aliases = "Aliases" }
}

/// A task's place on one network (Docker's `Task.NetworksAttachments[]`): the addresses the apply
/// gave it there, in CIDR form.
public struct NetworkAttachment: Codable, Sendable, Equatable {
    public var networkID: String
    public var addresses: [String]
    public var aliases: [String]?

    public init(networkID: String, addresses: [String], aliases: [String]? = nil) {
        self.networkID = networkID
        self.addresses = addresses
        self.aliases = aliases
    }

    enum CodingKeys: String, CodingKey { case networkID = "NetworkID", addresses = "Addresses", aliases = "Aliases" }
}

/// A service's virtual IP on one network (Docker's `Endpoint.VirtualIPs[]`).
public struct VirtualIP: Codable, Sendable, Equatable {
    public var networkID: String
    /// CIDR form, `10.0.1.2/24`.
    public var addr: String

    public init(networkID: String, addr: String) {
        self.networkID = networkID
        self.addr = addr
    }

    enum CodingKeys: String, CodingKey { case networkID = "NetworkID", addr = "Addr" }
}

/// What the apply allocated for a service's endpoint (Docker's `Service.Endpoint`): the spec it
/// answered, the published ports with their numbers, and a VIP per network (vip mode).
public struct ServiceEndpoint: Codable, Sendable, Equatable {
    public var spec: EndpointSpec
    public var ports: [PortConfig]
    public var virtualIPs: [VirtualIP]

    public init(spec: EndpointSpec, ports: [PortConfig] = [], virtualIPs: [VirtualIP] = []) {
        self.spec = spec
        self.ports = ports
        self.virtualIPs = virtualIPs
    }

    enum CodingKeys: String, CodingKey { case spec = "Spec", ports = "Ports", virtualIPs = "VirtualIPs" }

    /// dockerd shows `{"Spec": {}}` for a service with neither ports nor networks.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        spec = try container.decodeIfPresent(EndpointSpec.self, forKey: .spec) ?? EndpointSpec()
        ports = try container.decodeIfPresent([PortConfig].self, forKey: .ports) ?? []
        virtualIPs = try container.decodeIfPresent([VirtualIP].self, forKey: .virtualIPs) ?? []
    }
}
