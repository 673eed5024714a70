import ClusterState
import Orchestration
@testable import Simulation

/// A small reference control loop, written only to test the control-plane simulator itself
/// (its invariants must hold against a plainly correct orchestrator, and catch a broken one).
/// Not the production orchestrator: no constraints, no resources, no history pruning, no
/// update monitor, delays or failure actions.
struct ReferenceControlLoops: LeaderControlLoops {
    /// Deliberate bugs, to check that the invariants catch them.
    enum Bug {
        /// Replaces the tasks of a DOWN node but never shuts the old ones down (nor, later, the
        /// second task of a slot).
        case keepTasksOfDownNodes
        /// Restarts tasks that completed even under restart condition none.
        case ignoreRestartConditionNone
    }

    var heartbeats = HeartbeatMonitor()
    let seed: UInt64
    var bug: Bug?
    var counter = 0

    init(seed: UInt64, bug: Bug? = nil) {
        self.seed = seed
        self.bug = bug
    }

    mutating func leadershipStarted(at now: Timestamp) { heartbeats.leadershipStarted(at: now) }
    mutating func recordHeartbeat(nodeID: String, at now: Timestamp) { heartbeats.recordHeartbeat(nodeID: nodeID, at: now) }

    mutating func round(_ state: ClusterState, now: Timestamp) -> [ClusterCommand] {
        var commands = heartbeats.evaluate(state, now: now)
        let eligible = state.sortedNodes.filter { $0.status.state == .ready && $0.spec.availability == .active }.map(\.id)
        var activeOnNode: [String: [String: Int]] = [:]  // service → node → active tasks
        var totalOnNode: [String: Int] = [:]
        for task in state.sortedTasks where task.desiredState <= .running && !task.status.state.isTerminal {
            guard let node = task.nodeID else { continue }
            activeOnNode[task.serviceID, default: [:]][node, default: 0] += 1
            totalOnNode[node, default: 0] += 1
        }
        for service in state.sortedServices {
            commands += reconcile(service, state: state, now: now, eligible: eligible, activeOnNode: &activeOnNode, totalOnNode: &totalOnNode)
        }
        return commands
    }

    private static func isLost(_ task: SwarmTask) -> Bool { task.status.err == "task lost" }

    private mutating func reconcile(_ service: Service, state: ClusterState, now: Timestamp, eligible: [String],
                                    activeOnNode: inout [String: [String: Int]], totalOnNode: inout [String: Int]) -> [ClusterCommand] {
        var commands: [ClusterCommand] = []
        let template = service.spec.taskTemplate
        // Tasks with network attachments only on nodes that run task networking.
        let eligible = state.needsTaskNetworking(serviceID: service.id, template: template)
            ? eligible.filter { state.nodes[$0]?.runsTaskNetworking == true } : eligible
        let tasks = state.tasks(ofService: service.id)
        let isGlobal = service.spec.mode.isGlobal
        func key(_ task: SwarmTask) -> String { isGlobal ? (task.nodeID ?? "") : String(task.slot ?? 0) }
        func nodeIsDown(_ task: SwarmTask) -> Bool { task.nodeID.map { state.nodes[$0]?.status.state == .down } ?? false }

        var alive: [String: [SwarmTask]] = [:]
        var stopping: Set<String> = []
        for task in tasks {
            if task.desiredState > .running {
                if !task.status.state.isTerminal && !nodeIsDown(task) { stopping.insert(key(task)) }
                continue
            }
            if task.status.state.isTerminal || nodeIsDown(task) {
                if !(bug == .keepTasksOfDownNodes && nodeIsDown(task) && !task.status.state.isTerminal) {
                    commands.append(.setTaskDesiredState(id: task.id, state: .shutdown, at: now))
                }
                continue
            }
            alive[key(task), default: []].append(task)
        }

        let keys: [String]
        switch service.spec.mode {
        case let .replicated(replicas): keys = replicas == 0 ? [] : (1...replicas).map { String($0) }
        case .global: keys = eligible
        }
        for slotKey in alive.keys.sorted() where !keys.contains(slotKey) {
            for task in alive[slotKey]! { commands.append(.setTaskDesiredState(id: task.id, state: .shutdown, at: now)) }
        }

        let config = (service.spec.updateConfig ?? UpdateConfig()).filled(from: .dockerDefault)
        let startFirst = config.order == .startFirst
        // Stop-first: every slot without a running task counts against the parallelism;
        // start-first: every slot whose new task is not running yet.
        var inFlight = 0
        for slotKey in keys {
            let slotTasks = alive[slotKey] ?? []
            if startFirst {
                if slotTasks.contains(where: { $0.spec == template && $0.status.state != .running }) { inFlight += 1 }
            } else if !slotTasks.contains(where: { $0.status.state == .running }) {
                inFlight += 1
            }
        }
        let parallelism = config.parallelism == 0 ? keys.count : Int(config.parallelism ?? 1)
        var budget = max(0, parallelism - inFlight)
        var updating = false
        var created: [SwarmTask] = []

        for slotKey in keys {
            let slotTasks = alive[slotKey] ?? []
            let fresh = slotTasks.filter { $0.spec == template }
            let old = slotTasks.filter { $0.spec != template }
            if !old.isEmpty { updating = true }
            if slotTasks.isEmpty {
                if stopping.contains(slotKey) { continue }
                if !mayRestart(slotKey, tasks: tasks, key: key, now: now) { continue }
                created.append(newTask(service, slotKey: slotKey, isGlobal: isGlobal, now: now))
            } else if !old.isEmpty && fresh.isEmpty {
                guard budget > 0 else { continue }
                budget -= 1
                if startFirst {
                    created.append(newTask(service, slotKey: slotKey, isGlobal: isGlobal, now: now))
                } else {
                    for task in old { commands.append(.setTaskDesiredState(id: task.id, state: .shutdown, at: now)) }
                }
            } else if !old.isEmpty, fresh.contains(where: { $0.status.state == .running }) {
                for task in old { commands.append(.setTaskDesiredState(id: task.id, state: .shutdown, at: now)) }
            } else if fresh.count > 1 && bug != .keepTasksOfDownNodes {
                for task in fresh.dropFirst() { commands.append(.setTaskDesiredState(id: task.id, state: .shutdown, at: now)) }
            }
        }
        if !updating, service.updateStatus?.state == .updating {
            commands.append(.setServiceUpdateStatus(id: service.id, version: service.version,
                                                    status: UpdateStatus(state: .completed, startedAt: service.updateStatus?.startedAt,
                                                                         completedAt: now, message: "update completed"),
                                                    at: now))
        }
        if !created.isEmpty { commands.append(.createTasks(tasks: created)) }
        let unassigned = tasks.filter { $0.desiredState <= .running && $0.status.state == .pending && !nodeIsDown($0) }
        let maximum = template.placement?.maxReplicas ?? 0
        for task in unassigned + created {
            let node: String?
            if let preset = task.nodeID {
                node = preset
            } else {
                node = eligible
                    .filter { maximum == 0 || activeOnNode[service.id]?[$0] ?? 0 < Int(maximum) }
                    .min { (activeOnNode[service.id]?[$0] ?? 0, totalOnNode[$0] ?? 0, $0) < (activeOnNode[service.id]?[$1] ?? 0, totalOnNode[$1] ?? 0, $1) }
            }
            guard let node else { continue }
            activeOnNode[service.id, default: [:]][node, default: 0] += 1
            totalOnNode[node, default: 0] += 1
            commands.append(.assignTask(id: task.id, nodeID: node, at: now))
        }
        return commands
    }

    /// The slot's newest task exited by itself: restart only as its policy says, after its delay.
    private func mayRestart(_ slotKey: String, tasks: [SwarmTask], key: (SwarmTask) -> String, now: Timestamp) -> Bool {
        let inSlot = tasks.filter { key($0) == slotKey }
        guard let latest = inSlot.max(by: { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }) else { return true }
        if latest.status.state == .pending || latest.status.state == .new { return false }
        guard latest.status.state == .complete || (latest.status.state == .failed && !Self.isLost(latest)) else { return true }
        let policy = latest.spec.restartPolicy ?? RestartPolicy()
        let condition = policy.condition ?? .any
        if condition == .none && bug != .ignoreRestartConditionNone { return false }
        if condition == .onFailure && latest.status.state == .complete { return false }
        if let maximum = policy.maxAttempts, maximum > 0 {
            let failures = inSlot.filter { $0.status.state == .failed && !Self.isLost($0) }.count
            if failures > Int(maximum) { return false }
        }
        let delay = UInt64(max(0, policy.delay ?? 0) / 1_000_000)
        return now.millisecondsSinceEpoch >= latest.status.timestamp.millisecondsSinceEpoch + delay
    }

    private mutating func newTask(_ service: Service, slotKey: String, isGlobal: Bool, now: Timestamp) -> SwarmTask {
        counter += 1
        return SwarmTask(id: "t\(seed)-\(counter)", createdAt: now, serviceID: service.id,
                         slot: isGlobal ? nil : UInt64(slotKey), nodeID: isGlobal ? slotKey : nil,
                         spec: service.spec.taskTemplate, desiredState: .running,
                         status: TaskStatus(timestamp: now, state: .pending, message: "pending task scheduling"))
    }
}
