import ClusterState

/// `GET /services` filters as dockerd 20.10 passes them to swarmkit: `id` and `name` are
/// prefixes, `label` is `key` or `key=value` and every label given must hold, `mode` is
/// `replicated` or `global` (exact), `runtime` is `container` for every service here.
struct ServiceFilter {
    static let names: Set<String> = ["id", "label", "mode", "name", "runtime"]
    let filters: DockerFilters

    static func parse(_ text: String?) -> Result<ServiceFilter, APIError> {
        DockerFilters.parse(text, allowed: names).map { ServiceFilter(filters: $0) }
    }

    func matches(_ service: Service) -> Bool {
        filters.any("id") { service.id.hasPrefix($0) }
            && filters.any("name") { service.spec.name.hasPrefix($0) }
            && Self.labels(filters["label"], match: service.spec.labels)
            && filters.any("mode") { $0 == (service.spec.mode.isGlobal ? "global" : "replicated") }
            && filters.any("runtime") { $0 == (service.spec.taskTemplate.runtime ?? ServicePresentation.defaultRuntime) }
    }

    /// swarmkit's `filterMatchLabels`: each `key` must exist, each `key=value` must have that value.
    static func labels(_ wanted: [String], match labels: [String: String]) -> Bool {
        wanted.allSatisfy { NodeFilter.label($0, in: labels) }
    }
}

/// `GET /tasks` filters as dockerd 20.10 handles them: `service` (id, name or id prefix) and
/// `node` (id, hostname or id prefix) are resolved to ids first, and an unknown one is a 404;
/// `id` and `name` (`service.slot.id`, or `service.nodeID.id` for global tasks) are prefixes;
/// `label` matches the service's labels; `desired-state` is any task state; `_up-to-date` (the
/// docker CLI's progress display) keeps tasks whose spec equals the service's task template.
struct TaskFilter {
    static let names: Set<String> = ["name", "id", "label", "service", "node", "desired-state", "_up-to-date", "runtime"]
    let filters: DockerFilters
    let serviceIDs: Set<String>?
    let nodeIDs: Set<String>?
    let desiredStates: Set<TaskState>?
    let upToDate: Bool

    /// Parses `text` and resolves its references against `state`.
    static func parse(_ text: String?, in state: ClusterState) -> Result<TaskFilter, APIError> {
        let filters: DockerFilters
        switch DockerFilters.parse(text, allowed: names) {
        case let .failure(error): return .failure(error)
        case let .success(parsed): filters = parsed
        }
        var desiredStates: Set<TaskState>?
        if !filters["desired-state"].isEmpty {
            var states = Set<TaskState>()
            for value in filters["desired-state"] where !value.isEmpty {
                guard let state = TaskState(rawValue: value.lowercased()) else {
                    return .failure(.badRequest("Invalid desired-state filter: '\(value)'"))
                }
                states.insert(state)
            }
            desiredStates = states.isEmpty ? nil : states
        }
        var serviceIDs: Set<String>?
        if !filters["service"].isEmpty {
            var ids = Set<String>()
            for reference in filters["service"] {
                switch DockerAPI.resolveService(reference, in: state) {
                case let .failure(error): return .failure(error)
                case let .success(service): ids.insert(service.id)
                }
            }
            serviceIDs = ids
        }
        var nodeIDs: Set<String>?
        if !filters["node"].isEmpty {
            var ids = Set<String>()
            for reference in filters["node"] {
                switch state.findNode(reference) {
                case let .failure(error): return .failure(APIError(error))
                case let .success(node): ids.insert(node.id)
                }
            }
            nodeIDs = ids
        }
        return .success(TaskFilter(filters: filters, serviceIDs: serviceIDs, nodeIDs: nodeIDs, desiredStates: desiredStates,
                                   upToDate: !filters["_up-to-date"].isEmpty))
    }

    func matches(_ task: SwarmTask, in state: ClusterState) -> Bool {
        let service = state.services[task.serviceID]
        if let serviceIDs, !serviceIDs.contains(task.serviceID) { return false }
        if let nodeIDs, !nodeIDs.contains(task.nodeID ?? "") { return false }
        if let desiredStates, !desiredStates.contains(task.desiredState) { return false }
        if upToDate, service.map({ Self.isUpToDate(task, with: $0) }) != true { return false }
        return filters.any("id") { task.id.hasPrefix($0) }
            && filters.any("name") { Self.name(of: task, service: service).hasPrefix($0) }
            && ServiceFilter.labels(filters["label"], match: service?.spec.labels ?? [:])
            && filters.any("runtime") { $0 == (task.spec.runtime ?? ServicePresentation.defaultRuntime) }
    }

    /// swarmkit's `naming.Task`: `service.slot.id`, with the node id in place of the slot for
    /// global tasks.
    static func name(of task: SwarmTask, service: Service?) -> String {
        let slot = task.slot.flatMap { $0 == 0 ? nil : String($0) } ?? task.nodeID ?? ""
        return "\(service?.spec.name ?? "").\(slot).\(task.id)"
    }

    /// Not "dirty" in swarmkit's sense: the task runs the service's current task template.
    static func isUpToDate(_ task: SwarmTask, with service: Service) -> Bool {
        task.spec == service.spec.taskTemplate
    }
}
