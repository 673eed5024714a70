/// One plugin a node's engine offers (Docker's `Description.Engine.Plugins` entry, such as
/// `{"Type": "Network", "Name": "overlay"}`).
///
/// It exists so a node can say whether it runs task networking in the form Docker clients
/// already show (`docker node inspect`), and the scheduler can keep tasks with network
/// attachments off nodes that would only reject them, as Docker's plugin filter does.
public struct EnginePlugin: Codable, Sendable, Equatable, Hashable {
    public var type: String
    public var name: String

    public init(type: String, name: String) {
        self.type = type
        self.name = name
    }

    /// The plugin a node lists when it can give tasks their own network namespace on the
    /// cluster's overlay networks (ingress included).
    public static let overlayNetwork = EnginePlugin(type: "Network", name: NetworkSpec.overlayDriver)

    enum CodingKeys: String, CodingKey { case type = "Type", name = "Name" }
}

extension NodeDescription {
    /// Whether tasks with network attachments (`--network`, `--publish`) may be placed on the
    /// node: it lists the overlay network plugin. A node that never reported its plugins (one
    /// from before the field, or one that has not heartbeated since it joined) counts as able,
    /// so a cluster of mixed versions places tasks as before.
    public var runsTaskNetworking: Bool {
        guard let plugins = engine.plugins else { return true }
        return plugins.contains(.overlayNetwork)
    }
}

extension Node {
    /// `NodeDescription.runsTaskNetworking` of this node.
    public var runsTaskNetworking: Bool { description.runsTaskNetworking }
}

extension ClusterState {
    /// Whether tasks of service `serviceID` with `template` get network attachments (and so need
    /// a node that runs task networking): the same rule as the attachments a new task gets
    /// (`attachmentTargets`): ingress for published ports, then the template's networks.
    public func needsTaskNetworking(serviceID: String, template: TaskTemplate) -> Bool {
        if let service = services[serviceID], networking.ingressNetwork != nil,
           EndpointAllocation.joinsIngress(ports: service.endpoint?.ports ?? [],
                                           networkCount: service.spec.taskTemplate.networks?.count ?? 0) {
            return true
        }
        return (template.networks ?? []).contains { networking.networks[$0.target] != nil }
    }
}
