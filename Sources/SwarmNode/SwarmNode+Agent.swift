import ClusterState
import Dispatcher
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
        let runtimePath = configuration.runtime == "auto" ? RuntimeHostCheck.preferredRuntime() : OCIRuntime.find(names: [configuration.runtime])
        if configuration.runtime != "auto" && runtimePath == nil && kind != .process {
            throw NodeError("runtime \(configuration.runtime) is not installed (not in PATH, /usr/local/sbin, /usr/sbin or /sbin): "
                                          + "install it or use --runtime auto")
        }
        let executor = try ExecutorFactory.make(kind: kind, root: dataDirectory, runtimePath: runtimePath)
        if let oci = executor as? OCIExecutor, let problem = RuntimeHostCheck.problem(runtime: oci.runtime.name) {
            // Refused here, once, instead of failing every task's start.
            throw NodeError(problem)
        }
        if let oci = executor as? OCIExecutor, !oci.runtime.reportsOOMKills {
            logger.warn("runtime \(oci.runtime.path) has no `run --keep` (crun before 1.9): a task killed at its memory limit "
                + "is reported as exit 137 without the OOM reason; use --runtime runc or a newer crun to keep it")
        }
        if let oci = executor as? OCIExecutor, let tree = oci.runtime.cgroupView?.hiddenTree {
            logger.info("\(oci.runtime.name) refuses this host's hybrid cgroup layout (the v2 tree owns controllers): it runs "
                + "in a mount namespace of its own where \(tree) is unmounted, so it sees cgroup v1 only")
        }
        if let oci = executor as? OCIExecutor {
            oci.images.registryPolicy = RegistryPolicy(insecureRegistries: configuration.insecureRegistries)
        } else if !configuration.insecureRegistries.isEmpty {
            logger.warn("insecure-registries has no effect with the process executor: it pulls no images")
        }
        if !(executor is OCIExecutor) && configuration.runtime != "auto" {
            logger.warn("runtime \(configuration.runtime) has no effect with the process executor: it runs no containers")
        }
        logger.info("executor: \(type(of: executor))" + ((executor as? OCIExecutor).map { " with \($0.runtime.name)" } ?? ""))
        taskExecutor = executor
        let networking = NodeNetworkRunner.make(configuration: configuration, nodeID: identity.nodeID, executor: executor, logger: logger)
        if let reason = networking.unavailable { logger.info("networking: this node runs no task networking, and says so to the managers, "
            + "who place no task with network attachments here (one sent anyway is rejected): \(reason)") }
        networkRunner = networking
        let runner = try AgentRunner(executor: executor, loop: loop, nodeDirectory: dataDirectory, logger: logger,
                                     drainMillis: UInt64(configuration.drainDelayMillis), networking: networking) { [weak self] in
            self?.sendTaskReports()
        }
        runner.onHealthChange = { [weak self] in self?.applyNetworkTables() }
        agent = runner
        // Before re-adopting: a no-op until the managers' first full set of tables arrives, so the
        // namespaces of re-adopted tasks stay; that first apply adopts them and removes leftovers.
        applyNetworkTables()
        runner.start()
    }

    /// One message (or part of one) of this node's assignment stream: the agent gets the new task set when it
    /// applied; a hole (a change that does not follow what this node has) asks the managers
    /// for the full set at once instead of acknowledging it.
    func receiveAssignments(_ part: AssignmentMessage, from manager: NodeID) {
        // A message sent in parts (many secrets) is applied once all of them are here.
        guard let message = assignmentAssembler.add(part) else { return }
        switch assignmentReceiver.receive(message) {
        case .applied:
            if manager != identity.transportID { knownLeader = manager }
            agent?.payloads.apply(full: message.kind == .full, payloads: message.payloads, forget: message.forget)
            agent?.setAssignments(assignmentReceiver.sortedTasks)
            sendTaskReports()
        case .needsFullSet:
            dispatcherRunner.noteGapSeen()
            logger.info("assignments: change \(message.version) of stream \(message.session) does not follow "
                + "\(assignmentReceiver.session):\(assignmentReceiver.version): asking for the full set")
            sendHeartbeats()
        case .stale, .waitingForFullSet:
            break
        }
    }

    /// Sends the agent's unrecorded reports to the leader (or buffers them here if this node
    /// is the leader). Repeated every heartbeat until the leader's updates show them recorded.
    func sendTaskReports() {
        guard !isStopped, let reports = agent?.pendingReports(), !reports.isEmpty else { return }
        if let trace = StartTrace.shared {
            for report in reports where report.status.state == .running { trace.mark(report.taskID, .reported) }
        }
        if raft?.role == .leader {
            bufferTaskReports(reports)
            return
        }
        let target = raft.map { $0.leader != noNode ? $0.leader : knownLeader } ?? knownLeader
        guard target != noNode, target != identity.transportID else { return }
        transport.send(application: ApplicationFrame(.taskReports, TaskReports(updates: reports)), to: target)
    }
}
