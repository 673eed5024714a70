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
    /// Each service's tasks (including services that are gone but still have tasks), grouped
    /// by slot (or node for global services), each group in creation order.
    let slotsByService: [String: [SlotKey: [SwarmTask]]]
    /// Each service's slot keys in order, so every walk over the tasks is deterministic.
    let slotOrder: [String: [SlotKey]]
    /// Task history kept per slot or node (negative: keep everything).
    let historyLimit: Int
    /// The services this round looks at (nil: all), sorted; see `ChangeWatch`.
    let scope: [String]?

    /// An index over every service (`scope` nil) or only over the services in `scope` (their
    /// tasks are found through the state's per-service index, so the cost follows the scope).
    init(_ state: ClusterState, now: Timestamp, scope: Set<String>? = nil) {
        self.state = state
        self.now = now
        nodes = state.sortedNodes
        var positions: [String: Int] = [:]
        positions.reserveCapacity(nodes.count)
        for (position, node) in nodes.enumerated() { positions[node.id] = position }
        nodePosition = positions
        // Grouped in place (no per-service copy), then only the small groups are sorted.
        var slots: [String: [SlotKey: [SwarmTask]]] = [:]
        if let scope {
            for serviceID in scope {
                for taskID in state.taskIDs(ofService: serviceID) {
                    let task = state.tasks[taskID]!
                    slots[serviceID, default: [:]][SlotKey(task), default: []].append(task)
                }
            }
        } else {
            for task in state.tasks.values { slots[task.serviceID, default: [:]][SlotKey(task), default: []].append(task) }
        }
        var order: [String: [SlotKey]] = [:]
        for service in Array(slots.keys) {
            let keys = slots[service]!.keys.sorted()
            for key in keys where slots[service]![key]!.count > 1 {
                slots[service]![key]!.sort(by: SwarmTask.creationOrder)
            }
            order[service] = keys
        }
        slotsByService = slots
        slotOrder = order
        historyLimit = Int(state.cluster?.spec.orchestration.taskHistoryRetentionLimit ?? 5)
        let sortedScope = scope.map { $0.sorted() }
        self.scope = sortedScope
        serviceIDs = sortedScope.map { $0.filter { state.services.index(forKey: $0) != nil } } ?? state.sortedServiceIDs
    }

    /// Every service id with tasks, sorted (including removed services).
    var servicesWithTasks: [String] { slotOrder.keys.sorted() }

    /// Calls `body` with each task of `serviceID`, slot by slot, oldest first within a slot.
    func forEachTask(ofService serviceID: String, _ body: (SwarmTask) -> Void) {
        guard let keys = slotOrder[serviceID], let slots = slotsByService[serviceID] else { return }
        for key in keys {
            for task in slots[key]! { body(task) }
        }
    }

    func node(_ id: String?) -> Node? {
        guard let id, let position = nodePosition[id] else { return nil }
        return nodes[position]
    }

    /// Ids of the current services in the scope, in ascending order.
    let serviceIDs: [String]
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
