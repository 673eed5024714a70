import ClusterState

/// Which tasks to move so a replicated service spreads evenly again, e.g. after nodes joined
/// (the scheduler never moves running tasks on its own: moby/moby#24103). Pure and
/// deterministic: the caller stops the returned tasks (desired `shutdown`) a few at a time,
/// following the service's update parallelism, and waits for each replacement to run; the
/// orchestrator refills each slot at once and the scheduler's spread puts it on the emptiest node.
public enum Rebalancer {
    /// Task ids to stop, in order: each moves one task from the most loaded eligible node to the
    /// least loaded, until the service's live tasks differ by at most one between eligible nodes.
    /// Nodes that are not ready, not active, not matching the constraints or without the task
    /// networking the service's tasks need are not counted
    /// (tasks there are the constraint enforcer's business). Empty for global services.
    public static func plan(_ state: ClusterState, serviceID: String) -> [String] {
        guard let service = state.services[serviceID], case .replicated = service.spec.mode,
              let constraints = try? PlacementConstraint.parseAll(service.spec.taskTemplate.placement?.constraints) else { return [] }
        let networked = state.needsTaskNetworking(serviceID: serviceID, template: service.spec.taskTemplate)
        let eligible = state.sortedNodes.filter {
            $0.status.state == .ready && $0.spec.availability == .active && constraints.firstUnmet(by: $0) == nil
                && (!networked || $0.runsTaskNetworking)
        }.map(\.id)
        guard eligible.count > 1 else { return [] }
        var tasksOn: [String: [SwarmTask]] = Dictionary(uniqueKeysWithValues: eligible.map { ($0, []) })
        for task in state.tasks(ofService: serviceID)
        where task.desiredState <= .running && !task.status.state.isTerminal && task.nodeID != nil {
            tasksOn[task.nodeID!]?.append(task)
        }
        // Highest slot last, so it is moved first (as scale-down would remove it).
        for node in eligible { tasksOn[node]!.sort { ($0.slot ?? 0, $0.id) < ($1.slot ?? 0, $1.id) } }
        var moves: [String] = []
        while true {
            let fullest = eligible.max { (tasksOn[$0]!.count, $1) < (tasksOn[$1]!.count, $0) }!
            let emptiest = eligible.min { (tasksOn[$0]!.count, $0) < (tasksOn[$1]!.count, $1) }!
            guard tasksOn[fullest]!.count - tasksOn[emptiest]!.count > 1 else { break }
            let moved = tasksOn[fullest]!.removeLast()
            moves.append(moved.id)
            tasksOn[emptiest]!.append(moved)
            precondition(moves.count <= state.tasks.count, "rebalancing must terminate")
        }
        return moves
    }
}
