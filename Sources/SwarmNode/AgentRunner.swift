import Agent
import ClusterState
import Dispatch
import Executor
import Networking
import Platform

/// Carries out what the pure `AgentCore` decides, with the node's executor: executor calls on a
/// serial queue per task (they block), health checks polled by loop timers, the records saved on
/// a queue of their own, and every outcome fed back to the core as an `AgentEvent` on the loop.
///
/// It exists so that the agent's decisions stay pure (the simulator runs the same core) while
/// the clocks, threads, files and processes live here, in the node shell. All methods except
/// `stopAll` run on the node's loop thread, which owns the core.
final class AgentRunner: @unchecked Sendable {
    let executor: any Executor
    /// Secrets and configs delivered to this node (memory only); the node shell applies each
    /// assignment message's payloads here before the tasks reach the core.
    let payloads = AgentPayloads()
    /// The node's task networking: a task with network attachments joins the namespace it
    /// prepares, or is rejected with the reason this node cannot (nil: the node has none, same).
    let networking: NodeNetworkRunner?
    /// Runs on the loop when a local task's health verdict changed (its place in load balancing).
    var onHealthChange: () -> Void = {}
    private let loop: EventLoop
    private let nodeDirectory: String
    private let logger: NodeLogger
    private let store: AgentStore
    private let onReport: () -> Void
    private var core: AgentCore
    private var queues: [String: DispatchQueue] = [:]
    private var healthWatches: [String: (timer: TimerHandle, healthy: Bool?)] = [:]
    private let saver: RecordSaver
    private var persistScheduled = false

    /// Loads the records of `DATA/worker/` (creating it). `onReport` runs on the loop whenever a
    /// status changed.
    init(executor: any Executor, loop: EventLoop, nodeDirectory: String, logger: NodeLogger, drainMillis: UInt64 = 0,
         networking: NodeNetworkRunner? = nil, onReport: @escaping () -> Void) throws {
        self.executor = executor
        self.networking = networking
        self.loop = loop
        self.nodeDirectory = nodeDirectory
        self.logger = logger
        self.onReport = onReport
        store = try AgentStore(directory: nodeDirectory + "/worker")
        saver = RecordSaver(store: store, logger: logger)
        var records: [String: AgentRecord] = [:]
        do { records = try store.load() } catch { logger.error("agent: \(error)") }
        core = AgentCore(restoring: records, drainMillis: drainMillis)
        core.maxConcurrentStarts = try StartSlots.count()
    }

    /// On the loop, once: removes what a previous run left that is not the agent's, then
    /// re-adopts the agent's containers that may still run.
    func start() {
        let keeping = Set(core.containers.map(ContainerID.init))
        do {
            let removed = try executor.removeLeftovers(keeping: keeping)
            if !removed.isEmpty { logger.warn("agent: removed \(removed.count) containers that no task of this node owns") }
        } catch {
            logger.warn("agent: could not list the containers a previous run left (\(error)); they stay until the next start")
        }
        let actions = core.resume(now: Clock.now())
        let adopting = actions.filter { if case .adopt = $0 { return true } else { return false } }.count
        if adopting > 0 { logger.info("agent: re-adopting \(adopting) containers started by a previous run of this node") }
        perform(actions)
    }

    /// The full set of tasks the managers assign to this node.
    func setAssignments(_ tasks: [SwarmTask]) {
        perform(core.setAssignments(tasks, now: Clock.now()))
    }

    func pendingReports() -> [TaskStatusUpdate] { core.pendingReports() }

    func container(ofTask taskID: String) -> ContainerID? { core.container(ofTask: taskID).map(ContainerID.init) }

    var adoptedCount: Int { core.adoptedCount }

    /// The health verdicts of local tasks with a health check, for the network plan: such a task
    /// is in load balancing only while healthy.
    var localHealth: [String: NodePlanBuilder.Health] {
        healthWatches.mapValues { NodePlanBuilder.Health(hasHealthCheck: true, healthy: $0.healthy == true) }
    }

    /// Stops every container of this node's tasks and waits for them (the node leaves the swarm,
    /// or an in-process node stops). Call from any thread but the loop.
    func stopAll() {
        guard let active = try? loop.executeAndWait({ [self] in
            core.activeContainers.map { ($0.container, queue($0.taskID)) }
        }) else { return }
        let group = DispatchGroup()
        for (container, queue) in active {
            queue.async(group: group) { [executor] in _ = try? executor.stop(ContainerID(container)) }
        }
        group.wait()
    }

    /// Waits until the records saved so far are on disk (the node process is about to exit).
    func flushRecords() {
        saver.flush()
    }

    // MARK: Carrying out actions

    private func perform(_ actions: [AgentAction]) {
        for action in actions {
            switch action {
            case let .prepare(task): prepare(task)
            case let .start(id, container): start(id, ContainerID(container))
            case let .watchHealth(id, container): watchHealth(id, ContainerID(container))
            case let .stop(id, container):
                queue(id).async { [self] in
                    let exit = try? executor.stop(ContainerID(container))
                    post(.stopped(taskID: id, exitCode: exit.map { Int64($0.exitCode) }))
                }
            case let .remove(id, container, stopFirst):
                queue(id).async { [executor] in
                    if stopFirst { _ = try? executor.stop(ContainerID(container)) }
                    try? executor.remove(ContainerID(container))
                }
                queues[id] = nil
            case let .adopt(task, container): adopt(task, ContainerID(container))
            case .persist: schedulePersist()
            case .report: onReport()
            case let .wake(at):
                let delay = Int(at.millisecondsSinceEpoch) - Int(Clock.now().millisecondsSinceEpoch)
                _ = loop.schedule(afterMillis: max(0, delay)) { [self] in perform(core.tick(now: Clock.now())) }
            }
        }
    }

    private func prepare(_ task: SwarmTask) {
        let spec = TaskSpecMapping.spec(for: task, nodeDirectory: nodeDirectory)
        let attached = !(task.networksAttachments ?? []).isEmpty
        StartTrace.shared?.mark(task.id, .assigned)
        queue(task.id).async { [self] in
            StartTrace.shared?.mark(task.id, .prepareBegin)
            do {
                // A task whose secret or config did not arrive is rejected, never started without it.
                var withFiles = spec
                withFiles.files = try payloads.files(for: task)
                // A task on a network joins its namespace (set up by now), or is rejected: never the host network.
                if attached { withFiles.networkNamespacePath = try namespacePath(of: task.id) }
                let container = try executor.prepare(withFiles)
                StartTrace.shared?.mark(task.id, .prepared)
                post(.prepared(taskID: task.id, container: container.rawValue))
            } catch {
                post(.prepareFailed(taskID: task.id, reason: "\(error)"))
            }
        }
    }

    /// Off the loop: waits until the task's namespace is set up (`NodeNetworkRunner`).
    private func namespacePath(of taskID: String) throws -> String {
        guard let networking else {
            throw NodeError("task \(taskID) has network attachments (--network, --publish) but this node runs no task networking")
        }
        return try networking.namespacePath(forTask: taskID)
    }

    private func start(_ id: String, _ container: ContainerID) {
        queue(id).async { [self] in
            StartTrace.shared?.mark(id, .startBegin)
            do {
                try executor.start(container) { [self] exit in post(.exited(taskID: id, Self.taskExit(exit))) }
            } catch {
                return post(.startFailed(taskID: id, reason: "\(error)"))
            }
            let pid = (try? executor.inspect(container).pid).flatMap { $0 }
            StartTrace.shared?.mark(id, .started)
            post(.started(taskID: id, pid: pid.map(Int64.init)))
        }
    }

    private func adopt(_ task: SwarmTask, _ container: ContainerID) {
        let spec = TaskSpecMapping.spec(for: task, nodeDirectory: nodeDirectory)
        queue(task.id).async { [self] in
            let adoption: Adoption
            do {
                adoption = try executor.adopt(container, spec: spec) { [self] exit in post(.exited(taskID: task.id, Self.taskExit(exit))) }
            } catch {
                logger.warn("agent: could not re-adopt container \(container) of task \(task.id): \(error)")
                adoption = .gone
            }
            switch adoption {
            case let .running(pid):
                logger.info("agent: re-adopted container \(container) of task \(task.id) (pid \(pid.map(String.init) ?? "?"))")
                post(.adopted(taskID: task.id, pid: pid.map(Int64.init)))
            case let .exited(status): post(.adoptionFailed(taskID: task.id, exit: Self.taskExit(status)))
            case .gone: post(.adoptionFailed(taskID: task.id, exit: nil))
            }
        }
    }

    /// Polls the executor's health verdict (cheap: it is kept by the executor's own monitor)
    /// and tells the core when it changes, until the container no longer runs.
    private func watchHealth(_ id: String, _ container: ContainerID) {
        guard healthWatches[id] == nil else { return }
        let interval = core.task(id).flatMap { TaskSpecMapping.healthCheck($0.spec.containerSpec.healthcheck)?.intervalMillis } ?? 1_000
        let timer = loop.scheduleRepeating(everyMillis: min(500, max(50, interval / 2))) { [self] in pollHealth(id, container) }
        healthWatches[id] = (timer, nil)
    }

    private func pollHealth(_ id: String, _ container: ContainerID) {
        guard let watch = healthWatches[id] else { return }
        guard core.container(ofTask: id) == container.rawValue, let info = try? executor.inspect(container), info.state == .running else {
            _ = loop.cancel(watch.timer)
            healthWatches[id] = nil
            return
        }
        let verdict: Bool? = switch info.health {
        case .healthy?: true
        case .unhealthy?: false
        default: nil
        }
        guard let verdict, verdict != watch.healthy else { return }
        healthWatches[id]!.healthy = verdict
        perform(core.handle(.health(taskID: id, healthy: verdict), now: Clock.now()))
        onHealthChange()
    }

    /// Feeds an executor outcome to the core, on the loop.
    private func post(_ event: AgentEvent) {
        _ = loop.execute { [self] in perform(core.handle(event, now: Clock.now())) }
    }

    private func queue(_ id: String) -> DispatchQueue {
        if let queue = queues[id] { return queue }
        let queue = DispatchQueue(label: "swarmctl-agent-\(id)")
        queues[id] = queue
        return queue
    }

    /// Hands the records to the saver once per loop iteration (it saves the newest snapshot, off
    /// the loop); a failure is logged with what to do (the next change tries again).
    private func schedulePersist() {
        guard !persistScheduled else { return }
        persistScheduled = true
        loop.afterCurrentIteration { [self] in
            persistScheduled = false
            saver.save(core.records)
        }
    }

    static func taskExit(_ exit: ExitStatus) -> TaskExit {
        TaskExit(code: Int64(exit.exitCode), oomKilled: exit == .oomKilled)
    }
}
