/// A change to one cluster object, for the control loops and `docker events`-style watchers.
/// Derived from the command and the objects before and after it, so every manager derives the
/// same events from the same log.
public struct ClusterEvent: Codable, Sendable, Equatable {
    /// Docker's event `Type` names.
    public enum Kind: String, Codable, Sendable, Equatable { case cluster = "swarm", node, service, task, network }
    /// Docker's event `Action` names.
    public enum Action: String, Codable, Sendable, Equatable { case create, update, remove }

    public var kind: Kind
    public var action: Action
    public var id: String
    /// The Raft index of the command that made the change.
    public var index: UInt64

    public init(kind: Kind, action: Action, id: String, index: UInt64) {
        self.kind = kind
        self.action = action
        self.id = id
        self.index = index
    }
}

extension ClusterState {
    /// Applies `command` like `apply(_:index:)` and also returns what changed, in a fixed order
    /// (cluster, nodes, services, tasks; ids sorted). A refused command changes nothing.
    public mutating func applyReportingEvents(_ command: ClusterCommand, index: UInt64)
        -> (result: Result<Void, ClusterError>, events: [ClusterEvent]) {
        let touched = touchedObjects(command)
        let beforeCluster = cluster?.version
        let beforeNodes = touched.nodes.map { nodes[$0]?.version }
        let beforeServices = touched.services.map { services[$0]?.version }
        let beforeTasks = touched.tasks.map { tasks[$0]?.version }
        let beforeNetworks = touched.networks.map { networking.networks[$0]?.version }
        let result = apply(command, index: index)
        guard case .success = result else { return (result, []) }

        var events: [ClusterEvent] = []
        func record(_ kind: ClusterEvent.Kind, _ id: String, _ before: ObjectVersion?, _ after: ObjectVersion?) {
            switch (before, after) {
            case (nil, .some): events.append(ClusterEvent(kind: kind, action: .create, id: id, index: index))
            case (.some, nil): events.append(ClusterEvent(kind: kind, action: .remove, id: id, index: index))
            case let (.some(old), .some(new)) where old != new:
                events.append(ClusterEvent(kind: kind, action: .update, id: id, index: index))
            default: break
            }
        }
        if let cluster { record(.cluster, cluster.id, beforeCluster, cluster.version) }
        for (id, before) in zip(touched.nodes, beforeNodes) { record(.node, id, before, nodes[id]?.version) }
        for (id, before) in zip(touched.services, beforeServices) { record(.service, id, before, services[id]?.version) }
        for (id, before) in zip(touched.tasks, beforeTasks) { record(.task, id, before, tasks[id]?.version) }
        for (id, before) in zip(touched.networks, beforeNetworks) { record(.network, id, before, networking.networks[id]?.version) }
        return (result, events)
    }

    /// The ids a command may change, sorted and without duplicates.
    public func touchedObjects(_ command: ClusterCommand) -> (nodes: [String], services: [String], tasks: [String], networks: [String]) {
        switch command {
        case let .initialize(cluster, firstNode, _):
            return ([firstNode.id], [], [], [ClusterNetworking.ingressID(clusterID: cluster.id)])
        case let .createNetwork(network): return ([], [], [], [network.id])
        case let .removeNetwork(id, _): return ([], [], [], [id])
        case let .updateService(id, _, _, _), let .rollbackService(id, _, _):
            // Publishing or unpublishing ingress ports changes the live tasks' attachments.
            return ([], [id], tasks(ofService: id).map(\.id).sorted(), [])
        default:
            let (nodes, services, tasks) = touchedNonNetworkObjects(command)
            return (nodes, services, tasks, [])
        }
    }

    private func touchedNonNetworkObjects(_ command: ClusterCommand) -> (nodes: [String], services: [String], tasks: [String]) {
        func unique(_ ids: [String]) -> [String] { Array(Set(ids)).sorted() }
        switch command {
        case let .initialize(_, firstNode, _): return ([firstNode.id], [], [])
        case let .addNode(node, _): return ([node.id], [], [])
        case let .updateNodeSpec(id, _, _, _), let .setNodeStatus(id, _, _, _), let .setManagerStatus(id, _, _),
             let .removeNode(id, _, _), let .setNodeDescription(id, _, _):
            return ([id], [], [])
        case .rotateJoinToken, .updateClusterSpec, .startCARotation, .finishCARotation, .setAutoLock: return ([], [], [])
        case let .createService(service): return ([], [service.id], [])
        case let .updateService(id, _, _, _), let .rollbackService(id, _, _), let .setServiceUpdateStatus(id, _, _, _):
            return ([], [id], [])
        case let .removeService(id, _): return ([], [id], tasks(ofService: id).map(\.id).sorted())
        case let .createTasks(newTasks): return ([], [], unique(newTasks.map(\.id)))
        case let .updateTaskStatus(id, _), let .setTaskDesiredState(id, _, _), let .assignTask(id, _, _):
            return ([], [], [id])
        case let .removeTasks(ids): return ([], [], unique(ids))
        case let .updateTaskStatuses(updates): return ([], [], unique(updates.map(\.taskID)))
        case .createNetwork, .removeNetwork: return ([], [], [])
        case .createPayload, .updatePayloadLabels, .removePayload: return ([], [], [])
        case let .reviseSecret(id, _, _):
            // The services it rolls (their specs move to the new revision).
            let name = secretObjects[id]?.spec.name ?? ""
            return ([], services(referencing: .secret, named: name).map(\.id).sorted(), [])
        }
    }
}
