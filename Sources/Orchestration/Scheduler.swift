import ClusterState

/// Assigns pending tasks to nodes. Filters: node ready, availability active, placement
/// constraints, task networking for tasks with network attachments, `maxReplicas` per node, reserved CPU and memory against what the node's
/// non-terminal tasks already reserve. Strategy: spread — placement preferences first (fewest
/// tasks of the service per label value), then nodes with fewest tasks of the service, then
/// fewest tasks overall, nodes where this service failed often lately last.
///
/// Built for many placements per round: one pass over the tasks builds per-node summaries,
/// identical tasks (same service and template) are placed as a group from a heap of nodes, and
/// the summaries are updated as tasks are placed. A task that fits nowhere stays pending with a
/// reason users can act on (which filter excluded how many nodes), written only when it changes.
struct Scheduler {
    private let index: RoundIndex
    private var cpu: [Int64]
    private var memory: [Int64]
    private var total: [Int]
    private var serviceCounts: [String: [Int]] = [:]
    private var recentFailures: [String: [Int]] = [:]
    /// Host-mode ports (`tcp/8080`) bound by the tasks on each node (see `HostPorts`).
    private var hostPorts: [Set<String>]

    /// A node with this many failures of a service in the window goes last for that service.
    static let failureThreshold = 5
    static let failureWindowMillis: UInt64 = 5 * 60_000

    /// What placement needs of a pending task (a whole task is large to copy around).
    private struct Candidate {
        var id: String
        var nodeID: String?
        var message: String

        init(_ task: SwarmTask) {
            id = task.id
            nodeID = task.nodeID
            message = task.status.message
        }
    }

    /// Tasks of one service with one template: they are interchangeable for placement.
    private struct Group {
        var serviceID: String
        var spec: TaskTemplate
        var tasks: [Candidate] = []
    }

    /// Schedules every pending task of `index` and of `plan.created`, adding to `plan`.
    static func schedule(_ index: RoundIndex, _ plan: inout RoundPlan) {
        let groups = collectGroups(index, plan)
        guard !groups.isEmpty else { return }
        var scheduler = Scheduler(index: index, plan: plan, services: Set(groups.map(\.serviceID)))
        for group in groups { scheduler.place(group, plan: &plan) }
    }

    private static func collectGroups(_ index: RoundIndex, _ plan: RoundPlan) -> [Group] {
        var byService: [String: [Group]] = [:]
        func add(_ task: SwarmTask) {
            guard task.status.state <= .pending, plan.desired(task) <= .running else { return }
            // Mutated in place: copying a group out and back would copy its tasks every time.
            if let position = byService[task.serviceID]?.firstIndex(where: { $0.spec == task.spec }) {
                byService[task.serviceID]![position].tasks.append(Candidate(task))
            } else {
                byService[task.serviceID, default: []].append(Group(serviceID: task.serviceID, spec: task.spec,
                                                                    tasks: [Candidate(task)]))
            }
        }
        for serviceID in index.serviceIDs {
            index.forEachTask(ofService: serviceID) { task in
                if task.status.state <= .pending { add(task) }
            }
        }
        for task in plan.created { add(task) }
        return byService.keys.sorted().flatMap { byService[$0]! }
    }

    private init(index: RoundIndex, plan: RoundPlan, services: Set<String>) {
        self.index = index
        cpu = index.nodes.map(\.description.resources.nanoCPUs)
        memory = index.nodes.map(\.description.resources.memoryBytes)
        total = Array(repeating: 0, count: index.nodes.count)
        hostPorts = HostPorts.inUse(index)
        for service in services {
            serviceCounts[service] = Array(repeating: 0, count: index.nodes.count)
            recentFailures[service] = Array(repeating: 0, count: index.nodes.count)
        }
        let failureCutoff = index.now.millisecondsSinceEpoch > Self.failureWindowMillis
            ? index.now.millisecondsSinceEpoch - Self.failureWindowMillis : 0
        for task in index.state.tasks.values {
            guard let nodeID = task.nodeID, let position = index.nodePosition[nodeID] else { continue }
            let state = task.status.state
            if state >= .assigned && !state.isTerminal {
                cpu[position] -= task.reservedCPU
                memory[position] -= task.reservedMemory
                if plan.desired(task) <= .running {
                    total[position] += 1
                    serviceCounts[task.serviceID]?[position] += 1
                }
            } else if (state == .failed || state == .rejected) && task.status.timestamp.millisecondsSinceEpoch >= failureCutoff {
                recentFailures[task.serviceID]?[position] += 1
            }
        }
    }

    /// What one task needs from a node.
    private struct Demand {
        var cpu: Int64
        var memory: Int64
        var maxReplicas: Int
        var constraints: [PlacementConstraint]
        /// Host-mode ports the task binds on its node.
        var hostPorts: [String] = []
        /// The task has network attachments: only a node that runs task networking takes it.
        var networked = false
    }

    private mutating func place(_ group: Group, plan: inout RoundPlan) {
        let constraints: [PlacementConstraint]
        do {
            constraints = try PlacementConstraint.parseAll(group.spec.placement?.constraints)
        } catch {
            plan.noteUnplaced(group.serviceID)
            for task in group.tasks { reportPending(task, "no suitable node (\(error.description))", plan: &plan) }
            return
        }
        let demand = Demand(cpu: group.spec.resources?.reservations?.nanoCPUs ?? 0,
                            memory: group.spec.resources?.reservations?.memoryBytes ?? 0,
                            maxReplicas: Int(group.spec.placement?.maxReplicas ?? 0), constraints: constraints,
                            hostPorts: HostPorts.of(index.state.services[group.serviceID]),
                            networked: index.state.needsTaskNetworking(serviceID: group.serviceID, template: group.spec))
        var counts = serviceCounts.removeValue(forKey: group.serviceID)!
        defer { serviceCounts[group.serviceID] = counts }
        var free: [Candidate] = []
        for task in group.tasks {
            guard let nodeID = task.nodeID else {
                free.append(task)
                continue
            }
            placePreassigned(task, nodeID: nodeID, serviceID: group.serviceID, demand: demand, counts: &counts, plan: &plan)
        }
        guard !free.isEmpty else { return }
        let failures = recentFailures[group.serviceID]!
        let root = buildTree(demand: demand, preferences: group.spec.placement?.preferences ?? [], counts: counts,
                             failures: failures)
        var placed = 0
        while placed < free.count, let (position, path) = pick(root, demand: demand, counts: counts).map({ ($0.0, $0.1) }) {
            commit(free[placed], position: position, demand: demand, counts: &counts, plan: &plan)
            for branch in path { branch.count += 1 }
            path.last!.heap!.push(NodeHeap.key(position: position, serviceCount: counts[position], totalCount: total[position],
                                               failing: failures[position] >= Self.failureThreshold))
            placed += 1
        }
        guard placed < free.count else { return }
        plan.noteUnplaced(group.serviceID)
        let reason = explain(positions: Array(index.nodes.indices), demand: demand, counts: counts)
        for task in free[placed...] { reportPending(task, reason, plan: &plan) }
    }

    /// A global service's task names its node: it goes there or stays pending.
    private mutating func placePreassigned(_ task: Candidate, nodeID: String, serviceID: String, demand: Demand, counts: inout [Int],
                                           plan: inout RoundPlan) {
        guard let position = index.nodePosition[nodeID] else {
            plan.noteUnplaced(serviceID)
            reportPending(task, "no suitable node (node \(nodeID) is gone)", plan: &plan)
            return
        }
        if isEligible(position, demand) && fits(position, demand, counts) {
            commit(task, position: position, demand: demand, counts: &counts, plan: &plan)
        } else {
            plan.noteUnplaced(serviceID)
            reportPending(task, explain(positions: [position], demand: demand, counts: counts), plan: &plan)
        }
    }

    private mutating func commit(_ task: Candidate, position: Int, demand: Demand, counts: inout [Int], plan: inout RoundPlan) {
        plan.assign(task.id, to: index.nodes[position].id)
        cpu[position] -= demand.cpu
        memory[position] -= demand.memory
        total[position] += 1
        counts[position] += 1
        hostPorts[position].formUnion(demand.hostPorts)
    }

    private func isEligible(_ position: Int, _ demand: Demand) -> Bool {
        let node = index.nodes[position]
        return node.status.state == .ready && node.spec.availability == .active && demand.constraints.firstUnmet(by: node) == nil
            && (!demand.networked || node.runsTaskNetworking)
    }

    private func fits(_ position: Int, _ demand: Demand, _ counts: [Int]) -> Bool {
        cpu[position] >= demand.cpu && memory[position] >= demand.memory
            && (demand.maxReplicas == 0 || counts[position] < demand.maxReplicas)
            && hostPorts[position].isDisjoint(with: demand.hostPorts)
    }

    private func buildTree(demand: Demand, preferences: [PlacementPreference], counts: [Int], failures: [Int]) -> SpreadBranch {
        let labels: [String?] = preferences.map { preference in
            guard let descriptor = preference.spread?.spreadDescriptor, descriptor.lowercased().hasPrefix("node.labels.") else { return nil }
            return String(descriptor.dropFirst("node.labels.".count))
        }
        let root = SpreadBranch()
        var leafKeys: [ObjectIdentifier: (SpreadBranch, [UInt64])] = [:]
        for position in index.nodes.indices where isEligible(position, demand) {
            var branch = root
            branch.count += counts[position]
            for label in labels {
                branch = branch.child(label.flatMap { index.nodes[position].spec.labels[$0] } ?? "")
                branch.count += counts[position]
            }
            let key = NodeHeap.key(position: position, serviceCount: counts[position], totalCount: total[position],
                                   failing: failures[position] >= Self.failureThreshold)
            leafKeys[ObjectIdentifier(branch), default: (branch, [])].1.append(key)
        }
        if leafKeys.isEmpty && labels.isEmpty { root.heap = NodeHeap([]) }
        for (branch, keys) in leafKeys.values { branch.heap = NodeHeap(keys) }
        return root
    }

    /// The best node that still fits, and the branches above it; nodes that no longer fit are
    /// dropped for the rest of the group (free capacity only shrinks while a group is placed).
    private func pick(_ root: SpreadBranch, demand: Demand, counts: [Int]) -> (Int, [SpreadBranch])? {
        while !root.exhausted {
            var path = [root]
            var branch = root
            while branch.heap == nil {
                guard let next = branch.bestChild() else { break }
                branch = next
                path.append(next)
            }
            guard branch.heap != nil else {
                branch.exhausted = true
                continue
            }
            while let key = branch.heap!.peek {
                branch.heap!.pop()
                let position = NodeHeap.position(of: key)
                if fits(position, demand, counts) { return (position, path) }
            }
            branch.exhausted = true
        }
        return nil
    }

    private func reportPending(_ task: Candidate, _ message: String, plan: inout RoundPlan) {
        guard task.message != message else { return }
        plan.report(task.id, TaskStatus(timestamp: index.now, state: .pending, message: message, err: message))
    }

    /// "no suitable node (insufficient memory on 3 nodes; 1 node drained; …)": for each node, the
    /// first filter that excludes it, counted per filter.
    private func explain(positions: [Int], demand: Demand, counts: [Int]) -> String {
        var memoryShort = 0, cpuShort = 0, replicasFull = 0, drained = 0, paused = 0, down = 0, notReady = 0, portTaken = 0
        var noNetworking = 0
        var unmet: [Int] = Array(repeating: 0, count: demand.constraints.count)
        for position in positions {
            let node = index.nodes[position]
            if node.status.state == .down { down += 1 }
            else if node.status.state != .ready { notReady += 1 }
            else if node.spec.availability == .drain { drained += 1 }
            else if node.spec.availability == .pause { paused += 1 }
            else if let failed = demand.constraints.firstIndex(where: { !$0.matches(node) }) { unmet[failed] += 1 }
            else if demand.networked && !node.runsTaskNetworking { noNetworking += 1 }
            else if demand.maxReplicas > 0 && counts[position] >= demand.maxReplicas { replicasFull += 1 }
            else if !hostPorts[position].isDisjoint(with: demand.hostPorts) { portTaken += 1 }
            else if memory[position] < demand.memory { memoryShort += 1 }
            else if cpu[position] < demand.cpu { cpuShort += 1 }
        }
        func nodes(_ count: Int) -> String { count == 1 ? "1 node" : "\(count) nodes" }
        var parts: [String] = []
        if memoryShort > 0 { parts.append("insufficient memory on \(nodes(memoryShort))") }
        if cpuShort > 0 { parts.append("insufficient cpu on \(nodes(cpuShort))") }
        if replicasFull > 0 { parts.append("max replicas per node reached on \(nodes(replicasFull))") }
        if portTaken > 0 { parts.append("host-mode port \(demand.hostPorts.joined(separator: ", ")) in use on \(nodes(portTaken))") }
        if drained > 0 { parts.append("\(nodes(drained)) drained") }
        if paused > 0 { parts.append("\(nodes(paused)) paused") }
        if down > 0 { parts.append("\(nodes(down)) down") }
        if notReady > 0 { parts.append("\(nodes(notReady)) not ready") }
        for (position, count) in unmet.enumerated() where count > 0 {
            parts.append("\(nodes(count)) not matching constraint \(demand.constraints[position].description)")
        }
        if noNetworking > 0 {
            parts.append("task networking (--network, --publish) unavailable on \(nodes(noNetworking)): "
                + "run them as root with --executor oci, their log says what is missing")
        }
        if parts.isEmpty { parts.append(positions.isEmpty ? "no nodes in the cluster" : "no node with capacity left") }
        return "no suitable node (\(parts.joined(separator: "; ")))"
    }
}
