import Agent
import ClusterState
import Dispatcher
import Raft

/// The whole control plane in one process on a virtual clock: Raft managers whose committed
/// entries are `ClusterCommand`s applied to one `ClusterState` per manager, a leader running the
/// heartbeat monitor and the orchestrator every `controlLoopMillis`, workers whose agents drive a
/// fake executor and report every task transition, a workload that creates, scales and updates
/// services, and a nemesis that partitions and crashes nodes. Everything derives from one seed.
///
/// Hosts `0..<managers` are managers (drained nodes unless `managersRunTasks`: their agents
/// heartbeat like everyone's); hosts `managers..<managers + workers` are workers. The leader's
/// dispatcher (assignment streams, acknowledgement guard), the agents' end of the stream and the
/// agent core (`AgentCore`) are the shipped types; the fake executor and the network are the simulator's.
/// Invariants are in `ControlPlaneInvariants`; the run ends once every service has converged
/// after the heal and stayed converged for `stabilityMillis`.
public final class ControlPlaneSimulator {
    enum Event {
        case tick(manager: Int)
        case controlLoop(manager: Int)
        case deliver(from: Int, to: Int, payload: Payload)
        case heartbeat(host: Int, incarnation: Int)
        /// Work of a node's fake executor, for the agent core of process `incarnation`.
        case executorWork(host: Int, incarnation: Int, work: FakeExecutorWork)
        /// A fake container ends by itself.
        case containerExit(host: Int, container: String, generation: Int)
        case restartHost(host: Int)
        case workload
        case nemesis
        case healFault(id: Int)
        case healAll
        case probe
        /// The agent runner's timer for a `.wake` of the core of process `incarnation`.
        case agentWake(host: Int, incarnation: Int)
    }

    /// What travels between hosts.
    enum Payload {
        case raft(Message)
        /// The agent's unrecorded reports and the assignment stream it has applied.
        case heartbeat(reports: [TaskStatusUpdate], ack: AssignmentAck, networkAck: NetworkTableAck)
        case heartbeatAck
        /// "I am not the leader; try this host" (nil: no leader known).
        case redirect(leader: Int?)
        /// One message of the receiving node's assignment stream (the shipped protocol).
        case assignments(AssignmentMessage)
        case statusReport([TaskStatusUpdate])
        /// One message of the receiving node's network table stream (the shipped protocol).
        case networkTables(NetworkTableMessage)
    }

    struct Manager {
        var raft: RaftNode
        var disk: SimDisk
        var state = ClusterState()
        var appliedIndex: UInt64 = 0
        var isUp = true
        /// Set once this manager leads and has applied an entry of its own term.
        var loops: (any LeaderControlLoops)?
        var roundLastIndex: UInt64?
        var roundDeadline = 0
        var pendingReports: [String: TaskStatusUpdate] = [:]
        /// The shipped dispatcher's assignment streams and acknowledgement guard, for this
        /// leadership (nil unless it leads and has applied an entry of its term).
        var dispatcher: AssignmentDispatcher?
        var acknowledgements: AcknowledgementGuard?
        /// The shipped dispatcher's network table streams, for this leadership.
        var networkTables: NetworkTableDispatcher?
    }

    let options: ControlPlaneOptions
    let makeLoops: (UInt64) -> any LeaderControlLoops
    var random: SplitMix64
    /// The workload's choices of secrets and configs: a stream of its own, so adding them left
    /// every other draw of a seed as it was.
    var payloadRandom: SplitMix64
    var now = 0
    var queue = EventQueue<Event>()
    var managers: [Manager] = []
    var agents: [SimulatedAgent] = []
    var checker: ControlPlaneInvariants
    var report = ControlPlaneReport()
    var workload = Workload()
    /// Hosts cut off from every other host.
    var isolated: Set<Int> = []
    var faults: [Int: ActiveFault] = [:]
    var nextFaultID = 0
    var faultsPhase = true
    var lastFaultChangeAt = 0
    var healedAt: Int?
    var leaderReadyAfterHealAt: Int?
    var convergedAt: Int?
    var finished = false
    var seenLeaderTerms: Set<UInt64> = []
    /// Decoded commands by index (every manager applies the same committed entry).
    var decoded: [UInt64: (term: UInt64, command: ClusterCommand)] = [:]
    var firstAppliedIndex: UInt64 = 0
    /// Receives a timeline of the run (committed commands, task starts and stops, faults) when set.
    public var trace: ((String) -> Void)?
    /// A copy of a manager's state restored from its snapshot encoding, applying the next
    /// committed command next to the original (`checkNetworking`).
    var snapshotProbe: ClusterState?
    /// A planted bug for tests: changes every assignment message the leader sends (before it is
    /// split), to show the secret delivery invariants catch what it breaks.
    var tamperAssignments: ((inout AssignmentMessage) -> Void)?
    /// Tasks the fake executors are running right now (the ground truth), by task id.
    var running: [String: RunningTask] = [:]

    struct ActiveFault {
        var kind: ControlPlaneFault
        var host: Int
    }

    struct RunningTask {
        var host: Int
        var serviceID: String
        var slot: UInt64?
        var nodeID: String
        var spec: TaskTemplate
    }

    static let epochMillis: UInt64 = 1_767_225_600_000

    public convenience init(options: ControlPlaneOptions) {
        self.init(options: options, loops: { StandardControlLoops(seed: $0) })
    }

    /// `loops` makes the control loops of each new leadership term from a seed.
    public init(options: ControlPlaneOptions, loops: @escaping (UInt64) -> any LeaderControlLoops) {
        precondition(options.managers >= 1 && options.workers >= 1, "at least one manager and one worker")
        self.options = options
        makeLoops = loops
        random = SplitMix64(seed: options.seed ^ 0xC0_47_20_1A_9E_00_00_01)
        payloadRandom = SplitMix64(seed: options.seed ^ 0x5EC2_E75E_C2E7_0001)
        checker = ControlPlaneInvariants(heartbeatPeriodMillis: options.heartbeatPeriodMillis, drainMillis: options.drainMillis)
        let voters = (1...options.managers).map { NodeID($0) }
        for slot in 0..<options.managers {
            let state = PersistentState.bootstrap(voters: voters)
            var config = RaftConfig(id: NodeID(slot + 1), randomSeed: options.seed &* 31 &+ UInt64(slot + 1) &* 1_000_003)
            config.maxInflightMessages = 64
            managers.append(Manager(raft: RaftNode(config: config, state: state), disk: SimDisk(state)))
        }
        for host in 0..<hostCount {
            agents.append(SimulatedAgent(host: host, nodeID: nodeID(host), target: pickIndex(options.managers)))
            agents[agents.count - 1].core = AgentCore(drainMillis: UInt64(options.drainMillis))
        }
    }

    var hostCount: Int { options.managers + options.workers }
    func isManager(_ host: Int) -> Bool { host < options.managers }
    var workerHosts: Range<Int> { options.managers..<hostCount }
    /// Whether host `host` runs task networking (`ControlPlaneOptions.workersWithoutNetworking`).
    func runsTaskNetworking(_ host: Int) -> Bool {
        isManager(host) || host < hostCount - min(options.workersWithoutNetworking, options.workers - 1)
    }

    func nodeID(_ host: Int) -> String {
        if isManager(host) { return "manager-\(host + 1)" }
        let number = host - options.managers + 1
        return number < 10 ? "worker-0\(number)" : "worker-\(number)"
    }

    func timestamp(_ millis: Int) -> Timestamp { Timestamp(millisecondsSinceEpoch: Self.epochMillis + UInt64(max(millis, 0))) }
    var nowStamp: Timestamp { timestamp(now) }

    func pick(_ bound: Int) -> Int { random.below(bound) }
    func pickIndex(_ bound: Int) -> Int { pick(bound) }
    func between(_ low: Int, _ high: Int) -> Int { low + pick(high - low + 1) }
    func chance(_ percent: Int) -> Bool { pick(100) < percent }

    /// Runs the whole schedule and returns what happened.
    public func run() -> ControlPlaneReport {
        report.runs = 1
        for slot in managers.indices {
            queue.schedule(.tick(manager: slot), at: 1 + pick(options.tickMillis))
            queue.schedule(.controlLoop(manager: slot), at: 1 + pick(options.controlLoopMillis))
            drainReady(slot)
        }
        for host in 0..<hostCount {
            queue.schedule(.heartbeat(host: host, incarnation: 0), at: 50 + pick(options.heartbeatPeriodMillis))
        }
        planWorkload()
        planNemesis()
        queue.schedule(.healAll, at: options.durationMillis)
        queue.schedule(.probe, at: 100)
        let end = options.durationMillis + options.settleBoundMillis + options.stabilityMillis + 1_000
        while !finished, checker.violation == nil, let (time, event) = queue.pop(), time <= end {
            now = time
            handle(event)
        }
        if checker.violation == nil && !finished {
            checker.fail("convergence: the run ended unfinished at \(now) ms")
        }
        if checker.violation == nil, let problem = networkTableProblem() { checker.fail(problem) }
        if checker.violation == nil, let problem = payloadDeliveryProblem() { checker.fail(problem) }
        report.entriesCommitted = Int(firstAppliedIndex)
        report.tasksCreated = checker.tasksCreated
        report.updatesCheckedForAvailability = checker.updatesChecked
        report.servicesCreated = workload.services.count
        if let violation = checker.violation {
            report.violations = [ControlPlaneReport.Violation(seed: options.seed, message: violation)]
        } else {
            report.servicesConverged = workload.services.count
        }
        return report
    }

    private func handle(_ event: Event) {
        switch event {
        case let .tick(slot):
            queue.schedule(.tick(manager: slot), at: now + options.tickMillis)
            guard managers[slot].isUp else { return }
            managers[slot].raft.tick()
            drainReady(slot)
        case let .controlLoop(slot):
            queue.schedule(.controlLoop(manager: slot), at: now + options.controlLoopMillis)
            controlLoop(slot)
        case let .deliver(from, to, payload):
            deliver(payload, from: from, to: to)
        case let .heartbeat(host, incarnation):
            agentHeartbeat(host, incarnation: incarnation)
        case let .executorWork(host, incarnation, work):
            executorWork(host, incarnation: incarnation, work: work)
        case let .containerExit(host, container, generation):
            containerExit(host, container: container, generation: generation)
        case let .agentWake(host, incarnation):
            agentWakes(host, incarnation: incarnation)
        case let .restartHost(host):
            restartHostNow(host)
        case .workload:
            workloadStep()
        case .nemesis:
            injectFault()
        case let .healFault(id):
            healFault(id)
        case .healAll:
            healAll()
        case .probe:
            queue.schedule(.probe, at: now + 100)
            probe()
        }
    }

    // MARK: - Network

    func send(_ payload: Payload, from: Int, to: Int) {
        // A manager's own agent reaches it even when the manager is cut off.
        if from != to && (isolated.contains(from) || isolated.contains(to)) { return }
        queue.schedule(.deliver(from: from, to: to, payload: payload), at: now + 1 + pick(5))
    }

    private func deliver(_ payload: Payload, from: Int, to: Int) {
        // A partition that started while the message travelled also drops it.
        if from != to && (isolated.contains(from) || isolated.contains(to)) { return }
        switch payload {
        case let .raft(message):
            guard managers[to].isUp else { return }
            managers[to].raft.step(message)
            drainReady(to)
        case let .heartbeat(reports, ack, networkAck):
            managerReceivesHeartbeat(to, from: from, reports: reports, ack: ack, networkAck: networkAck)
        case let .statusReport(reports):
            managerReceivesReports(to, reports: reports)
        case .heartbeatAck:
            agentReceivesAck(to, from: from)
        case let .redirect(leader):
            agentReceivesRedirect(to, leader: leader)
        case let .assignments(message):
            agentReceivesAssignments(to, message, from: from)
        case let .networkTables(message):
            agentReceivesNetworkTables(to, message)
        }
    }

    // MARK: - Managers: carrying out Ready batches and applying commands

    func drainReady(_ slot: Int) {
        while managers[slot].isUp && managers[slot].raft.hasReady && checker.violation == nil {
            let ready = managers[slot].raft.ready()
            managers[slot].disk.persist(ready)
            for message in ready.messages { send(.raft(message), from: slot, to: Int(message.to) - 1) }
            for entry in ready.committedEntries { apply(entry, on: slot) }
            managers[slot].raft.advance(ready)
            if ready.softState != nil { observeRole(slot) }
        }
    }

    private func observeRole(_ slot: Int) {
        let raft = managers[slot].raft
        if raft.role == .leader {
            if seenLeaderTerms.insert(raft.term).inserted {
                report.leaderChanges += 1
                log("manager-\(slot + 1) leads term \(raft.term)")
            }
        } else if managers[slot].loops != nil {
            stepDown(slot)
        }
    }

    private func stepDown(_ slot: Int) {
        managers[slot].loops = nil
        managers[slot].roundLastIndex = nil
        managers[slot].pendingReports = [:]
        managers[slot].dispatcher = nil
        managers[slot].acknowledgements = nil
        managers[slot].networkTables = nil
    }

    private func apply(_ entry: Entry, on slot: Int) {
        managers[slot].appliedIndex = entry.index
        if entry.kind == .normal && !entry.data.isEmpty {
            let command = decode(entry)
            let result = managers[slot].state.apply(command, index: entry.index)
            if entry.index > firstAppliedIndex {
                firstAppliedIndex = entry.index
                checker.observeCommitted(command, result: result, state: managers[slot].state)
                checkNetworking(command, index: entry.index, state: managers[slot].state)
                if trace != nil { traceCommitted(command, result: result, index: entry.index) }
                observeForUpdateWindows(command, result: result, slot: slot)
            }
        } else if entry.index > firstAppliedIndex {
            firstAppliedIndex = entry.index
        }
        let raft = managers[slot].raft
        if raft.role == .leader && entry.term == raft.term && managers[slot].loops == nil {
            startLeadership(slot)
        }
    }

    func log(_ text: @autoclosure () -> String) {
        guard let trace else { return }
        let millis = String(now % 1000)
        trace("\(now / 1000).\(String(repeating: "0", count: 3 - millis.count))\(millis) \(text())")
    }

    private func traceCommitted(_ command: ClusterCommand, result: Result<Void, ClusterError>, index: UInt64) {
        let outcome: String
        if case let .failure(error) = result { outcome = " REFUSED: \(error)" } else { outcome = "" }
        let text: String
        switch command {
        case let .createTasks(tasks):
            text = "createTasks " + tasks.map { "\($0.id) \($0.serviceID) slot \($0.slot.map(String.init) ?? "-") node \($0.nodeID ?? "-") \($0.spec.containerSpec.image)" }.joined(separator: "; ")
        case let .assignTask(id, node, _): text = "assignTask \(id) → \(node)"
        case let .setTaskDesiredState(id, state, _): text = "setTaskDesiredState \(id) \(state.rawValue)"
        case let .updateTaskStatuses(updates): text = "statuses " + updates.map { "\($0.taskID)=\($0.status.state.rawValue)" }.joined(separator: " ")
        case let .setNodeStatus(id, state, _, _): text = "setNodeStatus \(id) \(state.rawValue)"
        case let .updateService(id, _, spec, _): text = "updateService \(id) \(spec.mode) \(spec.taskTemplate.containerSpec.image) \(spec.updateConfig?.order?.rawValue ?? "-") p\(spec.updateConfig?.parallelism ?? 1)"
        case let .createService(service): text = "createService \(service.id) \(service.spec.name) \(service.spec.mode)"
        case let .setServiceUpdateStatus(id, _, status, _): text = "setServiceUpdateStatus \(id) \(status.state.rawValue)"
        case let .removeTasks(ids): text = "removeTasks \(ids.joined(separator: " "))"
        default: text = "\(command)".prefix(120).description
        }
        log("commit \(index): \(text)\(outcome)")
    }

    private func decode(_ entry: Entry) -> ClusterCommand {
        if let cached = decoded[entry.index], cached.term == entry.term { return cached.command }
        do {
            let command = try CommandCodec.decode(entry.data)
            decoded[entry.index] = (entry.term, command)
            return command
        } catch {
            preconditionFailure("committed entry \(entry.index) is not a cluster command: \(error)")
        }
    }

    private func startLeadership(_ slot: Int) {
        let term = managers[slot].raft.term
        var loops = makeLoops(options.seed &* 0x9E37_79B9 &+ term &* 7 &+ UInt64(slot))
        loops.leadershipStarted(at: nowStamp)
        managers[slot].loops = loops
        managers[slot].roundLastIndex = nil
        let inFlight = AssignmentDispatcher.inFlightMillis(heartbeatPeriodMillis: UInt64(options.heartbeatPeriodMillis))
        managers[slot].dispatcher = AssignmentDispatcher(term: term, inFlightMillis: inFlight)
        managers[slot].networkTables = NetworkTableDispatcher(term: term, inFlightMillis: inFlight)
        managers[slot].acknowledgements = options.acknowledgementTimeoutMillis.map { AcknowledgementGuard(timeoutMillis: UInt64($0)) }
    }

    /// The manager that leads and has caught up (runs its control loops), if any.
    func readyLeader() -> Int? {
        managers.indices
            .filter { managers[$0].isUp && managers[$0].loops != nil && managers[$0].raft.role == .leader }
            .max { managers[$0].raft.term < managers[$1].raft.term }
    }

    /// Proposes `commands` on `slot` (one entry each); nil if it does not lead.
    @discardableResult
    func propose(_ commands: [ClusterCommand], on slot: Int) -> LogPosition? {
        guard !commands.isEmpty, managers[slot].isUp else { return nil }
        let position: LogPosition
        do {
            position = try managers[slot].raft.propose(batch: commands.map(CommandCodec.encode))
        } catch {
            return nil
        }
        drainReady(slot)
        return position
    }

    // MARK: - The leader's control loops and dispatcher

    private func controlLoop(_ slot: Int) {
        guard managers[slot].isUp, managers[slot].raft.role == .leader, managers[slot].loops != nil else { return }
        if !managers[slot].pendingReports.isEmpty {
            let updates = managers[slot].pendingReports.keys.sorted().map { managers[slot].pendingReports[$0]! }
            managers[slot].pendingReports = [:]
            propose([.updateTaskStatuses(updates: updates)], on: slot)
        }
        if let last = managers[slot].roundLastIndex {
            if managers[slot].appliedIndex >= last || now >= managers[slot].roundDeadline {
                managers[slot].roundLastIndex = nil
            }
        }
        if managers[slot].roundLastIndex == nil, managers[slot].loops != nil {
            let commands: [ClusterCommand]
            if managers[slot].state.cluster == nil {
                commands = bootstrapCommands()
            } else {
                let state = managers[slot].state
                commands = managers[slot].loops!.round(state, now: nowStamp)
            }
            if let position = propose(commands, on: slot) {
                managers[slot].roundLastIndex = position.index
                managers[slot].roundDeadline = now + 3_000
            }
        }
        guardAcknowledgements(slot)
        pushAssignments(slot)
    }

    private func bootstrapCommands() -> [ClusterCommand] {
        let at = nowStamp
        let cluster = Cluster(id: "simcluster\(options.seed)", version: ObjectVersion(index: 0), createdAt: at, spec: ClusterSpec(),
                              joinTokens: JoinTokens(worker: "SWMTKN-1-sim-worker", manager: "SWMTKN-1-sim-manager"))
        let first = makeNode(0, at: at)
        let secrets = ClusterSecrets(workerSecret: "worker", managerSecret: "manager",
                                     members: ["1": ClusterMember(nodeID: first.id)])
        var commands: [ClusterCommand] = [.initialize(cluster: cluster, firstNode: first, secrets: secrets)]
        for host in 1..<hostCount {
            commands.append(.addNode(node: makeNode(host, at: at), transportID: UInt64(host + 1)))
        }
        commands += Workload.networks.map { .createNetwork(network: Network(id: $0.id, createdAt: at, spec: $0.spec)) }
        return commands + payloadCommands(at: at)
    }

    private func makeNode(_ host: Int, at: Timestamp) -> Node {
        let manager = isManager(host)
        let address = "192.0.2.\(host + 1)"
        return Node(id: nodeID(host), version: ObjectVersion(index: 0), createdAt: at,
                    spec: NodeSpec(name: nodeID(host), role: manager ? .manager : .worker, availability: manager && !options.managersRunTasks ? .drain : .active),
                    description: NodeDescription(hostname: nodeID(host),
                                                 platform: .init(architecture: "x86_64", os: "linux"),
                                                 resources: .init(nanoCPUs: 4_000_000_000, memoryBytes: 8 << 30),
                                                 engine: .init(engineVersion: "swarmctl-sim",
                                                               plugins: runsTaskNetworking(host) ? [.overlayNetwork] : [])),
                    status: NodeStatus(state: .ready, addr: address),
                    managerStatus: manager ? ManagerStatus(raftID: UInt64(host + 1), addr: address + ":4242") : nil)
    }

    private func managerReceivesHeartbeat(_ slot: Int, from host: Int, reports: [TaskStatusUpdate], ack: AssignmentAck,
                                          networkAck: NetworkTableAck) {
        guard managers[slot].isUp else { return }
        guard managers[slot].raft.role == .leader, managers[slot].loops != nil else {
            let leader = managers[slot].raft.leader
            send(.redirect(leader: leader == noNode || Int(leader) - 1 == slot ? nil : Int(leader) - 1), from: slot, to: host)
            return
        }
        managers[slot].loops!.recordHeartbeat(nodeID: nodeID(host), at: nowStamp)
        managerReceivesReports(slot, reports: reports)
        send(.heartbeatAck, from: slot, to: host)
        // One link per agent: the simulated network has no connections to replace.
        let tasks = assignedTasks(onNode: nodeID(host), slot: slot)
        if let message = managers[slot].dispatcher!.heartbeat(node: nodeID(host), link: 1, ack: ack, items: tasks,
                                                                extra: PayloadDelivery.payloads(for: tasks, in: managers[slot].state), now: nowStamp) {
            sendAssignments(message, from: slot, to: host)
        }
        let state = managers[slot].state
        if let message = managers[slot].networkTables!.heartbeat(
            node: nodeID(host), link: 1, ack: networkAck, items: NetworkTables.tables(forNode: nodeID(host), in: state),
            extra: HostPortBinding.forNode(nodeID(host), in: state), now: nowStamp) {
            sendNetworkTables(message, from: slot, to: host)
        }
    }

    private func managerReceivesReports(_ slot: Int, reports: [TaskStatusUpdate]) {
        guard managers[slot].isUp, managers[slot].raft.role == .leader, managers[slot].loops != nil else { return }
        for update in reports {
            if let queued = managers[slot].pendingReports[update.taskID], queued.status.state > update.status.state { continue }
            managers[slot].pendingReports[update.taskID] = update
        }
    }

    /// The tasks an agent acts on, as the node shell computes them: placed on `nodeID` and past scheduling.
    func assignedTasks(onNode nodeID: String, slot: Int) -> [SwarmTask] {
        managers[slot].state.tasks(onNode: nodeID).filter { $0.status.state >= .assigned }
    }

    /// The dispatcher streams each agent with a session the changes to its tasks.
    func pushAssignments(_ slot: Int) {
        guard let nodes = managers[slot].dispatcher?.nodes else { return }
        for node in nodes {
            guard let host = host(ofNode: node),
                  case let tasks = assignedTasks(onNode: node, slot: slot),
                  let message = managers[slot].dispatcher!.changes(node, items: tasks, extra: PayloadDelivery.payloads(for: tasks, in: managers[slot].state),
                                                                   now: nowStamp)
            else { continue }
            sendAssignments(message, from: slot, to: host)
        }
        pushNetworkTables(slot)
    }

    /// The acknowledgement guard, as the leader runs it every round: resend, then fail.
    private func guardAcknowledgements(_ slot: Int) {
        guard managers[slot].acknowledgements != nil, managers[slot].dispatcher != nil else { return }
        let before = (managers[slot].acknowledgements!.resends, managers[slot].acknowledgements!.failures)
        let decision = managers[slot].acknowledgements!.evaluate(managers[slot].state, now: nowStamp)
        report.unacknowledgedResends += Int(managers[slot].acknowledgements!.resends - before.0)
        report.unacknowledgedFailures += Int(managers[slot].acknowledgements!.failures - before.1)
        for node in decision.resendTo {
            log("dispatcher: \(node) has not acknowledged its tasks: resending its full set")
            guard let host = host(ofNode: node),
                  case let tasks = assignedTasks(onNode: node, slot: slot),
                  let message = managers[slot].dispatcher!.fullSet(node, items: tasks, extra: PayloadDelivery.payloads(for: tasks, in: managers[slot].state),
                                                                   now: nowStamp)
            else { continue }
            sendAssignments(message, from: slot, to: host)
        }
        guard !decision.fail.isEmpty else { return }
        for update in decision.fail { log("dispatcher: \(update.taskID) \(update.status.err ?? "")") }
        propose([.updateTaskStatuses(updates: decision.fail)], on: slot)
    }

    func host(ofNode node: String) -> Int? {
        (0..<hostCount).first { nodeID($0) == node }
    }

    // MARK: - Crashes and restarts

    func crashHost(_ host: Int) {
        if isManager(host) {
            managers[host].isUp = false
            stepDown(host)
        }
        crashAgent(host)
    }

    func restartHostNow(_ host: Int) {
        if isManager(host), !managers[host].isUp {
            var disk = managers[host].disk
            let recovered = disk.recover()
            var config = RaftConfig(id: NodeID(host + 1), randomSeed: options.seed &* 31 &+ UInt64(host + 1) &* 1_000_003 &+ UInt64(now))
            config.maxInflightMessages = 64
            managers[host] = Manager(raft: RaftNode(config: config, state: recovered), disk: disk)
            drainReady(host)
        }
        restartAgent(host)
    }

    // MARK: - Probing the invariants over time

    /// What the fake executors run right now, ordered by task id.
    func observedRunning() -> [ObservedRunningTask] {
        running.keys.sorted().map { id in
            let task = running[id]!
            return ObservedRunningTask(taskID: id, serviceID: task.serviceID, slot: task.slot, nodeID: task.nodeID, spec: task.spec)
        }
    }

    /// The newest applied state among running managers.
    func freshestState() -> ClusterState? {
        let up = managers.indices.filter { managers[$0].isUp }
        guard let best = up.max(by: { managers[$0].appliedIndex < managers[$1].appliedIndex }) else { return nil }
        return managers[best].state
    }

    private func convergenceProblem() -> String? {
        guard let leader = readyLeader() else { return "no leader running its control loops" }
        if let down = agents.first(where: { !$0.isUp }) { return "\(down.nodeID) is still down" }
        if let pending = workload.pendingDescription { return "the workload still waits for: \(pending)" }
        for planned in workload.services where managers[leader].state.services[planned.id] == nil {
            return "service \(planned.spec.name) was never created"
        }
        return ControlPlaneInvariants.convergenceProblem(state: managers[leader].state, running: observedRunning())
    }

    private func probe() {
        if let state = freshestState() {
            let enforceFrom = options.enforceSingleRunningTaskPerSlot ? leaderReadyAfterHealAt : nil
            checker.checkDuplicates(observedRunning(), state: state, now: now, enforceFrom: enforceFrom)
        }
        closeFinishedWindows()
        guard let healedAt else { return }
        if leaderReadyAfterHealAt == nil, readyLeader() != nil { leaderReadyAfterHealAt = now }
        if let convergedAt {
            guard now >= convergedAt + options.stabilityMillis else { return }
            if let problem = convergenceProblem() {
                checker.fail("convergence: the cluster converged \(convergedAt - healedAt) ms after the heal but diverged again: \(problem)")
            }
            finished = true
        } else if let problem = convergenceProblem() {
            if now > healedAt + options.settleBoundMillis {
                checker.fail("convergence: not converged \(options.settleBoundMillis) ms after the heal: \(problem)")
            }
        } else {
            convergedAt = now
            report.convergenceMillis = [now - healedAt]
        }
    }
}
