import Agent
import ClusterState
import Dispatcher

/// A node's agent in the control-plane simulation: the shipped `AgentCore` (every decision:
/// what to start, stop, remove, re-adopt, report) with the shell's plumbing around it as the
/// node does it (heartbeats, the assignment stream's receiver, reports to the leader), and a
/// fake executor (`FakeContainer`) that carries the core's actions out after random delays.
///
/// A crash is a crash of the node process: the core and its in-flight work are lost, the
/// containers keep running, and the core's last persisted records (`disk`, written atomically
/// like `DATA/worker/tasks.json`) survive; the restarted core re-adopts the containers. Some
/// crashes are reboots of the machine: then the containers die too.
struct SimulatedAgent {
    let host: Int
    let nodeID: String
    /// The manager this agent talks to (the leader, once it knows).
    var target: Int
    var isUp = true
    /// Bumped by each crash: executor work and events of an earlier process are void.
    var incarnation = 0
    /// The node's end of its assignment stream (the shipped type; kept in memory, so a crash loses it).
    var assignments = AssignmentReceiver()
    /// Puts assignment messages sent in parts back together, in front of `assignments`.
    var assembler = AssignmentAssembler()
    var networkTables = NetworkTableReceiver()
    /// Puts network table messages sent in parts back together, in front of `networkTables`.
    var tableAssembler = NetworkTableAssembler()
    /// The shipped agent core (the simulator sets its drain delay from the options).
    var core = AgentCore()
    /// What the core last persisted (survives a crash).
    var disk: [String: AgentRecord] = [:]
    /// The fake executor's containers on this host, by id (survive a process crash, not a reboot).
    var containers: [String: FakeContainer] = [:]
    var nextContainer = 0
    /// Per task, when the executor work queued for it is done (the runner's serial queue per task).
    var busyUntil: [String: Int] = [:]
    var lastAckAt = Int.min / 2
    var lastRedirectAt = Int.min / 2

    init(host: Int, nodeID: String, target: Int) {
        self.host = host
        self.nodeID = nodeID
        self.target = target
    }
}

/// One container of the fake executor.
struct FakeContainer {
    enum State { case created, running, exited }

    var taskID: String
    var task: SwarmTask
    var state = State.created
    var pid: Int64 = 0
    var exit: TaskExit?
    /// The agent process (incarnation) that started or adopted it, which its exit is reported to.
    var watchedBy: Int?
    /// The exit code it will exit with by itself, when it has a scheduled end.
    var plannedExit: Int64?
    /// Bumped to void its scheduled end.
    var generation = 0
}

/// Executor work the fake executor carries out for the agent core, in order per task.
enum FakeExecutorWork {
    case prepare(SwarmTask)
    case start(taskID: String, container: String)
    case stop(taskID: String, container: String)
    case remove(container: String, stopFirst: Bool)
    case adopt(SwarmTask, container: String)
    case health(taskID: String)
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
        send(.heartbeat(reports: agents[host].core.pendingReports(), ack: agents[host].assignments.ack,
                        networkAck: agents[host].networkTables.ack), from: host, to: agents[host].target)
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

    /// One message (or part of one) of the node's assignment stream, through the shipped
    /// assembler and receiver: a hole asks the manager for the full set at once (a heartbeat),
    /// as the node shell does.
    func agentReceivesAssignments(_ host: Int, _ part: AssignmentMessage, from manager: Int) {
        guard agents[host].isUp, let message = agents[host].assembler.add(part) else { return }
        switch agents[host].assignments.receive(message) {
        case .applied:
            checkPayloadsHeld(host)
            let tasks = agents[host].assignments.sortedTasks
            perform(host, agents[host].core.setAssignments(tasks, now: nowStamp))
        case .needsFullSet:
            log("\(agents[host].nodeID) assignment change \(message.version) does not follow \(agents[host].assignments.version): asking for the full set")
            agents[host].target = manager
            sendHeartbeat(host)
        case .stale, .waitingForFullSet:
            break
        }
    }

    // MARK: - Carrying out the core's actions (the runner's part)

    private func perform(_ host: Int, _ actions: [AgentAction]) {
        for action in actions {
            switch action {
            case let .prepare(task): enqueue(host, task.id, .prepare(task), after: between(25, 330))
            case let .start(id, container): enqueue(host, id, .start(taskID: id, container: container), after: between(10, 100))
            case let .watchHealth(id, _): enqueue(host, id, .health(taskID: id), after: between(50, 500))
            case let .stop(id, container): enqueue(host, id, .stop(taskID: id, container: container), after: between(10, 300))
            case let .remove(id, container, stopFirst):
                enqueue(host, id, .remove(container: container, stopFirst: stopFirst), after: between(10, 300))
            case let .adopt(task, container): enqueue(host, task.id, .adopt(task, container: container), after: between(5, 50))
            case .persist: agents[host].disk = agents[host].core.records
            case .report:
                send(.statusReport(agents[host].core.pendingReports()), from: host, to: agents[host].target)
            case let .wake(at):
                let delay = Int(at.millisecondsSinceEpoch) - Int(nowStamp.millisecondsSinceEpoch)
                queue.schedule(.agentWake(host: host, incarnation: agents[host].incarnation), at: now + max(0, delay))
            }
        }
    }

    /// The runner's timer for a `.wake` fired: the core stops the tasks whose drain is over.
    func agentWakes(_ host: Int, incarnation: Int) {
        guard agents[host].isUp, agents[host].incarnation == incarnation else { return }
        let actions = agents[host].core.tick(now: nowStamp)
        for case let .stop(taskID, _) in actions { log("\(agents[host].nodeID) drain of \(taskID) is over: stopping it") }
        perform(host, actions)
    }

    /// The core's event, on the agent process that is up now.
    private func agentHandles(_ host: Int, _ event: AgentEvent) {
        guard agents[host].isUp else { return }
        perform(host, agents[host].core.handle(event, now: nowStamp))
    }

    /// Queues work behind the earlier work of the same task (the runner's serial queue per task).
    private func enqueue(_ host: Int, _ taskID: String, _ work: FakeExecutorWork, after delay: Int) {
        let at = max(now, agents[host].busyUntil[taskID] ?? 0) + delay
        agents[host].busyUntil[taskID] = at
        queue.schedule(.executorWork(host: host, incarnation: agents[host].incarnation, work: work), at: at)
    }

    // MARK: - The fake executor

    func executorWork(_ host: Int, incarnation: Int, work: FakeExecutorWork) {
        // The work of a process that crashed died with it.
        guard agents[host].isUp, agents[host].incarnation == incarnation else { return }
        switch work {
        case let .prepare(task):
            guard payloadsDelivered(for: task, on: host) else {
                return agentHandles(host, .prepareFailed(taskID: task.id, reason: "a secret or config was not delivered"))
            }
            let id = "c\(agents[host].nextContainer)-\(task.id)"
            agents[host].nextContainer += 1
            agents[host].containers[id] = FakeContainer(taskID: task.id, task: task)
            agentHandles(host, .prepared(taskID: task.id, container: id))
        case let .start(taskID, id): startContainer(host, taskID, id, incarnation: incarnation)
        case let .stop(taskID, id):
            let exit = stopContainer(host, id)
            agentHandles(host, .stopped(taskID: taskID, exitCode: exit))
        case let .remove(id, stopFirst):
            if stopFirst { _ = stopContainer(host, id) }
            // Like the real executors, a running container is not removed (it must be stopped first).
            if agents[host].containers[id]?.state != .running { agents[host].containers[id] = nil }
        case let .adopt(task, id): adoptContainer(host, task, id, incarnation: incarnation)
        case let .health(taskID):
            // Simulated tasks pass their health checks.
            agentHandles(host, .health(taskID: taskID, healthy: true))
        }
    }

    private func startContainer(_ host: Int, _ taskID: String, _ id: String, incarnation: Int) {
        guard var container = agents[host].containers[id], container.state == .created else {
            return agentHandles(host, .startFailed(taskID: taskID, reason: "no container \(id) to start"))
        }
        container.state = .running
        container.pid = Int64(1000 + pick(30_000))
        container.watchedBy = incarnation
        let task = container.task
        running[taskID] = RunningTask(host: host, serviceID: task.serviceID, slot: task.slot, nodeID: agents[host].nodeID, spec: task.spec)
        report.tasksStarted += 1
        log("\(agents[host].nodeID) runs \(taskID) (\(task.serviceID) slot \(task.slot.map(String.init) ?? "-"))")
        if faultsPhase, let behaviour = ExitBehaviour(task.spec) {
            container.plannedExit = chance(behaviour.failPercent) ? 1 : 0
            queue.schedule(.containerExit(host: host, container: id, generation: container.generation),
                           at: now + between(behaviour.minMillis, behaviour.maxMillis))
        }
        agents[host].containers[id] = container
        agentHandles(host, .started(taskID: taskID, pid: container.pid))
    }

    /// Stops a running container (its exit code), or reports how it ended before.
    private func stopContainer(_ host: Int, _ id: String) -> Int64? {
        guard var container = agents[host].containers[id] else { return nil }
        guard container.state == .running else { return container.exit?.code }
        container.state = .exited
        container.exit = TaskExit(code: 0)
        container.generation += 1
        agents[host].containers[id] = container
        running[container.taskID] = nil
        log("\(agents[host].nodeID) stopped \(container.taskID)")
        taskStoppedRunning(serviceID: container.task.serviceID, intentionally: true)
        return 0
    }

    private func adoptContainer(_ host: Int, _ task: SwarmTask, _ id: String, incarnation: Int) {
        guard let container = agents[host].containers[id], container.state != .created else {
            return agentHandles(host, .adoptionFailed(taskID: task.id, exit: nil))
        }
        guard container.state == .running else {
            return agentHandles(host, .adoptionFailed(taskID: task.id, exit: container.exit))
        }
        agents[host].containers[id]!.watchedBy = incarnation
        report.tasksReadopted += 1
        log("\(agents[host].nodeID) re-adopts \(task.id)")
        agentHandles(host, .adopted(taskID: task.id, pid: container.pid))
    }

    /// A container ends by itself; the agent that watches it (if it is still that process) hears of it.
    func containerExit(_ host: Int, container id: String, generation: Int) {
        guard var container = agents[host].containers[id], container.generation == generation, container.state == .running else { return }
        let code = container.plannedExit ?? 0
        container.state = .exited
        container.exit = TaskExit(code: code)
        agents[host].containers[id] = container
        running[container.taskID] = nil
        checker.recordSelfExit(taskID: container.taskID, exitCode: code)
        log("\(agents[host].nodeID) task \(container.taskID) exited by itself with code \(code)")
        if code != 0 { report.tasksFailedByThemselves += 1 }
        taskStoppedRunning(serviceID: container.task.serviceID, intentionally: false)
        if agents[host].isUp && container.watchedBy == agents[host].incarnation {
            agentHandles(host, .exited(taskID: container.taskID, container.exit!))
        }
    }

    // MARK: - Crashes

    /// The node process dies: its core and queued work go, its records stay on disk; the
    /// containers keep running unless the machine reboots (about one crash in four).
    func crashAgent(_ host: Int) {
        let reboot = chance(25)
        log("\(agents[host].nodeID) crashes\(reboot ? " (machine reboot)" : "")")
        agents[host].isUp = false
        agents[host].incarnation += 1
        agents[host].busyUntil = [:]
        guard reboot else { return }
        for id in agents[host].containers.keys.sorted() {
            let container = agents[host].containers[id]!
            if container.state == .running {
                running[container.taskID] = nil
                taskStoppedRunning(serviceID: container.task.serviceID, intentionally: false)
            }
        }
        agents[host].containers = [:]
    }

    /// The node process starts again: the core is rebuilt from its records, containers no
    /// record names are removed, and the others are re-adopted.
    func restartAgent(_ host: Int) {
        guard !agents[host].isUp else { return }
        log("\(agents[host].nodeID) restarts")
        agents[host].isUp = true
        agents[host].lastAckAt = Int.min / 2
        agents[host].assignments = AssignmentReceiver()
        agents[host].assembler = AssignmentAssembler()
        agents[host].networkTables = NetworkTableReceiver()
        agents[host].tableAssembler = NetworkTableAssembler()
        agents[host].core = AgentCore(restoring: agents[host].disk, drainMillis: UInt64(options.drainMillis))
        let owned = agents[host].core.containers
        for id in agents[host].containers.keys.sorted() where !owned.contains(id) {
            if agents[host].containers[id]!.state == .running { _ = stopContainer(host, id) }
            agents[host].containers[id] = nil
        }
        perform(host, agents[host].core.resume(now: nowStamp))
        queue.schedule(.heartbeat(host: host, incarnation: agents[host].incarnation), at: now + pick(100))
    }

    /// After the heal, tasks run until stopped: pending exits are void.
    func cancelPendingExits() {
        for host in agents.indices {
            for id in agents[host].containers.keys.sorted() where agents[host].containers[id]!.state == .running {
                agents[host].containers[id]!.generation += 1
            }
        }
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
