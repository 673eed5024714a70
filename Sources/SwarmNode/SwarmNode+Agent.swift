import Agent
import ClusterState
import Executor
import Raft
import Transport

// The agent's side of the dispatcher (every node): merge the leader's incremental updates
// into this node's task set, hand it to the agent, and send the agent's reports to the leader.
extension SwarmNode {
    /// Starts the agent with this node's executor (`executor = auto|oci|process`). Called once on
    /// the loop at start.
    func startAgent() throws {
        let kind = ExecutorKind(rawValue: configuration.executor) ?? .auto
        let executor = try ExecutorFactory.make(kind: kind, root: dataDirectory)
        if let oci = executor as? OCIExecutor {
            oci.images.registryPolicy = RegistryPolicy(insecureRegistries: configuration.insecureRegistries)
        } else if !configuration.insecureRegistries.isEmpty {
            logger.warn("insecure-registries has no effect with the process executor: it pulls no images")
        }
        if let oci = executor as? OCIExecutor, let removed = try? oci.removeLeftovers(), !removed.isEmpty {
            logger.warn("removed \(removed.count) containers left by a previous run of this node")
        }
        logger.info("executor: \(type(of: executor))")
        taskExecutor = executor
        agent = try Agent(dataDirectory: dataDirectory, executor: executor, now: { Clock.now() }) { [weak self] in
            guard let self else { return }
            _ = loop.execute { [self] in sendTaskReports() }
        }
    }

    /// Merges one update: newer versions win (updates from an older leader may arrive late),
    /// and tasks missing from the id list are gone unless they are newer than the update.
    func receiveAssignments(_ update: AssignmentUpdate, from manager: NodeID) {
        for task in update.changed {
            if let known = assignedTasks[task.id], known.version.index > task.version.index { continue }
            assignedTasks[task.id] = task
        }
        let current = Set(update.taskIDs)
        assignedTasks = assignedTasks.filter { current.contains($0.key) || $0.value.version.index > update.index }
        assignmentsIndex = update.index
        if manager != identity.transportID { knownLeader = manager }
        agent?.setAssignments(assignedTasks.keys.sorted().map { assignedTasks[$0]! })
        sendTaskReports()
    }

    /// Sends the agent's unrecorded reports to the leader (or buffers them here if this node
    /// is the leader). Repeated every heartbeat until the leader's updates show them recorded.
    func sendTaskReports() {
        guard !isStopped, let reports = agent?.pendingReports(), !reports.isEmpty else { return }
        if raft?.role == .leader {
            bufferTaskReports(reports)
            return
        }
        let target = raft.map { $0.leader != noNode ? $0.leader : knownLeader } ?? knownLeader
        guard target != noNode, target != identity.transportID else { return }
        transport.send(application: ApplicationFrame(.taskReports, TaskReports(updates: reports)), to: target)
    }
}
