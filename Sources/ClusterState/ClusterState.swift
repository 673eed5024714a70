/// The replicated cluster state: the only writer of cluster objects. Managers apply committed
/// commands in log order; control loops and the API read it and propose changes, never
/// mutating it directly. Pure and deterministic: no clock, no I/O, no randomness.
public struct ClusterState: Codable, Sendable, Equatable {
    public private(set) var cluster: Cluster?
    public private(set) var nodes: [String: Node] = [:]
    public private(set) var secrets: ClusterSecrets?
    /// Written only through `store(_:)` and `dropService(_:)`, which keep `serviceIDsByName`.
    public private(set) var services: [String: Service] = [:]
    public internal(set) var tasks: [String: SwarmTask] = [:]
    /// Networks and what is allocated on them (addresses, VXLAN ids, ingress ports).
    public internal(set) var networking = ClusterNetworking()
    /// Secrets (every revision still needed) by id; written only by `ClusterState+Payloads`.
    public internal(set) var secretObjects: [String: PayloadObject] = [:]
    /// Configs by id.
    public internal(set) var configObjects: [String: PayloadObject] = [:]
    /// Raft index of the last applied command.
    public private(set) var appliedIndex: UInt64 = 0
    /// Task ids by node and by service, derived from `tasks` (not encoded; rebuilt on decode),
    /// so the dispatcher and the API answer per-node and per-service lists without a scan.
    var taskIDsByNode: [String: Set<String>] = [:]
    var taskIDsByService: [String: Set<String>] = [:]
    /// Service ids by name, derived from `services` (not encoded; rebuilt on decode): creates and
    /// the API's name checks look a name up instead of scanning every service.
    var serviceIDsByName: [String: String] = [:]
    /// Every service id in ascending order, derived like the indexes above: control loops walk
    /// services in this order every round, and sorting thousands of ids each time was a round's
    /// largest cost.
    public var sortedServiceIDs: [String] { serviceOrder.all }
    /// Up to `limit` service ids in ascending order after `id` (from the first when nil).
    public func serviceIDs(after id: String?, limit: Int) -> [String] { serviceOrder.ids(after: id, limit: limit) }
    /// The order behind `sortedServiceIDs`, in chunks (`SortedIDs`).
    private(set) var serviceOrder = SortedIDs()
    /// What recent commands changed (derived: not encoded, ignored by `==`; see `ChangeJournal`).
    public internal(set) var changes = ChangeJournal()

    public init() {}

    enum CodingKeys: String, CodingKey { case cluster, nodes, secrets, services, tasks, appliedIndex, secretObjects, configObjects, networking }

    /// Snapshots written before services and tasks existed decode with none.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        cluster = try container.decodeIfPresent(Cluster.self, forKey: .cluster)
        nodes = try container.decode([String: Node].self, forKey: .nodes)
        secrets = try container.decodeIfPresent(ClusterSecrets.self, forKey: .secrets)
        services = try container.decodeIfPresent([String: Service].self, forKey: .services) ?? [:]
        tasks = try container.decodeIfPresent([String: SwarmTask].self, forKey: .tasks) ?? [:]
        appliedIndex = try container.decode(UInt64.self, forKey: .appliedIndex)
        networking = try container.decodeIfPresent(ClusterNetworking.self, forKey: .networking) ?? ClusterNetworking()
        if let cluster, !container.contains(.networking) {
            // A snapshot from before networks: the ingress network every cluster has since.
            createIngressNetwork(clusterID: cluster.id, at: cluster.createdAt, version: cluster.version)
        }
        secretObjects = try container.decodeIfPresent([String: PayloadObject].self, forKey: .secretObjects) ?? [:]
        configObjects = try container.decodeIfPresent([String: PayloadObject].self, forKey: .configObjects) ?? [:]
        for task in tasks.values { indexTask(task) }
        for service in services.values { serviceIDsByName[service.spec.name] = service.id }
        serviceOrder = SortedIDs(sorted: services.keys.sorted())
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(cluster, forKey: .cluster)
        try container.encode(nodes, forKey: .nodes)
        try container.encodeIfPresent(secrets, forKey: .secrets)
        try container.encode(services, forKey: .services)
        try container.encode(tasks, forKey: .tasks)
        try container.encode(appliedIndex, forKey: .appliedIndex)
        try container.encode(networking, forKey: .networking)
        try container.encode(secretObjects, forKey: .secretObjects)
        try container.encode(configObjects, forKey: .configObjects)
    }

    // MARK: Indexes

    /// Stores `service` (new or changed) and keeps the name index current.
    mutating func store(_ service: Service) {
        if let old = services[service.id]?.spec.name, old != service.spec.name, serviceIDsByName[old] == service.id {
            serviceIDsByName[old] = nil
        }
        if services.updateValue(service, forKey: service.id) == nil {
            serviceOrder.insert(service.id)
        }
        serviceIDsByName[service.spec.name] = service.id
    }

    /// Removes service `id` and its name from the index.
    mutating func dropService(_ id: String) {
        guard let removed = services.removeValue(forKey: id) else { return }
        if serviceIDsByName[removed.spec.name] == id { serviceIDsByName[removed.spec.name] = nil }
        let wasOrdered = serviceOrder.remove(id)
        precondition(wasOrdered, "service \(id) missing from the id order")
    }

    /// Adds `task` to the per-node and per-service indexes.
    mutating func indexTask(_ task: SwarmTask) {
        taskIDsByService[task.serviceID, default: []].insert(task.id)
        if let nodeID = task.nodeID { taskIDsByNode[nodeID, default: []].insert(task.id) }
    }

    /// Removes `task` from the indexes (when it is deleted).
    mutating func unindexTask(_ task: SwarmTask) {
        taskIDsByService[task.serviceID]?.remove(task.id)
        if taskIDsByService[task.serviceID]?.isEmpty == true { taskIDsByService[task.serviceID] = nil }
        if let nodeID = task.nodeID {
            taskIDsByNode[nodeID]?.remove(task.id)
            if taskIDsByNode[nodeID]?.isEmpty == true { taskIDsByNode[nodeID] = nil }
        }
    }

    /// Nodes ordered by id, so every reader sees the same order.
    public var sortedNodes: [Node] { nodes.keys.sorted().map { nodes[$0]! } }

    public func node(raftID: UInt64) -> Node? {
        nodes.values.first { $0.managerStatus?.raftID == raftID }
    }

    public var managers: [Node] { sortedNodes.filter { $0.spec.role == .manager } }

    /// The node that owns transport identity `transportID`.
    public func member(transportID: UInt64) -> Node? {
        guard let member = secrets?.members[String(transportID)] else { return nil }
        return nodes[member.nodeID]
    }

    /// Whether certificates naming node `id` are refused (the node was removed).
    public func isDenied(nodeID id: String) -> Bool { secrets?.deniedNodes[id] != nil }

    /// The certificate authority, nil before `initialize` (or in test states without one).
    public var certificateAuthority: ClusterCA? { secrets?.ca }
    /// The unlock key while autolock is on (nil when it is off).
    public var managerUnlockKey: String? { secrets?.managerUnlockKey }

    /// The transport identity of node `id`.
    public func transportID(ofNode id: String) -> UInt64? {
        secrets?.members.first { $0.value.nodeID == id }.flatMap { UInt64($0.key) }
    }

    /// Applies one committed command at Raft `index`. A refused command changes nothing but the
    /// applied index; the error goes back to whoever proposed it.
    @discardableResult
    public mutating func apply(_ command: ClusterCommand, index: UInt64) -> Result<Void, ClusterError> {
        precondition(index > appliedIndex, "applying index \(index) after \(appliedIndex)")
        appliedIndex = index
        let version = ObjectVersion(index: index)
        changes.noteApplied(index: index)
        let changed = changedObjects(command)
        let clusterBefore = cluster?.version
        do {
            try applyChecked(command, version: version)
            recordChanges(changed, clusterBefore: clusterBefore, index: index)
            return .success(())
        } catch let error as ClusterError {
            return .failure(error)
        } catch {
            return .failure(.invalid("\(error)"))
        }
    }

    private mutating func applyChecked(_ command: ClusterCommand, version: ObjectVersion) throws {
        switch command {
        case let .initialize(newCluster, firstNode, newSecrets):
            guard cluster == nil else { throw ClusterError.conflict("the cluster is already initialized") }
            var initialized = newCluster
            initialized.version = version
            cluster = initialized
            secrets = newSecrets
            var node = firstNode
            node.version = version
            nodes[node.id] = node
            createIngressNetwork(clusterID: initialized.id, at: initialized.createdAt, version: version)
        case let .addNode(newNode, transportID):
            try requireCluster()
            guard nodes[newNode.id] == nil, !isDenied(nodeID: newNode.id) else {
                throw ClusterError.conflict("node \(newNode.id) already exists or was removed")
            }
            guard secrets?.members[String(transportID)] == nil else {
                throw ClusterError.conflict("transport id \(transportID) is already taken")
            }
            var node = newNode
            node.version = version
            nodes[node.id] = node
            secrets?.members[String(transportID)] = ClusterMember(nodeID: node.id)
            if let ingress = networking.ingressNetwork { _ = networking.attachNode(node.id, to: ingress.id) }
        case let .updateNodeSpec(id, expected, spec, at):
            var node = try existingNode(id)
            try check(expected, against: node.version, kind: "node", id: id)
            try changeRole(of: &node, to: spec.role)
            node.spec = spec
            touch(&node, version, at)
        case let .setNodeStatus(id, state, message, at):
            var node = try existingNode(id)
            node.status.state = state
            node.status.message = message
            touch(&node, version, at)
        case let .setManagerStatus(id, managerStatus, at):
            var node = try existingNode(id)
            node.managerStatus = managerStatus
            node.spec.role = managerStatus == nil ? .worker : .manager
            touch(&node, version, at)
        case let .setNodeDescription(id, description, at):
            var node = try existingNode(id)
            node.description = description
            touch(&node, version, at)
        case let .removeNode(id, force, at):
            let node = try existingNode(id)
            guard node.spec.role == .worker else {
                throw ClusterError.invalid("node \(id) is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal")
            }
            guard force || node.status.state == .down else {
                throw ClusterError.invalid("node \(id) is not down and can't be removed: stop it first or use --force")
            }
            nodes[id] = nil
            if let members = secrets?.members { secrets?.members = members.filter { $0.value.nodeID != id } }
            secrets?.deniedNodes[id] = at
            networking.detachNode(id)
        case let .rotateJoinToken(role, secret, token, at):
            try requireCluster()
            switch role {
            case .worker:
                secrets?.workerSecret = secret
                cluster!.joinTokens.worker = token
            case .manager:
                secrets?.managerSecret = secret
                cluster!.joinTokens.manager = token
            }
            cluster!.version = version
            cluster!.updatedAt = at
        case let .updateClusterSpec(expected, spec, at):
            try requireCluster()
            try check(expected, against: cluster!.version, kind: "swarm", id: cluster!.id)
            // Autolock changes only with its key (`setAutoLock`).
            var spec = spec
            spec.encryptionConfig = cluster!.spec.encryptionConfig
            cluster!.spec = spec
            cluster!.version = version
            cluster!.updatedAt = at
        case let .setAutoLock(expected, spec, unlockKey, at):
            try requireCluster()
            try check(expected, against: cluster!.version, kind: "swarm", id: cluster!.id)
            guard spec.autoLockManagers == (unlockKey != nil) else {
                throw ClusterError.invalid("autolock \(spec.autoLockManagers ? "on needs" : "off takes no") unlock key")
            }
            guard secrets != nil else { throw ClusterError.invalid("the cluster has no secrets to keep an unlock key in") }
            cluster!.spec = spec
            secrets!.managerUnlockKey = unlockKey
            cluster!.version = version
            cluster!.updatedAt = at
        case let .startCARotation(rotation, forceRotate, _):
            try requireCluster()
            guard secrets?.ca != nil else { throw ClusterError.invalid("the cluster has no certificate authority to rotate") }
            secrets!.ca!.rotation = rotation
            secrets!.ca!.forceRotate = forceRotate
        case let .finishCARotation(rootCertificatePEM, tokens, at):
            try requireCluster()
            guard let rotation = secrets?.ca?.rotation, rotation.newRootCertificatePEM == rootCertificatePEM else {
                throw ClusterError.conflict("no rotation to that root is in progress")
            }
            secrets!.ca!.rootCertificatePEM = rotation.newRootCertificatePEM
            secrets!.ca!.rootKeyPEM = rotation.newRootKeyPEM
            secrets!.ca!.rotation = nil
            cluster!.joinTokens = tokens
            cluster!.version = version
            cluster!.updatedAt = at
        case .createService, .updateService, .rollbackService, .setServiceUpdateStatus, .removeService, .createTasks, .updateTaskStatus,
             .updateTaskStatuses, .setTaskDesiredState, .assignTask, .removeTasks:
            try applyServiceCommand(command, version: version)
        case .createNetwork, .removeNetwork:
            try applyNetworkCommand(command, version: version)
        case .createPayload, .updatePayloadLabels, .removePayload, .reviseSecret:
            try applyPayloadCommand(command, version: version)
        }
    }

    /// Promotion records the node's Raft identity; demotion clears it (never the last manager).
    private func changeRole(of node: inout Node, to role: NodeRole) throws {
        guard role != node.spec.role else { return }
        if role == .manager {
            guard let transportID = transportID(ofNode: node.id) else {
                throw ClusterError.invalid("node \(node.id) has no transport identity")
            }
            node.managerStatus = ManagerStatus(raftID: transportID, addr: node.status.addr)
        } else {
            guard managers.contains(where: { $0.id != node.id }) else {
                throw ClusterError.invalid("attempting to demote the last manager of the swarm")
            }
            node.managerStatus = nil
        }
    }

    private func requireCluster() throws {
        guard cluster != nil else { throw ClusterError.notInitialized }
    }

    private func existingNode(_ id: String) throws -> Node {
        guard let node = nodes[id] else { throw ClusterError.notFound(kind: "node", id: id) }
        return node
    }

    private func check(_ expected: ObjectVersion, against actual: ObjectVersion, kind: String, id: String) throws {
        guard expected == actual else {
            throw ClusterError.staleVersion(kind: kind, id: id, expected: expected.index, actual: actual.index)
        }
    }

    private mutating func touch(_ node: inout Node, _ version: ObjectVersion, _ at: Timestamp) {
        node.version = version
        node.updatedAt = at
        nodes[node.id] = node
    }

    /// Finds a node by full id, unique id prefix, or hostname (as `docker node inspect` does).
    public func findNode(_ reference: String) -> Result<Node, ClusterError> {
        if let node = nodes[reference] { return .success(node) }
        let byName = sortedNodes.filter { $0.description.hostname == reference || $0.spec.name == reference }
        if byName.count == 1 { return .success(byName[0]) }
        let byPrefix = sortedNodes.filter { $0.id.hasPrefix(reference) }
        if byPrefix.count == 1 { return .success(byPrefix[0]) }
        if byPrefix.count > 1 || byName.count > 1 {
            return .failure(.conflict("node \(reference) is ambiguous (\(max(byPrefix.count, byName.count)) matches)"))
        }
        return .failure(.notFound(kind: "node", id: reference))
    }
}
