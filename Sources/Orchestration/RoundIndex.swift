import ClusterState

/// Read indexes over one `ClusterState`, built in a single pass at the start of a round.
/// `ClusterState.tasks(ofService:)` filters every task on each call; the control loops need the
/// tasks of every service, so they share these groupings instead (O(tasks) per round).
struct RoundIndex {
    let state: ClusterState
    let now: Timestamp
    /// Nodes by id order; positions index the scheduler's per-node arrays.
    let nodes: [Node]
    let nodePosition: [String: Int]
    /// Each service's tasks (including tasks whose service is gone), in creation order.
    let tasksByService: [String: [SwarmTask]]
    /// Task history kept per slot or node (negative: keep everything).
    let historyLimit: Int

    init(_ state: ClusterState, now: Timestamp) {
        self.state = state
        self.now = now
        nodes = state.sortedNodes
        var positions: [String: Int] = [:]
        positions.reserveCapacity(nodes.count)
        for (position, node) in nodes.enumerated() { positions[node.id] = position }
        nodePosition = positions
        var byService: [String: [SwarmTask]] = [:]
        for task in state.tasks.values { byService[task.serviceID, default: []].append(task) }
        for key in byService.keys { byService[key]!.sort(by: SwarmTask.creationOrder) }
        tasksByService = byService
        historyLimit = Int(state.cluster?.spec.orchestration.taskHistoryRetentionLimit ?? 5)
    }

    func node(_ id: String?) -> Node? {
        guard let id, let position = nodePosition[id] else { return nil }
        return nodes[position]
    }

    /// Service ids in order, services first and then ids of removed services that still have tasks.
    var serviceIDs: [String] { state.services.keys.sorted() }
    var orphanedServiceIDs: [String] { tasksByService.keys.filter { state.services[$0] == nil }.sorted() }
}

/// Where a task lives inside its service: its replica slot, or its node for global services.
struct SlotKey: Hashable, Comparable, Sendable {
    var slot: UInt64
    var nodeID: String

    init(_ task: SwarmTask) {
        slot = task.slot ?? 0
        nodeID = task.slot == nil ? (task.nodeID ?? "") : ""
    }

    init(slot: UInt64) {
        self.slot = slot
        nodeID = ""
    }

    init(nodeID: String) {
        slot = 0
        self.nodeID = nodeID
    }

    static func < (a: SlotKey, b: SlotKey) -> Bool { a.slot != b.slot ? a.slot < b.slot : a.nodeID < b.nodeID }
}

extension [SwarmTask] {
    /// Groups tasks (already in creation order) by slot; each group keeps that order.
    func groupedBySlot() -> [SlotKey: [SwarmTask]] {
        var groups: [SlotKey: [SwarmTask]] = [:]
        for task in self { groups[SlotKey(task), default: []].append(task) }
        return groups
    }
}
