/// One object a committed command changed, as the watch-driven control loops need it.
public enum ChangedObject: Sendable, Equatable {
    case cluster
    case node(String)
    case service(String)
    /// A task, with its service and the node it was on *before* the command (a removed task
    /// is gone from the state afterwards, and a task leaving a node frees capacity there).
    case task(id: String, serviceID: String, nodeID: String?)
}

/// A change at a Raft index.
public struct ClusterChange: Sendable, Equatable {
    public var index: UInt64
    public var object: ChangedObject
}

/// The apply path's record of what recent commands changed, so the leader's control loops
/// reconcile only the services whose objects or tasks changed instead of visiting every service
/// each round (which made a write's cost grow with the number of services).
///
/// It lives inside `ClusterState` because every path that applies commands (the node, the
/// simulator, tests) then emits the same changes with no extra wiring, and a reader holding any
/// copy of the state can ask what changed since an index it saw. It is bounded: when it grows
/// past `capacity` the oldest half is dropped, and a reader whose index is no longer covered is
/// told so (`nil`) and falls back to a full pass. It is derived, not replicated: not encoded in
/// snapshots and not part of the state's equality (a state decoded from a snapshot and one built
/// by applying the same log are equal).
public struct ChangeJournal: Sendable, Equatable {
    public static let capacity = 8192

    private(set) var records: [ClusterChange] = []
    /// Every change of the indexes after this one is in `records` (nil: nothing applied yet
    /// through this journal, so it covers from the next applied index on).
    private(set) var coveredAfter: UInt64?

    public init() {}

    /// Journals are derived data: any two compare equal so the state's equality ignores them.
    public static func == (_: ChangeJournal, _: ChangeJournal) -> Bool { true }

    /// Changes of the indexes after `index`, oldest first; nil if the journal no longer (or not
    /// yet) covers them all.
    public func changes(after index: UInt64) -> ArraySlice<ClusterChange>? {
        guard let coveredAfter, index >= coveredAfter else { return nil }
        // Records are in index order: find the first one past `index` from the end (a reader is
        // usually only a few entries behind).
        var start = records.endIndex
        while start > records.startIndex && records[start - 1].index > index { start -= 1 }
        return records[start...]
    }

    mutating func noteApplied(index: UInt64) {
        if coveredAfter == nil { coveredAfter = index - 1 }
    }

    mutating func record(_ objects: [ChangedObject], index: UInt64) {
        for object in objects { records.append(ClusterChange(index: index, object: object)) }
        guard records.count > Self.capacity else { return }
        // Drop the older half, whole indexes at a time.
        var cut = records.count / 2
        while cut < records.count && records[cut].index == records[cut - 1].index { cut += 1 }
        coveredAfter = records[cut - 1].index
        records.removeFirst(cut)
    }
}

extension ClusterState {
    /// The objects `command` may change (the same list `applyReportingEvents` uses), with each
    /// existing task's service and node read before it is applied. Recorded only if it succeeds.
    func changedObjects(_ command: ClusterCommand) -> (objects: [ChangedObject], created: [String]) {
        let touched = touchedObjects(command)
        var objects: [ChangedObject] = touched.nodes.map { .node($0) } + touched.services.map { .service($0) }
        var created: [String] = []
        for id in touched.tasks {
            if let task = tasks[id] {
                objects.append(.task(id: id, serviceID: task.serviceID, nodeID: task.nodeID))
            } else {
                created.append(id)
            }
        }
        return (objects, created)
    }

    /// Records a successful command's changes; tasks it created are read from the new state.
    mutating func recordChanges(_ changed: (objects: [ChangedObject], created: [String]), clusterBefore: ObjectVersion?, index: UInt64) {
        var objects = changed.objects
        for id in changed.created {
            if let task = tasks[id] { objects.append(.task(id: id, serviceID: task.serviceID, nodeID: task.nodeID)) }
        }
        if cluster?.version != clusterBefore { objects.append(.cluster) }
        changes.record(objects, index: index)
    }

    /// Task ids of service `serviceID` (also of a removed service whose tasks remain), unordered.
    public func taskIDs(ofService serviceID: String) -> Set<String> { taskIDsByService[serviceID] ?? [] }

    /// Task ids assigned to node `nodeID`, unordered.
    public func taskIDs(onNode nodeID: String) -> Set<String> { taskIDsByNode[nodeID] ?? [] }

    /// Ids of every service that has tasks (including removed services), unordered.
    public var serviceIDsWithTasks: Dictionary<String, Set<String>>.Keys { taskIDsByService.keys }
}
