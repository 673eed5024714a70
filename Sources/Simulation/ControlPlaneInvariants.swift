import ClusterState

/// A task the fake executors are really running (the ground truth, not what was reported).
public struct ObservedRunningTask: Sendable, Equatable {
    public var taskID: String
    public var serviceID: String
    public var slot: UInt64?
    public var nodeID: String
    public var spec: TaskTemplate

    public init(taskID: String, serviceID: String, slot: UInt64?, nodeID: String, spec: TaskTemplate) {
        self.taskID = taskID
        self.serviceID = serviceID
        self.slot = slot
        self.nodeID = nodeID
        self.spec = spec
    }
}

/// The control plane's invariants, checked while a run goes and at its end:
/// 1. after the heal every service converges to its desired count of running tasks;
/// 2. no slot (node, for a global service) runs two tasks for longer than one heartbeat period
///    after the heal (start-first updates overlap an old and a new task by design: a slot
///    counts twice only with two tasks of the same image);
/// 3. restart policies hold (condition none: no replacement after a task exited by itself;
///    on-failure: none after exit 0; at most MaxAttempts restarts after failures) and no node
///    holds more than MaxReplicas active tasks of a service;
/// 4. while no fault is active, a stop-first rolling update keeps at least N − parallelism
///    tasks running, a start-first one at least N (checked by the simulator, bounds kept here);
/// 5. no task with network attachments is placed on a node that runs no task networking.
/// The first violation is kept and ends the run.
public struct ControlPlaneInvariants {
    public private(set) var violation: String?
    let heartbeatPeriodMillis: Int
    /// The agents' drain delay: a task on a network keeps running that long after its stop was asked.
    let drainMillis: Int
    /// Slack for delivery and for the executor to stop a task, on top of one heartbeat period.
    public static let duplicateSlackMillis = 500
    private(set) var tasksCreated = 0

    struct SlotKey: Hashable {
        var serviceID: String
        var slot: UInt64
    }

    struct DuplicateKey: Hashable {
        var serviceID: String
        var slot: UInt64?
        var nodeID: String?
        var image: String?
    }

    /// The newest task created in each slot, in commit order.
    private var latestInSlot: [SlotKey: String] = [:]
    private var policyOf: [String: RestartPolicy] = [:]
    /// Tasks whose terminal status committed, and tasks that exited by themselves (exit code).
    private var committedTerminal: [String: TaskState] = [:]
    private(set) var selfExited: [String: Int64] = [:]
    /// Tasks that exited by themselves whose node was declared down before their exit was
    /// recorded: the managers rightly took them for lost with the node, and a replacement then
    /// follows the node's loss, not the restart policy (the policy can only honour an exit it knows).
    private var lostWithNodeBeforeReported: Set<String> = []
    private var restartsAfterFailure: [SlotKey: UInt64] = [:]
    private var duplicateSince: [DuplicateKey: Int] = [:]

    /// An open availability window of a rolling update (invariant 4).
    struct UpdateWindow {
        var serviceName: String
        var replicas: Int
        var required: Int
        var order: UpdateOrder
        var parallelism: UInt64
        var template: TaskTemplate
        var openedAt: Int
    }

    var windows: [String: UpdateWindow] = [:]
    var updatesChecked = 0

    public init(heartbeatPeriodMillis: Int = 1_000, drainMillis: Int = 0) {
        self.heartbeatPeriodMillis = heartbeatPeriodMillis
        self.drainMillis = drainMillis
    }

    mutating func fail(_ message: String) {
        if violation == nil { violation = message }
    }

    // MARK: Committed commands (restart policy, max replicas per node)

    /// Called once per committed command, with the state right after applying it.
    mutating func observeCommitted(_ command: ClusterCommand, result: Result<Void, ClusterError>, state: ClusterState) {
        guard case .success = result else { return }
        switch command {
        case let .createTasks(tasks):
            tasksCreated += tasks.count
            for task in tasks {
                policyOf[task.id] = task.spec.restartPolicy ?? RestartPolicy()
                if let slot = task.slot, state.services[task.serviceID]?.spec.mode.isGlobal == false {
                    checkRestart(newTask: task, slot: SlotKey(serviceID: task.serviceID, slot: slot), state: state)
                }
            }
            checkMaxReplicas(services: Set(tasks.map(\.serviceID)), state: state)
            for task in tasks { checkTaskNetworking(taskID: task.id, state: state) }
        case let .assignTask(id, _, _):
            if let task = state.tasks[id] { checkMaxReplicas(services: [task.serviceID], state: state) }
            checkTaskNetworking(taskID: id, state: state)
        case let .setNodeStatus(id, nodeState, _, _) where nodeState == .down:
            for task in state.tasks(onNode: id) where selfExited[task.id] != nil && committedTerminal[task.id] == nil {
                lostWithNodeBeforeReported.insert(task.id)
            }
        case let .updateTaskStatuses(updates):
            for update in updates { noteStatus(update.taskID, state: state) }
        case let .updateTaskStatus(id, _):
            noteStatus(id, state: state)
        default:
            break
        }
    }

    /// A task with network attachments is never placed on a node that runs no task networking
    /// (it would only reject it).
    private mutating func checkTaskNetworking(taskID: String, state: ClusterState) {
        guard let task = state.tasks[taskID], let nodeID = task.nodeID, let node = state.nodes[nodeID],
              !(task.networksAttachments ?? []).isEmpty, !node.runsTaskNetworking else { return }
        fail("task \(taskID) with network attachments was placed on \(nodeID), which runs no task networking")
    }

    private mutating func noteStatus(_ id: String, state: ClusterState) {
        guard let status = state.tasks[id]?.status.state, status.isTerminal, committedTerminal[id] == nil else { return }
        committedTerminal[id] = status
    }

    mutating func recordSelfExit(taskID: String, exitCode: Int64) {
        selfExited[taskID] = exitCode
    }

    private mutating func checkRestart(newTask: SwarmTask, slot: SlotKey, state: ClusterState) {
        defer { latestInSlot[slot] = newTask.id }
        guard let previous = latestInSlot[slot], let exitCode = selfExited[previous],
              let reported = committedTerminal[previous], reported == .complete || reported == .failed,
              let policy = policyOf[previous], !lostWithNodeBeforeReported.contains(previous) else { return }
        let name = state.services[slot.serviceID]?.spec.name ?? slot.serviceID
        let condition = policy.condition ?? .any
        if condition == .none {
            fail("restart policy: service \(name) slot \(slot.slot) got task \(newTask.id) after task \(previous) exited by itself (exit code \(exitCode)) under restart condition none")
        } else if condition == .onFailure && exitCode == 0 {
            fail("restart policy: service \(name) slot \(slot.slot) got task \(newTask.id) after task \(previous) completed (exit code 0) under restart condition on-failure")
        } else if exitCode != 0 {
            let restarts = restartsAfterFailure[slot, default: 0] + 1
            restartsAfterFailure[slot] = restarts
            if let maximum = policy.maxAttempts, maximum > 0, restarts > maximum {
                fail("restart policy: service \(name) slot \(slot.slot) restarted \(restarts) times after failures, max attempts \(maximum) (task \(newTask.id))")
            }
        }
    }

    private mutating func checkMaxReplicas(services: Set<String>, state: ClusterState) {
        for serviceID in services.sorted() {
            guard let service = state.services[serviceID], let maximum = service.spec.taskTemplate.placement?.maxReplicas, maximum > 0
            else { continue }
            if let problem = Self.maxReplicasProblem(service: service, maximum: maximum, state: state) { fail(problem) }
        }
    }

    /// Active tasks (desired running or earlier, not yet terminal) of `service` per node.
    static func maxReplicasProblem(service: Service, maximum: UInt64, state: ClusterState) -> String? {
        var perNode: [String: UInt64] = [:]
        for task in state.tasks(ofService: service.id) where task.desiredState <= .running && !task.status.state.isTerminal {
            guard let node = task.nodeID else { continue }
            perNode[node, default: 0] += 1
        }
        for node in perNode.keys.sorted() where perNode[node]! > maximum {
            return "max replicas per node: service \(service.spec.name) has \(perNode[node]!) active tasks on \(node), max \(maximum)"
        }
        return nil
    }

    // MARK: Slots running twice (invariant 2)

    /// Groups of running tasks that share a slot (or a node, for a global service). During a
    /// start-first update an old and a new task share a slot by design, so for such services two
    /// tasks only clash when they run the same image.
    public static func slotsRunningTwice(_ running: [ObservedRunningTask], state: ClusterState) -> [(description: String, key: AnyHashable)] {
        var groups: [DuplicateKey: [ObservedRunningTask]] = [:]
        for task in running {
            guard let service = state.services[task.serviceID] else { continue }
            let startFirst = service.spec.updateConfig?.order == .startFirst
            let key = service.spec.mode.isGlobal
                ? DuplicateKey(serviceID: task.serviceID, slot: nil, nodeID: task.nodeID, image: startFirst ? task.spec.containerSpec.image : nil)
                : DuplicateKey(serviceID: task.serviceID, slot: task.slot, nodeID: nil, image: startFirst ? task.spec.containerSpec.image : nil)
            groups[key, default: []].append(task)
        }
        var found: [(description: String, key: AnyHashable)] = []
        for (key, tasks) in groups where tasks.count > 1 {
            let name = state.services[key.serviceID]?.spec.name ?? key.serviceID
            let place = key.slot.map { "slot \($0)" } ?? "node \(key.nodeID ?? "?")"
            let where_ = tasks.sorted { $0.taskID < $1.taskID }.map { "\($0.taskID)@\($0.nodeID)" }.joined(separator: ", ")
            found.append(("service \(name) \(place) runs \(tasks.count) tasks: \(where_)", AnyHashable(key)))
        }
        return found.sorted { $0.description < $1.description }
    }

    /// The same, from what the state reports (tasks whose status is running).
    public static func slotsRunningTwice(in state: ClusterState) -> [String] {
        let running = state.sortedTasks.filter { $0.status.state == .running }.map {
            ObservedRunningTask(taskID: $0.id, serviceID: $0.serviceID, slot: $0.slot, nodeID: $0.nodeID ?? "?", spec: $0.spec)
        }
        return slotsRunningTwice(running, state: state).map(\.description)
    }

    /// Tracks how long each slot has run twice; from `enforceFrom` on (after the heal, once a
    /// leader is ready) a slot may run twice for at most one heartbeat period plus slack.
    mutating func checkDuplicates(_ running: [ObservedRunningTask], state: ClusterState, now: Int, enforceFrom: Int?) {
        let found = Self.slotsRunningTwice(running, state: state)
        var still: [DuplicateKey: Int] = [:]
        for (description, key) in found {
            guard let key = key.base as? DuplicateKey else { continue }
            let since = duplicateSince[key] ?? now
            still[key] = since
            if let enforceFrom, now - max(since, enforceFrom) > heartbeatPeriodMillis + drainMillis + Self.duplicateSlackMillis {
                fail("slot running twice: \(description) for \(now - max(since, enforceFrom)) ms after the heal (bound: one heartbeat period, \(heartbeatPeriodMillis) ms, "
                    + "+ the drain delay, \(drainMillis) ms, + \(Self.duplicateSlackMillis) ms slack)")
            }
        }
        duplicateSince = still
    }

    // MARK: Convergence (invariant 1)

    /// Restart condition any with unlimited attempts: every slot must end up running.
    static func restartsForever(_ template: TaskTemplate) -> Bool {
        let policy = template.restartPolicy ?? RestartPolicy()
        return (policy.condition ?? .any) == .any && (policy.maxAttempts ?? 0) == 0
    }

    /// Why `state` and what really runs have not converged yet (nil once they have): every
    /// replicated slot 1...N runs exactly one task of the current spec (a slot of a service
    /// that does not always restart may instead have stopped for good), every ready active node
    /// (running task networking, if the service's tasks need it) runs exactly one task of each
    /// global service, nothing else runs, and the state reports
    /// exactly the tasks that run as running.
    public static func convergenceProblem(state: ClusterState, running: [ObservedRunningTask]) -> String? {
        var byService: [String: [ObservedRunningTask]] = [:]
        for task in running { byService[task.serviceID, default: []].append(task) }
        for task in running.sorted(by: { $0.taskID < $1.taskID }) where state.services[task.serviceID] == nil {
            return "task \(task.taskID) of removed service \(task.serviceID) still runs on \(task.nodeID)"
        }
        for service in state.sortedServices {
            let name = service.spec.name
            let mine = (byService[service.id] ?? []).sorted { $0.taskID < $1.taskID }
            if let stale = mine.first(where: { $0.spec != service.spec.taskTemplate }) {
                return "service \(name): task \(stale.taskID) with an outdated spec (\(stale.spec.containerSpec.image)) still runs on \(stale.nodeID)"
            }
            switch service.spec.mode {
            case .global:
                let networked = state.needsTaskNetworking(serviceID: service.id, template: service.spec.taskTemplate)
                let eligible = state.sortedNodes.filter {
                    $0.status.state == .ready && $0.spec.availability == .active && (!networked || $0.runsTaskNetworking)
                }.map(\.id)
                var perNode: [String: Int] = [:]
                for task in mine { perNode[task.nodeID, default: 0] += 1 }
                for node in eligible where perNode[node, default: 0] != 1 {
                    return "global service \(name): \(perNode[node, default: 0]) running tasks on ready node \(node), expected 1"
                }
                for node in perNode.keys.sorted() where !eligible.contains(node) {
                    return "global service \(name): a task runs on \(node), which is not a ready active node"
                }
            case let .replicated(replicas):
                var perSlot: [UInt64: Int] = [:]
                for task in mine { perSlot[task.slot ?? 0, default: 0] += 1 }
                for slot in perSlot.keys.sorted() where slot < 1 || slot > replicas || perSlot[slot]! > 1 {
                    return "service \(name) (\(replicas) replicas): \(perSlot[slot]!) tasks run in slot \(slot)"
                }
                let strict = restartsForever(service.spec.taskTemplate)
                if replicas > 0 {
                    for slot in UInt64(1)...replicas where perSlot[slot] == nil {
                        if strict {
                            return "service \(name): \(mine.count)/\(replicas) running, slot \(slot) runs nothing"
                        }
                        let latest = state.tasks(ofService: service.id).filter { $0.slot == slot }
                            .max { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
                        if let latest, !latest.status.state.isTerminal {
                            return "service \(name): slot \(slot) runs nothing and its task \(latest.id) is \(latest.status.state.rawValue)"
                        }
                    }
                }
            }
        }
        let runningIDs = Set(running.map(\.taskID))
        for task in running.sorted(by: { $0.taskID < $1.taskID }) {
            guard let recorded = state.tasks[task.taskID] else {
                return "task \(task.taskID) runs on \(task.nodeID) but is not in the state"
            }
            if recorded.status.state != .running || recorded.desiredState != .running {
                return "task \(task.taskID) runs on \(task.nodeID) but the state says \(recorded.status.state.rawValue) (desired \(recorded.desiredState.rawValue))"
            }
        }
        for task in state.sortedTasks where task.status.state == .running && !runningIDs.contains(task.id) {
            return "task \(task.id) is reported running on \(task.nodeID ?? "?") but runs nowhere"
        }
        return nil
    }
}
