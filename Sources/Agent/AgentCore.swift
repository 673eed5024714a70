import ClusterState

/// The worker side of the dispatcher, as a pure state machine: it takes the tasks the managers
/// assign to this node, what the executor reports, and the time (as a value), and returns what
/// to do (`AgentAction`): prepare, start, stop, remove, re-adopt, persist, report.
///
/// It exists so that the agent's rules (when to start, stop, remove, what to report, what a
/// restarted node keeps) are one piece of code that the node shell and the control-plane
/// simulator both run, without clocks, threads, locks or I/O. The node's `AgentRunner` and the
/// simulator's fake executor carry the actions out and answer with `AgentEvent`s.
///
/// Statuses only move forward; the managers own the desired state, the agent the observed one.
/// A restarted agent is built from its records (`init(restoring:)`) and re-adopts the containers
/// that were running: it reports them again only if their state changed.
public struct AgentCore: Sendable {
    /// Where a task is in the agent's hands.
    enum Phase: Equatable, Sendable {
        /// `.prepare` sent; no container yet.
        case preparing
        /// Prepared, waiting for one of the `maxConcurrentStarts` start slots.
        case waitingToStart
        /// `.start` sent.
        case starting
        /// Running, waiting for the first healthy verdict before it counts as running.
        case waitingHealthy
        case running
        /// Asked to stop while in load balancing: it stays running until `drainUntil` (a `.wake`
        /// was sent for then), so the other nodes drop it from their rules before it stops.
        case draining
        /// `.stop` sent (or asked for while preparing: the prepared container is removed).
        case stopping
        /// `.adopt` sent after a restart.
        case adopting
        /// Nothing runs; the container (if any) is kept for its logs until the task is forgotten.
        case finished
    }

    /// One task as the agent knows it.
    struct Managed: Equatable, Sendable {
        /// The managers' latest view (desired state, the status they recorded).
        var task: SwarmTask
        var container: String?
        /// The newest status the agent produced (nil: none yet).
        var status: TaskStatus?
        var pid: Int64?
        var phase: Phase
        /// The status to report once a stop the agent decided on its own has finished.
        var failureAfterStop: TaskStatus?
        /// When a draining task is stopped.
        var drainUntil: Timestamp?
    }

    private(set) var tasks: [String: Managed] = [:]
    /// How many `.start` actions may be unanswered at once, so a service of many replicas does
    /// not fork as many runtimes at once. The node sets it from its cores (`StartSlots`); the
    /// simulator leaves it unbounded.
    public var maxConcurrentStarts = Int.max {
        willSet { precondition(newValue > 0, "at least one start must be allowed") }
    }
    /// Tasks whose `.start` was sent and not yet answered (`.started` or `.startFailed`), also
    /// when the task was stopped or forgotten meanwhile: the slot is the runtime's work, not the task's.
    private(set) var startsInFlight: Set<String> = []
    /// Prepared tasks waiting for a start slot, first prepared first.
    private(set) var startQueue: [String] = []
    /// Containers re-adopted and lost since this agent started (for logs and metrics).
    public private(set) var adoptedCount = 0
    public private(set) var lostCount = 0
    /// How long a running task with network attachments keeps running after the managers asked
    /// for its stop (they removed it from every node's load balancing and DNS at that moment):
    /// requests already routed to it finish, and no node sends it new ones while it stops.
    /// 0: stop at once.
    public let drainMillis: UInt64

    public init(drainMillis: UInt64 = 0) {
        self.drainMillis = drainMillis
    }

    /// A restarted agent: every task of `records` whose container may still run is re-adopted
    /// (`resume` returns the `.adopt` actions); tasks whose container was not created yet are
    /// failed as lost (the orchestrator replaces them). Records without a task are dropped (their
    /// containers are not this agent's any more, and the runner removes them).
    public init(restoring records: [String: AgentRecord], drainMillis: UInt64 = 0) {
        self.drainMillis = drainMillis
        for (id, record) in records {
            guard let task = record.task else { continue }
            tasks[id] = Managed(task: task, container: record.container, status: record.status, pid: record.pid,
                                phase: .finished)
        }
    }

    /// The actions that resume a restored agent: re-adopt every container that may still run.
    public mutating func resume(now: Timestamp) -> [AgentAction] {
        var actions = ActionList()
        for id in tasks.keys.sorted() {
            let managed = tasks[id]!
            guard let status = managed.status, !status.state.isTerminal else { continue }
            guard let container = managed.container else {
                lose(id, exit: nil, now: now, reason: "the node restarted before the task's container was created", into: &actions)
                continue
            }
            tasks[id]!.phase = .adopting
            actions.append(.adopt(managed.task, container: container))
        }
        return actions.list
    }

    // MARK: Inputs

    /// The full set of tasks the managers assign to this node, as they know them.
    public mutating func setAssignments(_ assigned: [SwarmTask], now: Timestamp) -> [AgentAction] {
        var actions = ActionList()
        let current = Set(assigned.map(\.id))
        if current != Set(tasks.keys) { actions.persist() }
        for task in assigned { update(task, now: now, into: &actions) }
        for id in tasks.keys.sorted() where !current.contains(id) { forget(id, into: &actions) }
        return actions.list
    }

    /// One thing the runner observed.
    public mutating func handle(_ event: AgentEvent, now: Timestamp) -> [AgentAction] {
        var actions = ActionList()
        switch event {
        case let .prepared(id, container): prepared(id, container, now: now, into: &actions)
        case let .prepareFailed(id, reason):
            guard tasks[id]?.phase == .preparing || tasks[id]?.phase == .stopping else { break }
            finish(id, TaskStatus(timestamp: now, state: .rejected, message: "preparing", err: reason), into: &actions)
        case let .started(id, pid):
            started(id, pid: pid, now: now, into: &actions)
            startAnswered(id, into: &actions)
        case let .startFailed(id, reason):
            if tasks[id]?.phase == .starting {
                finish(id, TaskStatus(timestamp: now, state: .failed, message: "starting", err: reason), into: &actions)
            }
            startAnswered(id, into: &actions)
        case let .health(id, healthy): health(id, healthy: healthy, now: now, into: &actions)
        case let .exited(id, exit):
            guard let phase = tasks[id]?.phase, [.starting, .waitingHealthy, .running, .draining, .adopting].contains(phase) else { break }
            finish(id, Self.exitStatus(exit, container: tasks[id]!.container, now: now), into: &actions)
        case let .stopped(id, exitCode):
            guard let managed = tasks[id], managed.phase == .stopping else { break }
            let shutdown = TaskStatus(timestamp: now, state: .shutdown, message: "shutdown",
                                      containerStatus: ContainerStatus(containerID: managed.container, exitCode: exitCode))
            finish(id, managed.failureAfterStop ?? shutdown, into: &actions)
        case let .adopted(id, pid): adopted(id, pid: pid, now: now, into: &actions)
        case let .adoptionFailed(id, exit):
            guard tasks[id]?.phase == .adopting else { break }
            lose(id, exit: exit, now: now, reason: "its container was gone after the node restarted", into: &actions)
        }
        return actions.list
    }

    /// The time passed: stops every draining task whose drain delay is over. The runner calls it
    /// at (or after) the time of each `.wake` it was given; when a drain is not over yet (a
    /// timer that fired early), it asks again with a `.wake` for the earliest one.
    public mutating func tick(now: Timestamp) -> [AgentAction] {
        var actions = ActionList()
        var next: Timestamp?
        for id in tasks.keys.sorted() {
            guard let managed = tasks[id], managed.phase == .draining, let until = managed.drainUntil else { continue }
            guard until <= now else {
                next = min(next ?? until, until)
                continue
            }
            tasks[id]!.phase = .stopping
            tasks[id]!.drainUntil = nil
            actions.append(.stop(taskID: id, container: managed.container!))
        }
        if let next { actions.append(.wake(at: next)) }
        return actions.list
    }

    // MARK: Outputs

    /// Statuses the managers have not recorded yet: the agent's latest status of each task when
    /// it is newer than the one in the last assignments.
    public func pendingReports() -> [TaskStatusUpdate] {
        tasks.keys.sorted().compactMap { id in
            let managed = tasks[id]!
            guard let status = managed.status, Self.isNewer(status, than: managed.task.status) else { return nil }
            return TaskStatusUpdate(taskID: id, status: status)
        }
    }

    /// What to persist: every task the agent knows, with its container, status and pid.
    public var records: [String: AgentRecord] {
        tasks.mapValues { AgentRecord(task: $0.task, container: $0.container, status: $0.status, pid: $0.pid) }
    }

    /// The container of task `taskID` on this node (for logs and chaos actions).
    public func container(ofTask taskID: String) -> String? { tasks[taskID]?.container }

    /// The managers' latest view of task `taskID`, if the agent knows it.
    public func task(_ taskID: String) -> SwarmTask? { tasks[taskID]?.task }

    /// The containers the agent owns (any state): everything else the runner finds is a leftover.
    public var containers: Set<String> { Set(tasks.values.compactMap(\.container)) }

    /// Tasks whose container runs or is being started or adopted (what a node that leaves must stop).
    public var activeContainers: [(taskID: String, container: String)] {
        tasks.keys.sorted().compactMap { id in
            let managed = tasks[id]!
            guard let container = managed.container, managed.phase != .finished else { return nil }
            return (id, container)
        }
    }

    /// The agent's status is news when its state is further along, or the same state later.
    public static func isNewer(_ status: TaskStatus, than recorded: TaskStatus) -> Bool {
        status.state > recorded.state || (status.state == recorded.state && status.timestamp > recorded.timestamp && status != recorded)
    }

    /// Whether Docker's `Healthcheck` describes a probe (`CMD` or `CMD-SHELL` with a command);
    /// `NONE` or an empty test means none. A task with a probe runs only once healthy.
    public static func hasHealthCheck(_ config: HealthConfig?) -> Bool {
        guard let test = config?.test, let kind = test.first, test.count >= 2 else { return false }
        return kind == "CMD" || kind == "CMD-SHELL"
    }

    // MARK: Deciding

    /// Records the managers' view of `task` and decides what to do about it.
    private mutating func update(_ task: SwarmTask, now: Timestamp, into actions: inout ActionList) {
        guard tasks[task.id] != nil else { return arrive(task, now: now, into: &actions) }
        tasks[task.id]!.task = task
        if task.desiredState > .running { requestStop(task.id, now: now, into: &actions) }
    }

    /// A task this agent has not seen before.
    private mutating func arrive(_ task: SwarmTask, now: Timestamp, into actions: inout ActionList) {
        var managed = Managed(task: task, phase: .finished)
        defer { tasks[task.id] = managed }
        guard !task.status.state.isTerminal else { return }
        if task.desiredState <= .running && task.status.state >= .accepted {
            // The managers think it runs here but this agent never had it (its records are gone).
            managed.status = TaskStatus(timestamp: now, state: .failed, message: "started",
                                        err: "the agent restarted and the task's process was lost")
            actions.report()
        } else if task.desiredState <= .running {
            managed.status = TaskStatus(timestamp: now, state: .preparing, message: "preparing")
            managed.phase = .preparing
            actions.append(.prepare(task))
            actions.report()
        } else {
            managed.status = TaskStatus(timestamp: now, state: .shutdown, message: "shutdown before start")
            actions.report()
        }
    }

    /// The managers want the task stopped.
    private mutating func requestStop(_ id: String, now: Timestamp, into actions: inout ActionList) {
        let managed = tasks[id]!
        switch managed.phase {
        case .preparing:
            // The prepared container is removed when `.prepared` arrives.
            tasks[id]!.phase = .stopping
        case .running where drainMillis > 0 && !(managed.task.networksAttachments ?? []).isEmpty:
            let until = Timestamp(millisecondsSinceEpoch: now.millisecondsSinceEpoch + drainMillis)
            tasks[id]!.phase = .draining
            tasks[id]!.drainUntil = until
            actions.append(.wake(at: until))
        case .waitingToStart:
            // Never started: nothing to stop; the container stays for `forget` to remove.
            startQueue.removeAll { $0 == id }
            finish(id, TaskStatus(timestamp: now, state: .shutdown, message: "shutdown before start"), into: &actions)
        case .starting, .waitingHealthy, .running, .adopting:
            tasks[id]!.phase = .stopping
            actions.append(.stop(taskID: id, container: managed.container!))
        case .draining, .stopping, .finished:
            break
        }
    }

    /// A task no longer assigned here: stop it if it runs, remove its container, forget it.
    private mutating func forget(_ id: String, into actions: inout ActionList) {
        guard let managed = tasks.removeValue(forKey: id) else { return }
        if managed.phase == .waitingToStart { startQueue.removeAll { $0 == id } }
        guard let container = managed.container else { return }
        actions.append(.remove(taskID: id, container: container, stopFirst: managed.phase != .finished))
    }

    private mutating func prepared(_ id: String, _ container: String, now: Timestamp, into actions: inout ActionList) {
        guard let managed = tasks[id], managed.phase == .preparing || managed.phase == .stopping, managed.container == nil else {
            // Forgotten while it was being prepared: the container is nobody's.
            actions.append(.remove(taskID: id, container: container, stopFirst: false))
            return
        }
        if managed.phase == .stopping {
            actions.append(.remove(taskID: id, container: container, stopFirst: false))
            finish(id, TaskStatus(timestamp: now, state: .shutdown, message: "shutdown before start"), into: &actions)
            return
        }
        tasks[id]!.container = container
        tasks[id]!.phase = .waitingToStart
        setStatus(id, TaskStatus(timestamp: now, state: .starting, message: "starting"), into: &actions)
        startQueue.append(id)
        startWaiting(into: &actions)
    }

    /// Sends `.start` for waiting tasks, first prepared first, while start slots are free.
    private mutating func startWaiting(into actions: inout ActionList) {
        while startsInFlight.count < maxConcurrentStarts, !startQueue.isEmpty {
            let id = startQueue.removeFirst()
            guard let managed = tasks[id], managed.phase == .waitingToStart, let container = managed.container else {
                preconditionFailure("task \(id) in the start queue is not waiting to start")
            }
            tasks[id]!.phase = .starting
            startsInFlight.insert(id)
            actions.append(.start(taskID: id, container: container))
        }
    }

    /// A `.start` was answered: its slot goes to the next waiting task.
    private mutating func startAnswered(_ id: String, into actions: inout ActionList) {
        guard startsInFlight.remove(id) != nil else { return }
        startWaiting(into: &actions)
    }

    private mutating func started(_ id: String, pid: Int64?, now: Timestamp, into actions: inout ActionList) {
        guard let managed = tasks[id], managed.phase == .starting || managed.phase == .stopping else { return }
        tasks[id]!.pid = pid
        actions.persist()
        guard managed.phase == .starting, let container = managed.container else { return }
        let containerStatus = ContainerStatus(containerID: container, pid: pid)
        if Self.hasHealthCheck(managed.task.spec.containerSpec.healthcheck) {
            // A task with a health check counts as running only once it is healthy.
            tasks[id]!.phase = .waitingHealthy
            setStatus(id, TaskStatus(timestamp: now, state: .starting, message: "waiting for the health check",
                                     containerStatus: containerStatus), into: &actions)
            actions.append(.watchHealth(taskID: id, container: container))
        } else {
            tasks[id]!.phase = .running
            setStatus(id, TaskStatus(timestamp: now, state: .running, message: "started", containerStatus: containerStatus), into: &actions)
        }
    }

    /// Healthy makes a waiting task running; unhealthy stops it and reports it failed, so the
    /// restart policy replaces it.
    private mutating func health(_ id: String, healthy: Bool, now: Timestamp, into actions: inout ActionList) {
        guard let managed = tasks[id], let container = managed.container else { return }
        if healthy {
            guard managed.phase == .waitingHealthy else { return }
            tasks[id]!.phase = .running
            setStatus(id, TaskStatus(timestamp: now, state: .running, message: "started",
                                     containerStatus: ContainerStatus(containerID: container, pid: managed.pid)), into: &actions)
            return
        }
        guard managed.phase == .waitingHealthy || managed.phase == .running else { return }
        tasks[id]!.phase = .stopping
        tasks[id]!.failureAfterStop = TaskStatus(timestamp: now, state: .failed, message: "started", err: "task: unhealthy container",
                                                 containerStatus: ContainerStatus(containerID: container))
        actions.append(.stop(taskID: id, container: container))
    }

    private mutating func adopted(_ id: String, pid: Int64?, now: Timestamp, into actions: inout ActionList) {
        guard let managed = tasks[id], managed.phase == .adopting, let container = managed.container else { return }
        adoptedCount += 1
        tasks[id]!.pid = pid ?? managed.pid
        let waiting = (managed.status?.state ?? .starting) < .running
        let checked = Self.hasHealthCheck(managed.task.spec.containerSpec.healthcheck)
        if waiting && !checked {
            // It had started but the running status was not recorded before the restart.
            tasks[id]!.phase = .running
            setStatus(id, TaskStatus(timestamp: now, state: .running, message: "started",
                                     containerStatus: ContainerStatus(containerID: container, pid: tasks[id]!.pid)), into: &actions)
        } else {
            tasks[id]!.phase = waiting ? .waitingHealthy : .running
        }
        if checked { actions.append(.watchHealth(taskID: id, container: container)) }
        actions.persist()
        if managed.task.desiredState > .running { requestStop(id, now: now, into: &actions) }
    }

    /// A task whose container is gone after a restart (or never existed): failed, or how its
    /// container ended when the executor knows.
    private mutating func lose(_ id: String, exit: TaskExit?, now: Timestamp, reason: String, into actions: inout ActionList) {
        lostCount += 1
        let status = exit.map { Self.exitStatus($0, container: tasks[id]?.container, now: now) }
            ?? TaskStatus(timestamp: now, state: .failed, message: "started", err: "task lost: \(reason)")
        finish(id, status, into: &actions)
    }

    /// Docker's texts: complete for exit 0, failed with the code otherwise.
    static func exitStatus(_ exit: TaskExit, container: String?, now: Timestamp) -> TaskStatus {
        let containerStatus = ContainerStatus(containerID: container, exitCode: exit.code)
        if exit.oomKilled {
            return TaskStatus(timestamp: now, state: .failed, message: "started",
                              err: "task: killed by the kernel at its memory limit (OOM), exit code 137", containerStatus: containerStatus)
        }
        if exit.code == 0 { return TaskStatus(timestamp: now, state: .complete, message: "finished", containerStatus: containerStatus) }
        return TaskStatus(timestamp: now, state: .failed, message: "started", err: "task: non-zero exit (\(exit.code))",
                          containerStatus: containerStatus)
    }

    private mutating func finish(_ id: String, _ status: TaskStatus, into actions: inout ActionList) {
        tasks[id]!.phase = .finished
        tasks[id]!.failureAfterStop = nil
        tasks[id]!.drainUntil = nil
        setStatus(id, status, into: &actions)
    }

    /// Sets the task's status, forward only; persists and reports it.
    private mutating func setStatus(_ id: String, _ status: TaskStatus, into actions: inout ActionList) {
        let current = tasks[id]!.status?.state ?? .assigned
        precondition(status.state >= current, "task \(id): status may not move back from \(current) to \(status.state)")
        tasks[id]!.status = status
        actions.persist()
        actions.report()
    }
}

/// Actions in order, with `.persist` and `.report` at most once each, at the end.
struct ActionList {
    private var actions: [AgentAction] = []
    private var persists = false
    private var reports = false

    mutating func append(_ action: AgentAction) { actions.append(action) }
    mutating func persist() { persists = true }
    mutating func report() {
        persists = true
        reports = true
    }

    var list: [AgentAction] { actions + (persists ? [.persist] : []) + (reports ? [.report] : []) }
}
