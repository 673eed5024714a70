import ClusterState
import Dispatch
import Executor
import Foundation
import Platform

/// The worker side of the dispatcher, on every node: it receives the tasks the managers assign
/// to this node, drives the executor so that what runs matches their desired states, and keeps
/// the status of each task, to be reported until the managers have recorded it.
///
/// It exists apart from the node shell so its rules (when to start, stop, remove, what to
/// report) are testable with a fake executor. Executor calls block, so each task has its own
/// serial queue; the agent's state is guarded by one lock and no call into the agent blocks.
public final class Agent: @unchecked Sendable {
    /// One task as the agent knows it.
    struct ManagedTask {
        /// The managers' latest view of the task (desired state, their recorded status).
        var task: SwarmTask
        var container: ContainerID?
        /// The newest status the agent has produced (nil: nothing yet).
        var status: TaskStatus?
        /// The agent asked the container to stop (its exit is then a shutdown, not a failure).
        var stopping = false
        /// The main process id while it runs (to end leftovers after an agent restart).
        var pid: Int32?
        var queue: DispatchQueue
    }

    private let dataDirectory: String
    private let executor: any Executor
    private let now: @Sendable () -> Timestamp
    private let onReport: @Sendable () -> Void
    private let lock = NSLock()
    private var tasks: [String: ManagedTask] = [:]
    private let store: AgentStore
    /// Secrets and configs delivered to this node (memory only); the node shell applies each
    /// assignment message's payloads here before `setAssignments`.
    public let payloads = AgentPayloads()

    /// Loads `DATA/worker/` (creating it) and resumes: tasks that were running before a restart
    /// and whose containers the executor no longer knows are reported failed, so the
    /// orchestrator replaces them; their leftover processes are ended.
    public init(dataDirectory: String, executor: any Executor, now: @escaping @Sendable () -> Timestamp,
                onReport: @escaping @Sendable () -> Void) throws {
        self.dataDirectory = dataDirectory
        self.executor = executor
        self.now = now
        self.onReport = onReport
        store = try AgentStore(directory: dataDirectory + "/worker")
        resume(store.load())
    }

    // MARK: Public API

    /// The full set of tasks the managers currently assign to this node, as they know them.
    public func setAssignments(_ assigned: [SwarmTask]) {
        var actions: [() -> Void] = []
        let membershipChanged: Bool = lock.withLock {
            let current = Set(assigned.map(\.id))
            let changed = current != Set(tasks.keys)
            for task in assigned { actions += update(task) }
            for id in tasks.keys.sorted() where !current.contains(id) { actions += forget(id) }
            return changed
        }
        for action in actions { action() }
        // Status changes persist as they happen; here only a changed set of tasks needs writing.
        if membershipChanged { persist() }
    }

    /// Statuses the managers have not recorded yet: the agent's latest status of each task
    /// when it is newer than the one in the last assignments.
    public func pendingReports() -> [TaskStatusUpdate] {
        lock.withLock {
            tasks.keys.sorted().compactMap { id in
                let managed = tasks[id]!
                guard let status = managed.status, Self.isNewer(status, than: managed.task.status) else { return nil }
                return TaskStatusUpdate(taskID: id, status: status)
            }
        }
    }

    /// The container running task `taskID` on this node (for logs and chaos actions).
    public func container(ofTask taskID: String) -> ContainerID? {
        lock.withLock { tasks[taskID]?.container }
    }

    /// Stops every container this agent runs (node shutdown); blocks until they have stopped.
    public func shutdown() {
        let running: [(ContainerID, DispatchQueue)] = lock.withLock {
            tasks.values.compactMap { managed in
                guard let container = managed.container, managed.status.map({ !$0.state.isTerminal }) ?? false else { return nil }
                return (container, managed.queue)
            }
        }
        let group = DispatchGroup()
        for (container, queue) in running {
            queue.async(group: group) { [executor] in _ = try? executor.stop(container) }
        }
        group.wait()
    }

    /// The agent's status is news when its state is further along, or the same state later.
    static func isNewer(_ status: TaskStatus, than recorded: TaskStatus) -> Bool {
        status.state > recorded.state || (status.state == recorded.state && status.timestamp > recorded.timestamp && status != recorded)
    }

    // MARK: Deciding (under the lock)

    /// Records the managers' view of `task` and returns what to do about it.
    private func update(_ task: SwarmTask) -> [() -> Void] {
        guard var managed = tasks[task.id] else {
            var fresh = ManagedTask(task: task, queue: DispatchQueue(label: "swarmctl-agent-\(task.id)"))
            if task.desiredState <= .running && task.status.state >= .accepted && !task.status.state.isTerminal {
                // The managers think it runs here but this agent never started it (it restarted
                // and lost it, or its state file is gone): report it lost.
                fresh.status = TaskStatus(timestamp: now(), state: .failed, message: "started",
                                          err: "the agent restarted and the task's process was lost")
                tasks[task.id] = fresh
                return [onReport]
            }
            tasks[task.id] = fresh
            if task.desiredState <= .running && !task.status.state.isTerminal { return [start(task.id)] }
            if task.desiredState > .running && !task.status.state.isTerminal {
                tasks[task.id]!.status = TaskStatus(timestamp: now(), state: .shutdown, message: "shutdown before start")
                return [onReport]
            }
            return []
        }
        managed.task = task
        tasks[task.id] = managed
        let local = managed.status?.state ?? .assigned
        if task.desiredState > .running && !local.isTerminal && !managed.stopping {
            tasks[task.id]!.stopping = true
            if managed.container == nil && local < .starting {
                tasks[task.id]!.status = TaskStatus(timestamp: now(), state: .shutdown, message: "shutdown before start")
                return [onReport]
            }
            return [stop(task.id)]
        }
        return []
    }

    /// A task no longer assigned here: stop it if it runs, remove its container, forget it.
    private func forget(_ id: String) -> [() -> Void] {
        guard let managed = tasks.removeValue(forKey: id) else { return [] }
        guard let container = managed.container else { return [] }
        let running = !(managed.status?.state.isTerminal ?? true)
        return [{ [executor] in
            managed.queue.async {
                if running { _ = try? executor.stop(container) }
                try? executor.remove(container)
            }
        }]
    }

    // MARK: Acting (on the task's queue)

    private func start(_ id: String) -> () -> Void {
        let queue = tasks[id]!.queue
        let task = tasks[id]!.task
        return { [self] in
            queue.async { [self] in run(task) }
        }
    }

    private func run(_ task: SwarmTask) {
        record(task.id, TaskStatus(timestamp: now(), state: .accepted, message: "accepted"))
        guard shouldContinue(task.id) else { return }
        record(task.id, TaskStatus(timestamp: now(), state: .preparing, message: "preparing"))
        let container: ContainerID
        do {
            var spec = TaskSpecMapping.spec(for: task, nodeDirectory: dataDirectory)
            spec.files = try payloads.files(for: task)
            container = try executor.prepare(spec)
        } catch {
            return record(task.id, TaskStatus(timestamp: now(), state: .rejected, message: "preparing", err: "\(error)"))
        }
        lock.withLock { tasks[task.id]?.container = container }
        guard shouldContinue(task.id) else { return }
        record(task.id, TaskStatus(timestamp: now(), state: .starting, message: "starting"))
        do {
            try executor.start(container) { [self] exit in exited(task.id, exit) }
        } catch {
            return record(task.id, TaskStatus(timestamp: now(), state: .failed, message: "starting", err: "\(error)"))
        }
        let pid = (try? executor.inspect(container).pid).flatMap { $0 }
        lock.withLock { tasks[task.id]?.pid = pid }
        if let check = TaskSpecMapping.healthCheck(task.spec.containerSpec.healthcheck) {
            // A task with a health check counts as running only once it is healthy.
            record(task.id, TaskStatus(timestamp: now(), state: .starting, message: "waiting for the health check",
                                       containerStatus: ContainerStatus(containerID: container.rawValue, pid: pid.map(Int64.init))))
            return watchHealth(task.id, container, pid: pid, every: min(500, max(50, check.intervalMillis / 2)))
        }
        markRunning(task.id, container, pid: pid)
    }

    private func markRunning(_ id: String, _ container: ContainerID, pid: Int32?) {
        record(id, TaskStatus(timestamp: now(), state: .running, message: "started",
                              containerStatus: ContainerStatus(containerID: container.rawValue, pid: pid.map(Int64.init))),
               onlyBefore: .running)
    }

    /// Follows the executor's health verdict on the task's queue: healthy makes the task
    /// running; unhealthy stops it and reports it failed, so the restart policy replaces it.
    private func watchHealth(_ id: String, _ container: ContainerID, pid: Int32?, every millis: Int) {
        guard let queue = lock.withLock({ tasks[id]?.queue }) else { return }
        queue.asyncAfter(deadline: .now() + .milliseconds(millis)) { [self] in
            let (stopping, state) = lock.withLock { (tasks[id]?.stopping ?? true, tasks[id]?.status?.state ?? .shutdown) }
            guard !stopping, !state.isTerminal else { return }
            switch (try? executor.inspect(container))?.health {
            case .healthy?:
                markRunning(id, container, pid: pid)
            case .unhealthy?:
                lock.withLock { tasks[id]?.stopping = true }
                let exit = try? executor.stop(container)
                record(id, TaskStatus(timestamp: now(), state: .failed, message: "started", err: "task: unhealthy container",
                                      containerStatus: ContainerStatus(containerID: container.rawValue, exitCode: exit.map { Int64($0.exitCode) })))
                return
            default:
                break
            }
            watchHealth(id, container, pid: pid, every: millis)
        }
    }

    /// False (after reporting shutdown) when the task was told to stop while it was starting.
    private func shouldContinue(_ id: String) -> Bool {
        let stopping = lock.withLock { tasks[id]?.stopping ?? true }
        guard stopping else { return true }
        record(id, TaskStatus(timestamp: now(), state: .shutdown, message: "shutdown before start"))
        if let container = lock.withLock({ tasks[id]?.container }) { try? executor.remove(container) }
        return false
    }

    private func stop(_ id: String) -> () -> Void {
        let queue = tasks[id]!.queue
        return { [self] in
            queue.async { [self] in
                guard let container = lock.withLock({ tasks[id]?.container }) else { return }
                let exit = try? executor.stop(container)
                record(id, TaskStatus(timestamp: now(), state: .shutdown, message: "shutdown",
                                      containerStatus: ContainerStatus(containerID: container.rawValue, exitCode: exit.map { Int64($0.exitCode) })))
            }
        }
    }

    /// The container ended (on the executor's thread): complete, failed, or — when the agent
    /// stopped it — shutdown (reported by `stop`).
    private func exited(_ id: String, _ exit: ExitStatus) {
        let (stopping, container) = lock.withLock { (tasks[id]?.stopping ?? true, tasks[id]?.container) }
        guard !stopping else { return }
        let containerStatus = ContainerStatus(containerID: container?.rawValue, exitCode: Int64(exit.exitCode))
        switch exit {
        case .exited(code: 0):
            record(id, TaskStatus(timestamp: now(), state: .complete, message: "finished", containerStatus: containerStatus))
        case .oomKilled:
            record(id, TaskStatus(timestamp: now(), state: .failed, message: "started",
                                  err: "task: killed by the kernel at its memory limit (OOM), exit code 137", containerStatus: containerStatus))
        default:
            record(id, TaskStatus(timestamp: now(), state: .failed, message: "started",
                                  err: "task: non-zero exit (\(exit.exitCode))", containerStatus: containerStatus))
        }
    }

    /// Sets the task's status (forward only; `onlyBefore` skips it once the task got that far
    /// or further, e.g. "running" after the process already exited), persists, tells the shell.
    private func record(_ id: String, _ status: TaskStatus, onlyBefore limit: TaskState? = nil) {
        let changed: Bool = lock.withLock {
            guard var managed = tasks[id] else { return false }
            let current = managed.status?.state ?? .assigned
            if let limit, current >= limit { return false }
            guard status.state >= current else { return false }
            managed.status = status
            tasks[id] = managed
            return true
        }
        guard changed else { return }
        persist()
        onReport()
    }

    // MARK: Persistence

    private func persist() {
        let records = lock.withLock {
            tasks.mapValues { AgentStore.Record(container: $0.container?.rawValue, status: $0.status, pid: $0.pid) }
        }
        store.save(records)
    }

    /// After a restart the executor knows none of the old containers, so their leftover
    /// processes are ended here; the tasks themselves are reported lost when the managers'
    /// assignments arrive (`update` sees a task they think runs that this agent never started).
    private func resume(_ records: [String: AgentStore.Record]) {
        for record in records.values {
            guard let status = record.status, !status.state.isTerminal, let pid = record.pid else { continue }
            LeftoverProcesses.end(pid: pid, nodeDirectory: dataDirectory)
        }
    }
}
