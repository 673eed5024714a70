extension ClusterState {
    // MARK: Reads (deterministic orders, so every reader sees the same lists)

    /// Services ordered by id.
    public var sortedServices: [Service] { sortedServiceIDs.map { services[$0]! } }

    /// Tasks ordered by id.
    public var sortedTasks: [SwarmTask] { tasks.keys.sorted().map { tasks[$0]! } }

    /// The tasks of service `serviceID`, ordered by slot (then node, then id).
    public func tasks(ofService serviceID: String) -> [SwarmTask] {
        (taskIDsByService[serviceID] ?? []).map { tasks[$0]! }.sorted(by: Self.taskOrder)
    }

    /// The tasks assigned to node `nodeID`, ordered by id.
    public func tasks(onNode nodeID: String) -> [SwarmTask] {
        (taskIDsByNode[nodeID] ?? []).sorted().map { tasks[$0]! }
    }

    /// The tasks whose desired state is `state`, ordered by id.
    public func tasks(desiredState state: TaskState) -> [SwarmTask] {
        tasks.values.filter { $0.desiredState == state }.sorted { $0.id < $1.id }
    }

    static func taskOrder(_ a: SwarmTask, _ b: SwarmTask) -> Bool {
        if a.slot != b.slot { return (a.slot ?? 0) < (b.slot ?? 0) }
        if a.nodeID != b.nodeID { return (a.nodeID ?? "") < (b.nodeID ?? "") }
        return a.id < b.id
    }

    public func service(named name: String) -> Service? {
        serviceIDsByName[name].flatMap { services[$0] }
    }

    /// Finds a service by full id, name, or unique id prefix (as `docker service inspect` does).
    public func findService(_ reference: String) -> Result<Service, ClusterError> {
        if let service = services[reference] { return .success(service) }
        if let service = service(named: reference) { return .success(service) }
        let byPrefix = sortedServices.filter { $0.id.hasPrefix(reference) }
        if byPrefix.count == 1 { return .success(byPrefix[0]) }
        if byPrefix.count > 1 { return .failure(.conflict("service \(reference) is ambiguous (\(byPrefix.count) matches)")) }
        return .failure(.notFound(kind: "service", id: reference))
    }

    /// Finds a task by full id or unique id prefix.
    public func findTask(_ reference: String) -> Result<SwarmTask, ClusterError> {
        if let task = tasks[reference] { return .success(task) }
        let byPrefix = sortedTasks.filter { $0.id.hasPrefix(reference) }
        if byPrefix.count == 1 { return .success(byPrefix[0]) }
        if byPrefix.count > 1 { return .failure(.conflict("task \(reference) is ambiguous (\(byPrefix.count) matches)")) }
        return .failure(.notFound(kind: "task", id: reference))
    }

    // MARK: Writes

    static let nameConflict = "name conflicts with an existing object"

    mutating func applyServiceCommand(_ command: ClusterCommand, version: ObjectVersion) throws {
        switch command {
        case let .createService(newService):
            try requireInitialized()
            guard !newService.id.isEmpty else { throw ClusterError.invalid("service id is empty") }
            try validate(newService.spec)
            guard services[newService.id] == nil else { throw ClusterError.conflict("service \(newService.id) already exists") }
            guard service(named: newService.spec.name) == nil else { throw ClusterError.conflict(Self.nameConflict) }
            var created = newService
            created.version = version
            created.updatedAt = created.createdAt
            created.endpoint = nil
            try allocateEndpoint(&created, version: version, at: created.createdAt)
            store(created)
        case let .updateService(id, expected, spec, at):
            var service = try existingService(id)
            try checkVersion(expected, against: service.version, kind: "service", id: id)
            try validate(spec)
            if let other = self.service(named: spec.name), other.id != id { throw ClusterError.conflict(Self.nameConflict) }
            guard spec.mode.isGlobal == service.spec.mode.isGlobal else {
                throw ClusterError.invalid("service mode change is not allowed")
            }
            let templateChanged = spec.taskTemplate != service.spec.taskTemplate
            service.previousSpec = service.spec
            service.spec = spec
            try allocateEndpoint(&service, version: version, at: at)
            if templateChanged {
                service.updateStatus = UpdateStatus(state: .updating, startedAt: at, message: "update in progress")
            }
            service.version = version
            service.updatedAt = at
            store(service)
        case let .rollbackService(id, expected, at):
            var service = try existingService(id)
            try checkVersion(expected, against: service.version, kind: "service", id: id)
            guard let previous = service.previousSpec else {
                throw ClusterError.invalid("service \(id) does not have a previous spec")
            }
            try checkPayloadReferences(previous.taskTemplate.containerSpec)
            if let other = self.service(named: previous.name), other.id != id { throw ClusterError.conflict(Self.nameConflict) }
            service.previousSpec = service.spec
            service.spec = previous
            try allocateEndpoint(&service, version: version, at: at)
            service.updateStatus = UpdateStatus(state: .rollbackStarted, startedAt: at, message: "manually requested rollback")
            service.version = version
            service.updatedAt = at
            store(service)
        case let .setServiceUpdateStatus(id, expected, status, at):
            var service = try existingService(id)
            try checkVersion(expected, against: service.version, kind: "service", id: id)
            let current = service.updateStatus?.state
            let allowed: Bool = switch status.state {
            case .updating, .paused, .completed: current == .updating || current == .paused
            case .rollbackStarted, .rollbackPaused, .rollbackCompleted: current == .rollbackStarted || current == .rollbackPaused
            }
            guard allowed else {
                throw ClusterError.invalid("service \(id) update status cannot move from \(current?.rawValue ?? "none") to \(status.state.rawValue)")
            }
            service.updateStatus = status
            service.version = version
            service.updatedAt = at
            store(service)
        case let .removeService(id, at):
            releaseEndpoint(try existingService(id))
            dropService(id)
            for task in tasks(ofService: id) where task.desiredState < .remove {
                var marked = task
                marked.desiredState = .remove
                marked.version = version
                marked.updatedAt = at
                tasks[marked.id] = marked
                releaseAddressesIfDone(marked)
            }
        case let .createTasks(newTasks):
            var seen = Set<String>()
            for task in newTasks {
                guard !task.id.isEmpty else { throw ClusterError.invalid("task id is empty") }
                guard tasks[task.id] == nil, seen.insert(task.id).inserted else {
                    throw ClusterError.conflict("task \(task.id) already exists")
                }
                guard services[task.serviceID] != nil else { throw ClusterError.notFound(kind: "service", id: task.serviceID) }
                if let nodeID = task.nodeID, nodes[nodeID] == nil { throw ClusterError.notFound(kind: "node", id: nodeID) }
            }
            for task in newTasks {
                var created = task
                created.version = version
                created.updatedAt = created.createdAt
                created.networksAttachments = nil
                attachNewTask(&created)
                tasks[created.id] = created
                indexTask(created)
            }
        case let .updateTaskStatus(id, status):
            var task = try existingTask(id)
            guard status.state >= task.status.state else {
                throw ClusterError.invalid("task \(id) cannot move from \(task.status.state.rawValue) back to \(status.state.rawValue)")
            }
            task.status = status
            task.version = version
            task.updatedAt = status.timestamp
            tasks[id] = task
            releaseAddressesIfDone(task)
        case let .updateTaskStatuses(updates):
            for update in updates {
                guard var task = tasks[update.taskID], update.status.state >= task.status.state else { continue }
                task.status = update.status
                task.version = version
                task.updatedAt = update.status.timestamp
                tasks[update.taskID] = task
                releaseAddressesIfDone(task)
            }
        case let .setTaskDesiredState(id, state, at):
            var task = try existingTask(id)
            guard state >= task.desiredState else {
                throw ClusterError.invalid("task \(id) desired state cannot move from \(task.desiredState.rawValue) back to \(state.rawValue)")
            }
            task.desiredState = state
            task.version = version
            task.updatedAt = at
            tasks[id] = task
            releaseAddressesIfDone(task)
        case let .assignTask(id, nodeID, at):
            var task = try existingTask(id)
            guard nodes[nodeID] != nil else { throw ClusterError.notFound(kind: "node", id: nodeID) }
            if let current = task.nodeID, current != nodeID {
                throw ClusterError.conflict("task \(id) is already assigned to node \(current)")
            }
            guard task.status.state <= .assigned else {
                throw ClusterError.invalid("task \(id) is already \(task.status.state.rawValue) and cannot be assigned")
            }
            task.nodeID = nodeID
            task.status = TaskStatus(timestamp: at, state: .assigned, message: "scheduler assigned task to node")
            task.version = version
            task.updatedAt = at
            tasks[id] = task
            indexTask(task)
            attachNode(nodeID, forTask: task)
        case let .removeTasks(ids):
            for id in ids where tasks[id] == nil { throw ClusterError.notFound(kind: "task", id: id) }
            for id in ids {
                if let task = tasks.removeValue(forKey: id) {
                    unindexTask(task)
                    releaseAddresses(task)
                }
            }
        case .initialize, .addNode, .updateNodeSpec, .setNodeStatus, .setManagerStatus, .removeNode, .rotateJoinToken,
             .updateClusterSpec, .startCARotation, .finishCARotation, .setAutoLock, .createPayload, .updatePayloadLabels, .removePayload,
             .reviseSecret, .createNetwork, .removeNetwork, .setNodeDescription:
            preconditionFailure("not a service or task command: \(command)")
        }
    }

    private func validate(_ spec: ServiceSpec) throws {
        guard !spec.name.isEmpty else { throw ClusterError.invalid("service name is empty") }
        guard !spec.taskTemplate.containerSpec.image.isEmpty else {
            throw ClusterError.invalid("ContainerSpec: image reference must be provided")
        }
        if case let .replicated(replicas) = spec.mode, replicas > ClusterLimits.maxReplicas {
            throw ClusterError.invalid("Mode.Replicated.Replicas: \(replicas) replicas is over the limit of \(ClusterLimits.maxReplicas) "
                + "per service: use several services, or fewer replicas")
        }
        try checkPayloadReferences(spec.taskTemplate.containerSpec)
    }

    private func requireInitialized() throws {
        guard cluster != nil else { throw ClusterError.notInitialized }
    }

    private func existingService(_ id: String) throws -> Service {
        guard let service = services[id] else { throw ClusterError.notFound(kind: "service", id: id) }
        return service
    }

    private func existingTask(_ id: String) throws -> SwarmTask {
        guard let task = tasks[id] else { throw ClusterError.notFound(kind: "task", id: id) }
        return task
    }

    private func checkVersion(_ expected: ObjectVersion, against actual: ObjectVersion, kind: String, id: String) throws {
        guard expected == actual else {
            throw ClusterError.staleVersion(kind: kind, id: id, expected: expected.index, actual: actual.index)
        }
    }
}
