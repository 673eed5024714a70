import ClusterState

/// The commands one round proposes, plus the intent they carry, so later loops in the same round
/// see earlier decisions (a task the node-loss pass stopped frees its slot for the replicated
/// orchestrator; a task created here is scheduled here). Nothing is proposed twice in a round.
struct RoundPlan {
    let now: Timestamp
    /// Desired states changed this round, by task id.
    private(set) var desiredOverrides: [String: TaskState] = [:]
    /// Kept compact until `commands()`: a `ClusterCommand` is over a kilobyte inline, and a large
    /// round makes a hundred thousand of them.
    private(set) var desiredChanges: [(taskID: String, state: TaskState)] = []
    /// Tasks created this round, grouped per service (one createTasks per chunk of a service).
    private(set) var created: [SwarmTask] = []
    private(set) var assignments: [(taskID: String, nodeID: String)] = []
    private(set) var statusUpdates: [TaskStatusUpdate] = []
    private(set) var serviceCommands: [ClusterCommand] = []
    private(set) var removals: [String] = []
    private var statusTouched: Set<String> = []
    /// Services to look at again at a time (restart delay, update pacing), earliest per service.
    private(set) var revisits: [String: Timestamp] = [:]
    /// Services with tasks the scheduler could not place this round.
    private(set) var unplacedServices: Set<String> = []

    /// At most this many tasks per createTasks command, so no Raft entry grows without bound.
    static let createChunk = 100
    /// At most this many ids per removeTasks command.
    static let removeChunk = 1000
    /// At most this many status reports per updateTaskStatuses command (a report is a few
    /// hundred bytes: 100,000 unschedulable tasks made one 26.5 MB entry that no frame could carry).
    static let statusChunk = 1000

    init(now: Timestamp) { self.now = now }

    func desired(_ task: SwarmTask) -> TaskState {
        desiredOverrides.isEmpty ? task.desiredState : desiredOverrides[task.id] ?? task.desiredState
    }

    /// The task holds its slot: wanted running and not stopped.
    func isOccupying(_ task: SwarmTask) -> Bool { desired(task) <= .running && !task.status.state.isTerminal }

    /// Moves the task's desired state forward to `state` (never backward, never twice).
    mutating func setDesired(_ task: SwarmTask, _ state: TaskState) {
        guard desired(task) < state else { return }
        desiredOverrides[task.id] = state
        desiredChanges.append((task.id, state))
    }

    mutating func create(_ task: SwarmTask) {
        precondition(task.status.state == .pending && task.desiredState == .running, "new tasks start pending")
        created.append(task)
    }

    mutating func assign(_ taskID: String, to nodeID: String) {
        assignments.append((taskID, nodeID))
    }

    mutating func report(_ taskID: String, _ status: TaskStatus) {
        precondition(statusTouched.insert(taskID).inserted, "status of task \(taskID) set twice in one round")
        statusUpdates.append(TaskStatusUpdate(taskID: taskID, status: status))
    }

    mutating func service(_ command: ClusterCommand) { serviceCommands.append(command) }

    mutating func remove(_ taskID: String) { removals.append(taskID) }

    /// Asks for service `serviceID` to be reconciled again once the clock reaches `time`.
    mutating func revisit(_ serviceID: String, at time: Timestamp) {
        if let known = revisits[serviceID], known <= time { return }
        revisits[serviceID] = time
    }

    mutating func noteUnplaced(_ serviceID: String) { unplacedServices.insert(serviceID) }

    /// The services this round's commands are about (tasks are looked up in `state`, the state
    /// the round read, or among the tasks it created).
    func servicesTouched(in state: ClusterState) -> Set<String> {
        var services = Set(created.map(\.serviceID))
        var createdService: [String: String] = [:]
        if !assignments.isEmpty { for task in created { createdService[task.id] = task.serviceID } }
        func note(_ taskID: String) {
            if let serviceID = state.tasks[taskID]?.serviceID ?? createdService[taskID] { services.insert(serviceID) }
        }
        for change in desiredChanges { note(change.taskID) }
        for assignment in assignments { note(assignment.taskID) }
        for update in statusUpdates { note(update.taskID) }
        for taskID in removals { note(taskID) }
        for command in serviceCommands {
            switch command {
            case let .setServiceUpdateStatus(id, _, _, _), let .rollbackService(id, _, _), let .updateService(id, _, _, _): services.insert(id)
            default: break
            }
        }
        return services
    }

    /// Everything in a safe order: intent first, then creations, assignments, reports, service
    /// progress and deletions (a deletion never precedes a command about the same task).
    func commands() -> [ClusterCommand] {
        var commands: [ClusterCommand] = []
        commands.reserveCapacity(desiredChanges.count + created.count / Self.createChunk + 1 + assignments.count + statusUpdates.count / Self.statusChunk + 1
                                 + serviceCommands.count + removals.count / Self.removeChunk + 1)
        for change in desiredChanges { commands.append(.setTaskDesiredState(id: change.taskID, state: change.state, at: now)) }
        var start = 0
        while start < created.count {
            var end = min(start + Self.createChunk, created.count)
            // Keep chunks within one service so a removed service refuses only its own tasks.
            let service = created[start].serviceID
            if let boundary = created[start..<end].firstIndex(where: { $0.serviceID != service }) { end = boundary }
            commands.append(.createTasks(tasks: Array(created[start..<end])))
            start = end
        }
        for assignment in assignments { commands.append(.assignTask(id: assignment.taskID, nodeID: assignment.nodeID, at: now)) }
        start = 0
        while start < statusUpdates.count {
            let end = min(start + Self.statusChunk, statusUpdates.count)
            commands.append(.updateTaskStatuses(updates: Array(statusUpdates[start..<end])))
            start = end
        }
        commands += serviceCommands
        start = 0
        while start < removals.count {
            let end = min(start + Self.removeChunk, removals.count)
            commands.append(.removeTasks(ids: Array(removals[start..<end])))
            start = end
        }
        return commands
    }
}
