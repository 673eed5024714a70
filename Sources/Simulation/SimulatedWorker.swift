import ClusterState
import Dispatcher

/// A node's agent and fake executor in the control-plane simulation. It follows the agent
/// conventions: tasks assigned to its node with desired state running or earlier go accepted →
/// preparing → starting → running; a desired state of shutdown or later stops the task and
/// reports `shutdown`; a task that exits by itself reports `complete` (exit 0) or `failed`.
/// Reports go to the leader at once and again with every heartbeat until the leader's
/// assignments show them applied. Task records survive a crash (they are on disk): after a
/// restart, every task that was active is reported `failed` (lost).
struct SimulatedAgent {
    let host: Int
    let nodeID: String
    /// The manager this agent talks to (the leader, once it knows).
    var target: Int
    var isUp = true
    /// Bumped by each crash: events scheduled before it are void.
    var incarnation = 0
    /// The node's end of its assignment stream (the shipped type; kept in memory, so a crash loses it).
    var assignments = AssignmentReceiver()
    var networkTables = NetworkTableReceiver()
    var tasks: [String: LocalTask] = [:]
    var lastAckAt = Int.min / 2
    var lastRedirectAt = Int.min / 2

    init(host: Int, nodeID: String, target: Int) {
        self.host = host
        self.nodeID = nodeID
        self.target = target
    }
}

struct LocalTask {
    enum Phase { case starting, running, stopping, stopped }

    var id: String
    var serviceID: String
    var slot: UInt64?
    var spec: TaskTemplate
    var desired: TaskState
    /// What this agent observed and reports.
    var status: TaskStatus
    /// The state the leader's assignments last showed.
    var managerState: TaskState
    var phase: Phase
    /// Bumped whenever a scheduled step, exit or stop of this task becomes void.
    var generation = 0
    /// Gone from the assignments: forget it once it has stopped.
    var removed = false
}

extension ControlPlaneSimulator {
    // MARK: - Heartbeats and the session with the leader

    func agentHeartbeat(_ host: Int, incarnation: Int) {
        guard agents[host].isUp, agents[host].incarnation == incarnation else { return }
        let period = options.heartbeatPeriodMillis
        queue.schedule(.heartbeat(host: host, incarnation: incarnation), at: now + period)
        if now - agents[host].lastAckAt > period + period / 2 {
            agents[host].target = (agents[host].target + 1) % options.managers
        }
        sendHeartbeat(host)
    }

    func sendHeartbeat(_ host: Int) {
        let unreflected = agents[host].tasks.keys.sorted().compactMap { id -> TaskStatusUpdate? in
            let task = agents[host].tasks[id]!
            return task.status.state > task.managerState ? TaskStatusUpdate(taskID: id, status: task.status) : nil
        }
        send(.heartbeat(reports: unreflected, ack: agents[host].assignments.ack, networkAck: agents[host].networkTables.ack),
             from: host, to: agents[host].target)
    }

    func agentReceivesAck(_ host: Int, from manager: Int) {
        guard agents[host].isUp else { return }
        agents[host].lastAckAt = now
        agents[host].target = manager
    }

    func agentReceivesRedirect(_ host: Int, leader: Int?) {
        guard agents[host].isUp else { return }
        guard let leader else {
            agents[host].target = (agents[host].target + 1) % options.managers
            return
        }
        agents[host].target = leader
        if now - agents[host].lastRedirectAt >= 100 {
            agents[host].lastRedirectAt = now
            sendHeartbeat(host)
        }
    }

    // MARK: - Assignments

    /// One message of the node's assignment stream, through the shipped receiver: a hole asks
    /// the manager for the full set at once (a heartbeat), as the node shell does.
    func agentReceivesAssignments(_ host: Int, _ message: AssignmentMessage, from manager: Int) {
        guard agents[host].isUp else { return }
        switch agents[host].assignments.receive(message) {
        case .applied:
            applyAssignments(host, agents[host].assignments.sortedTasks)
        case .needsFullSet:
            log("\(agents[host].nodeID) assignment change \(message.version) does not follow \(agents[host].assignments.version): asking for the full set")
            agents[host].target = manager
            sendHeartbeat(host)
        case .stale, .waitingForFullSet:
            break
        }
    }

    /// The full set of tasks assigned to the node, as the agent core takes it.
    private func applyAssignments(_ host: Int, _ tasks: [SwarmTask]) {
        var listed = Set<String>()
        for assignment in tasks {
            listed.insert(assignment.id)
            if var local = agents[host].tasks[assignment.id] {
                local.managerState = assignment.status.state
                local.desired = assignment.desiredState
                agents[host].tasks[assignment.id] = local
                if assignment.desiredState >= .shutdown { stopTask(host, assignment.id) }
                continue
            }
            guard !assignment.status.state.isTerminal else { continue }
            var local = LocalTask(id: assignment.id, serviceID: assignment.serviceID, slot: assignment.slot, spec: assignment.spec,
                                  desired: assignment.desiredState,
                                  status: TaskStatus(timestamp: nowStamp, state: .assigned, message: "assigned"),
                                  managerState: assignment.status.state, phase: .starting)
            if assignment.status.state >= .accepted {
                local.phase = .stopped
                local.status = TaskStatus(timestamp: nowStamp, state: .failed, message: "task unknown to the agent", err: "task lost")
                agents[host].tasks[assignment.id] = local
                reportStatus(host, assignment.id)
            } else if assignment.desiredState >= .shutdown {
                local.phase = .stopped
                local.status = TaskStatus(timestamp: nowStamp, state: .shutdown, message: "shut down before it started")
                agents[host].tasks[assignment.id] = local
                reportStatus(host, assignment.id)
            } else {
                agents[host].tasks[assignment.id] = local
                scheduleStep(host, assignment.id, after: between(5, 30))
            }
        }
        for id in agents[host].tasks.keys.sorted() where !listed.contains(id) {
            // No longer assigned here (removed from the state): stop it if it runs, then forget it.
            if agents[host].tasks[id]!.phase == .running || agents[host].tasks[id]!.phase == .stopping {
                agents[host].tasks[id]!.removed = true
                stopTask(host, id)
            } else {
                agents[host].tasks[id] = nil
            }
        }
    }

    private func scheduleStep(_ host: Int, _ id: String, after delay: Int) {
        let local = agents[host].tasks[id]!
        queue.schedule(.taskStep(host: host, incarnation: agents[host].incarnation, taskID: id, generation: local.generation), at: now + delay)
    }

    // MARK: - The fake executor

    func taskStep(_ host: Int, incarnation: Int, taskID: String, generation: Int) {
        guard agents[host].isUp, agents[host].incarnation == incarnation, var local = agents[host].tasks[taskID],
              local.generation == generation, local.phase == .starting, local.desired <= .running else { return }
        let next: TaskState
        let delay: Int
        switch local.status.state {
        case .accepted: (next, delay) = (.preparing, between(20, 300))
        case .preparing: (next, delay) = (.starting, between(10, 100))
        case .starting: (next, delay) = (.running, 0)
        default: (next, delay) = (.accepted, between(5, 30))
        }
        local.status = TaskStatus(timestamp: nowStamp, state: next, message: next.rawValue)
        if next == .running {
            local.phase = .running
            local.status.containerStatus = ContainerStatus(containerID: "c-" + taskID, pid: Int64(1000 + pick(30_000)))
            running[taskID] = RunningTask(host: host, serviceID: local.serviceID, slot: local.slot, nodeID: agents[host].nodeID, spec: local.spec)
            report.tasksStarted += 1
            log("\(agents[host].nodeID) runs \(taskID) (\(local.serviceID) slot \(local.slot.map(String.init) ?? "-"))")
            if faultsPhase, let behaviour = ExitBehaviour(local.spec) {
                let code: Int64 = chance(behaviour.failPercent) ? 1 : 0
                let runFor = between(behaviour.minMillis, behaviour.maxMillis)
                pendingExitCodes[taskID] = code
                queue.schedule(.taskExit(host: host, incarnation: incarnation, taskID: taskID, generation: local.generation), at: now + runFor)
            }
        }
        agents[host].tasks[taskID] = local
        reportStatus(host, taskID)
        if next != .running { scheduleStep(host, taskID, after: delay) }
    }

    func taskExit(_ host: Int, incarnation: Int, taskID: String, generation: Int) {
        guard agents[host].isUp, agents[host].incarnation == incarnation, var local = agents[host].tasks[taskID],
              local.generation == generation, local.phase == .running else { return }
        let code = pendingExitCodes.removeValue(forKey: taskID) ?? 0
        running[taskID] = nil
        local.phase = .stopped
        local.status = code == 0
            ? TaskStatus(timestamp: nowStamp, state: .complete, message: "finished", containerStatus: ContainerStatus(exitCode: 0))
            : TaskStatus(timestamp: nowStamp, state: .failed, message: "started", err: "task: non-zero exit (\(code))",
                         containerStatus: ContainerStatus(exitCode: code))
        agents[host].tasks[taskID] = local
        checker.recordSelfExit(taskID: taskID, exitCode: code)
        log("\(agents[host].nodeID) task \(taskID) exited by itself with code \(code)")
        if code != 0 { report.tasksFailedByThemselves += 1 }
        taskStoppedRunning(serviceID: local.serviceID, intentionally: false)
        reportStatus(host, taskID)
    }

    /// Stops a task whose desired state became shutdown or later (or that left the node).
    func stopTask(_ host: Int, _ taskID: String) {
        guard var local = agents[host].tasks[taskID] else { return }
        switch local.phase {
        case .starting:
            local.generation += 1
            local.phase = .stopped
            local.status = TaskStatus(timestamp: nowStamp, state: .shutdown, message: "shut down before it ran")
            agents[host].tasks[taskID] = local
            reportStatus(host, taskID)
        case .running:
            local.generation += 1
            local.phase = .stopping
            agents[host].tasks[taskID] = local
            queue.schedule(.taskStopped(host: host, incarnation: agents[host].incarnation, taskID: taskID, generation: local.generation),
                           at: now + between(10, 300))
        case .stopping, .stopped:
            return
        }
    }

    func taskStopped(_ host: Int, incarnation: Int, taskID: String, generation: Int) {
        guard agents[host].isUp, agents[host].incarnation == incarnation, var local = agents[host].tasks[taskID],
              local.generation == generation, local.phase == .stopping else { return }
        running[taskID] = nil
        pendingExitCodes[taskID] = nil
        log("\(agents[host].nodeID) stopped \(taskID)")
        local.phase = .stopped
        local.status = TaskStatus(timestamp: nowStamp, state: .shutdown, message: "shutdown", containerStatus: ContainerStatus(exitCode: 0))
        if local.removed {
            agents[host].tasks[taskID] = nil
        } else {
            agents[host].tasks[taskID] = local
            reportStatus(host, taskID)
        }
        taskStoppedRunning(serviceID: local.serviceID, intentionally: true)
    }

    private func reportStatus(_ host: Int, _ taskID: String) {
        guard let local = agents[host].tasks[taskID] else { return }
        send(.statusReport([TaskStatusUpdate(taskID: taskID, status: local.status)]), from: host, to: agents[host].target)
    }

    // MARK: - Crashes

    /// The process dies: its tasks die with it; the records on disk stay.
    func crashAgent(_ host: Int) {
        log("\(agents[host].nodeID) crashes")
        agents[host].isUp = false
        agents[host].incarnation += 1
        for id in agents[host].tasks.keys.sorted() {
            let local = agents[host].tasks[id]!
            guard local.phase == .running || local.phase == .stopping else { continue }
            running[id] = nil
            pendingExitCodes[id] = nil
            agents[host].tasks[id]!.phase = .stopped
            taskStoppedRunning(serviceID: local.serviceID, intentionally: false)
        }
    }

    /// The agent starts again: tasks that were active died with the crash and are reported
    /// failed; tasks it had not accepted yet are forgotten (the assignments bring them back).
    func restartAgent(_ host: Int) {
        guard !agents[host].isUp else { return }
        log("\(agents[host].nodeID) restarts")
        agents[host].isUp = true
        agents[host].lastAckAt = Int.min / 2
        agents[host].assignments = AssignmentReceiver()
        agents[host].networkTables = NetworkTableReceiver()
        for id in agents[host].tasks.keys.sorted() {
            var local = agents[host].tasks[id]!
            if local.status.state <= .assigned {
                agents[host].tasks[id] = nil
                continue
            }
            guard !local.status.state.isTerminal else { continue }
            local.phase = .stopped
            local.generation += 1
            local.status = TaskStatus(timestamp: nowStamp, state: .failed, message: "task lost: node restarted", err: "task lost")
            agents[host].tasks[id] = local
        }
        queue.schedule(.heartbeat(host: host, incarnation: agents[host].incarnation), at: now + pick(100))
    }

    /// After the heal, tasks run until stopped: pending exits are void.
    func cancelPendingExits() {
        for host in agents.indices {
            for id in agents[host].tasks.keys.sorted() where agents[host].tasks[id]!.phase == .running {
                agents[host].tasks[id]!.generation += 1
            }
        }
        pendingExitCodes = [:]
    }
}

/// How a fake task ends by itself, read from its spec's environment: `SIM_RUN_MS=low-high`
/// (runs that long, then exits) and `SIM_FAIL_PERCENT=p` (exits 1 with probability p%, else 0).
/// Without `SIM_RUN_MS` a task runs until stopped.
struct ExitBehaviour {
    var minMillis: Int
    var maxMillis: Int
    var failPercent: Int

    init?(_ spec: TaskTemplate) {
        guard let env = spec.containerSpec.env else { return nil }
        var range: (Int, Int)?
        var fail = 0
        for variable in env {
            if variable.hasPrefix("SIM_RUN_MS=") {
                let bounds = variable.dropFirst("SIM_RUN_MS=".count).split(separator: "-").compactMap { Int($0) }
                if bounds.count == 2 { range = (bounds[0], bounds[1]) }
            } else if variable.hasPrefix("SIM_FAIL_PERCENT=") {
                fail = Int(variable.dropFirst("SIM_FAIL_PERCENT=".count)) ?? 0
            }
        }
        guard let range else { return nil }
        minMillis = range.0
        maxMillis = max(range.0, range.1)
        failPercent = fail
    }
}
