import ClusterState

/// Host-mode published ports as a scheduling constraint: a host-mode port binds on the node that
/// runs the task, so two tasks publishing the same one (same protocol and number) never go to
/// one node. Ports are keyed `tcp/8080`.
enum HostPorts {
    /// The host-mode ports a task of `service` binds.
    static func of(_ service: Service?) -> [String] {
        (service?.endpoint?.ports ?? []).compactMap { port in
            guard port.publishMode == "host", let published = port.publishedPort else { return nil }
            return "\(port.protocol ?? "tcp")/\(published)"
        }
    }

    /// The host-mode ports in use on each node of `index` (by position): those of tasks that are
    /// assigned there and have not stopped.
    static func inUse(_ index: RoundIndex) -> [Set<String>] {
        var used = Array(repeating: Set<String>(), count: index.nodes.count)
        var portsByService: [String: [String]] = [:]
        for service in index.state.services.values {
            let ports = of(service)
            if !ports.isEmpty { portsByService[service.id] = ports }
        }
        guard !portsByService.isEmpty else { return used }
        for task in index.state.tasks.values {
            guard let ports = portsByService[task.serviceID], let nodeID = task.nodeID, let position = index.nodePosition[nodeID],
                  task.status.state >= .assigned, !task.status.state.isTerminal else { continue }
            used[position].formUnion(ports)
        }
        return used
    }
}
