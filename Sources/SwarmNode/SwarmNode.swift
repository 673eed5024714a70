import Agent
import API
import ClusterState
import Crypto
import Dispatcher
import Executor
import Foundation
import Orchestration
import Platform
import Raft
import Storage
import Transport

/// Why a client request failed, in the words the API and CLI show.
public enum RequestFailure: Error, Sendable, Equatable, Codable, CustomStringConvertible {
    case rejected(ClusterError)
    /// No leader, or the write could not commit in time: a quorum of managers is not reachable.
    case noQuorum(String)
    case notManager
    case failed(String)

    public var description: String {
        switch self {
        case let .rejected(error): error.description
        case let .noQuorum(detail): "no quorum: \(detail)"
        case .notManager: "this node is not a manager: run this on a manager or pass -H"
        case let .failed(message): message
        }
    }
}

/// The imperative shell of one node: owns the event loop, the disk, the sockets and the clocks,
/// and drives the pure Raft core and cluster state with them. Every mutable field is confined
/// to the loop thread; public entry points hop onto it.
public final class SwarmNode: @unchecked Sendable {
    public typealias Completion = (Result<Void, RequestFailure>) -> Void

    let configuration: NodeConfiguration
    let dataDirectory: String
    var identity: NodeIdentity
    let logger: NodeLogger
    let loopThread: EventLoopThread
    var loop: EventLoop { loopThread.loop }
    var transport: Transport!
    public internal(set) var boundClusterAddress: SocketAddress?

    // Manager role (nil on workers).
    var raft: RaftNode?
    /// The WAL and snapshots. While a Ready is in flight only `storageWriter` may touch it: go
    /// through `storageWriter.perform`/`enqueue` for anything else.
    var storage: RaftStorage?
    var storageWriter: StorageWriter?
    /// Readys handed to the writer thread whose completion has not run on the loop yet.
    var readiesInFlight = 0
    /// Other work handed to the writer thread that has not finished (`enqueueStorageJob`).
    var storageJobsInFlight = 0
    var lastSnapshotIndex: UInt64 = 0
    /// A captured state is being encoded off the loop (`maybeTakeSnapshot`).
    var snapshotInFlight = false
    /// When the next snapshot is due (entry count, and bytes once the state is large).
    var snapshotPolicy = SnapshotPolicy()
    /// Counts `startRaft`s: a snapshot captured from one Raft log is never recorded into the next.
    var raftGeneration = 0
    public internal(set) var state = ClusterState()

    var nextRequestID: UInt64 = 1
    var pendingProposals: [UInt64: (term: UInt64, done: Completion)] = [:]
    /// Writes forwarded to the leader `leader` of term `term`, awaiting its answer.
    var pendingForwards: [UInt64: (deadline: UInt64, leader: NodeID, term: UInt64, done: Completion)] = [:]
    var pendingReads: [UInt64: (deadline: UInt64, done: Completion)] = [:]
    /// Requests that came while no leader was known: retried once one is (`settleRequestsInFlight`),
    /// failed at `deadline` (`leaderWaitMillis`).
    var requestsAwaitingLeader: [(deadline: UInt64, retry: () -> Void, fail: (RequestFailure) -> Void)] = []
    /// The deadline of the parked request being retried, so that parking it again keeps its first
    /// deadline: while leadership flaps, a request still waits at most `leaderWaitMillis` in all.
    var retriedRequestDeadline: UInt64?
    var waitingReads: [(index: UInt64, done: Completion)] = []
    var pendingProposalDeadlines: [UInt64: UInt64] = [:]
    /// Writes accepted on the leader in this loop iteration, proposed together; `command` is the
    /// decoded form when the write started here (nil for a forwarded write's bytes).
    var queuedProposals: [(encoded: [UInt8], command: ClusterCommand?, done: Completion)] = []
    /// The commands this leader proposed in their decoded form, by log index (with the term
    /// they were proposed in): the apply takes them from here instead of decoding the bytes
    /// again. An index and term name one entry (Raft's log matching), so an entry replaced by
    /// another leader's never uses this; emptied when leadership ends.
    var proposedCommands: [UInt64: (term: UInt64, command: ClusterCommand)] = [:]
    /// The commands this follower forwarded to the leader, by their log bytes: when the entry
    /// comes back committed, the apply takes the command from here instead of decoding it (the
    /// bytes are the encoding of exactly this command, so any entry with these bytes decodes to
    /// it). Bounded by `maxPendingWrites`: emptied when full (a write forwarded and never
    /// committed would otherwise stay).
    var forwardedCommands: [[UInt8]: ClusterCommand] = [:]
    /// A follower's received commands, decoded off the loop while they are persisted.
    let entryPredecoder = EntryPredecoder()
    var heartbeatMonitor = HeartbeatMonitor()
    var statusProposals: Set<String> = []
    /// Nodes whose reported description is being proposed (`SwarmNode+NodeDescription`).
    var descriptionProposals: Set<String> = []
    var timers: [TimerHandle] = []
    var isStopped = false
    var isProcessingReady = false
    var appliedCommandsSinceConnect = false
    var apiServer: HTTPServer?
    // Dispatcher (leader): every node's assignment stream, the acknowledgement guard, and
    // agents' reports to propose.
    var assignmentDispatcher: AssignmentDispatcher?
    var acknowledgementGuard: AcknowledgementGuard?
    var dispatcherTotals = DispatcherTotals()
    var bufferedReports: [String: TaskStatusUpdate] = [:]
    var reportFlushScheduled = false
    var assignmentsChanged = false
    /// The network table stream (leader's dispatcher, this node's tables): `SwarmNode+NetworkTables`.
    var networkTableStream = NetworkTableStream()
    // Orchestration (leader): the pure control loops and the round in flight.
    var orchestrator = Orchestrator(seed: (try? RandomID.transportID()) ?? 1)
    var orchestrationInFlight = 0
    var orchestrationScheduled = false
    var lastOrchestrationMillis: UInt64 = 0
    var lastOrchestrationCostMillis: UInt64 = 0
    /// Counters and histograms for `/metrics` (see `SwarmNode+Metrics`).
    var nodeMetrics = NodeMetrics()
    // Agent (every node): this node's tasks as the leader last described them.
    var agent: AgentRunner?
    /// Task networking (issue 16): the network tables applied to the kernel, off the loop.
    var networkRunner: NodeNetworkRunner?
    /// Set by `leave`: the node's tasks stop with it (otherwise a stopped node leaves them running for the next run to re-adopt).
    var hasLeft = false
    /// What the process does once this node learns it was removed from the cluster (`swarmctl run`
    /// sends itself SIGTERM); nil for a node embedded in another process (its tasks just stop).
    /// Set after the node started, so a removal learned before that runs it when it is set.
    public var onRemoved: (@Sendable () -> Void)? {
        didSet { if wasRemoved, let onRemoved { _ = loop.schedule(afterMillis: 100) { onRemoved() } } }
    }
    /// This node learned it was removed from the cluster (`stopAfterRemoval`).
    var wasRemoved = false
    var assignmentReceiver = AssignmentReceiver()
    var assignmentAssembler = AssignmentAssembler()
    var knownLeader: UInt64 = 0
    var readyScheduled = false
    /// Completions collected while a Ready is processed, run right after it.
    var deferredCallbacks: [() -> Void] = []
    var taskExecutor: (any Executor)?
    var chaosSettings = ChaosSettings()
    // Service logs: every node's session on this manager, and log requests awaiting an answer.
    var nodeConnections: [String: ConnectionID] = [:]
    var pendingLogRequests: [UInt64: ([TaskLogChunk]) -> Void] = [:]
    // TLS identity: this node's key and certificates, and their renewal.
    var certificates: NodeCertificates
    var certificateRenewalTime: Int64 = 0
    /// A certificate request in flight: its key and when to give up on it (monotonic ms).
    var pendingCertificate: (key: PrivateKey, deadline: UInt64)?
    /// Frames the authorization table refused, by frame kind.
    public internal(set) var refusedFrames: [String: UInt64] = [:]
    /// Leader, during a root rotation: nodes seen with a certificate from the new root.
    var nodesOnNewRoot: Set<String> = []
    var caRotationProposed = false
    /// Set while this node closes its own links to present a new certificate.
    var reconnectingForCertificate = false
    /// Managers: the key-encryption key and the unlock key it is wrapped under (autolock).
    var managerKeys = ManagerKeys()
    /// Docker events derived from applied commands (manager), for `GET /events`.
    let keptEvents = EventHistory()
    var eventDeriver = DockerEventDeriver()

    static let requestTimeoutMillis: UInt64 = 5_000
    /// How long a request waits for a leader when none is known (an election, or a follower's
    /// pre-vote after a late heartbeat, usually ends well within it).
    static let leaderWaitMillis: UInt64 = 2_000
    static let noLeader = RequestFailure.noQuorum("no leader is elected: a majority of managers must be up and connected")
    /// Writes a manager holds at once (proposed, queued or forwarded); more are refused so a
    /// flood cannot grow its memory without bound.
    static let maxPendingWrites = 10_000

    init(configuration: NodeConfiguration, dataDirectory: String, identity: NodeIdentity, certificates: NodeCertificates) throws {
        self.configuration = configuration
        self.dataDirectory = dataDirectory
        self.identity = identity
        self.certificates = certificates
        certificateRenewalTime = certificates.renewalTime()
        logger = NodeLogger(nodeID: identity.nodeID, levelName: configuration.logLevel)
        for warning in try DataDirectory.secure(dataDirectory) { logger.warn(warning) }
        for warning in BenchmarkSwitches.warnings { logger.warn(warning) }
        loopThread = try EventLoopThread(name: "swarmctl-node")
    }

    public var nodeID: String { identity.nodeID }
    public var isManager: Bool { identity.role == .manager }

    // MARK: - Starting

    /// Starts the cluster port (on the loop).
    func startTransport() throws {
        try loop.executeAndWait { [self] in
            var transportConfiguration = TransportConfiguration(clusterID: identity.clusterID, localNodeID: identity.transportID)
            transportConfiguration.handshakeTimeoutMillis = 5_000
            transport = Transport(loop: loop, configuration: transportConfiguration) { [logger] message in
                logger.info("transport: \(message)")
            }
            transport.delegate = self
            transport.tls = try certificates.transportTLS()
            boundClusterAddress = try transport.listen(on: try SocketAddress(parsing: identity.listenAddress))
        }
    }

    /// Opens the WAL and Raft (managers), then starts the tick and dispatcher timers.
    func startRole(bootstrap: PersistentState? = nil) throws {
        try loop.executeAndWait { [self] in
            if identity.role == .manager { try startRaft(bootstrap: bootstrap) }
            timers.append(loop.scheduleRepeating(everyMillis: configuration.raftTickMillis) { [self] in tick() })
            timers.append(loop.scheduleRepeating(everyMillis: configuration.dispatcherHeartbeatMillis) { [self] in
                dispatcherRound()
                certificateRound()
            })
            timers.append(loop.scheduleRepeating(everyMillis: Self.orchestrationPeriodMillis) { [self] in
                scheduleOrchestration()
            })
            try startAgent()
            connectToManagers()
            logger.info("node started: role \(identity.role.rawValue), cluster port \(boundClusterAddress.map { "\($0)" } ?? "?")")
        }
    }

    /// Runs `body` on the loop thread and returns its value.
    public func onLoop<T: Sendable>(_ body: @escaping @Sendable (SwarmNode) throws -> T) throws -> T {
        try loop.executeAndWait { [self] in try body(self) }
    }

    /// Starts an asynchronous operation on the loop and blocks the calling thread (never the
    /// loop) until it completes or `timeoutMillis` passes.
    func await<T: Sendable>(timeoutMillis: Int, _ start: @escaping @Sendable (SwarmNode, @escaping @Sendable (T) -> Void) -> Void) -> T? {
        let box = ResultBox<T>()
        _ = loop.execute { [self] in start(self) { box.set($0) } }
        return box.wait(timeoutMillis: timeoutMillis)
    }

    func startRaft(bootstrap: PersistentState?) throws {
        raftGeneration += 1
        storageJobsInFlight = 0
        var options = RaftStorage.Options()
        options.segmentSize = configuration.walSegmentSize
        options.retainedEntries = configuration.snapshotRetainEntries
        options.encryption = try raftEncryption()
        let warn = logger
        let (opened, recovered) = try RaftStorage.open(
            dataDirectory: dataDirectory, options: options,
            logger: StorageLogger(warn: { warn.warn("storage: \($0)") }))
        var persistent = recovered
        if let bootstrap, recovered.entries.isEmpty, recovered.snapshot.isEmpty, recovered.hardState == HardState() {
            try opened.append(entries: bootstrap.entries, hardState: bootstrap.hardState, sync: true)
            persistent = bootstrap
        }
        storage = opened
        storageWriter = StorageWriter(storage: opened)
        managerKeys.followFromIndex = persistent.hardState.commit
        // The state is rebuilt from exactly what Raft hands back (snapshot, then entries from its
        // index): applying a log onto a state built from another would break `apply`'s order.
        state = ClusterState()
        lastSnapshotIndex = 0
        if !persistent.snapshot.isEmpty {
            state = try CommandCodec.decodeState(persistent.snapshot.data)
            lastSnapshotIndex = persistent.snapshot.metadata.index
        }
        snapshotPolicy = SnapshotPolicy()
        snapshotPolicy.sized(persistent.snapshot.data.count)
        noteNetworkTablesChanged()
        var raftConfiguration = RaftConfig(id: identity.transportID, randomSeed: try RandomID.transportID())
        raftConfiguration.electionTicks = configuration.electionTicks
        raftConfiguration.heartbeatTicks = configuration.heartbeatTicks
        raftConfiguration.maxInflightMessages = configuration.maxInflightMessages
        raftConfiguration.maxBytesPerMessage = configuration.maxBytesPerMessage
        raftConfiguration.snapshotChunkSize = configuration.snapshotChunkSize
        raft = RaftNode(config: raftConfiguration, state: persistent)
        nodeMetrics.sawTerm(raft!.term)
        processReady()
    }

    /// Stops timers, closes sockets and the loop. Safe to call from any thread, once.
    /// With `leavingTasksRunning` (SIGTERM of `swarmctl run`, like dockerd's live-restore) the
    /// containers keep running for the next run of this node to re-adopt, unless the node left
    /// the swarm or its executor cannot re-adopt (a test fake): then they stop first.
    public func stop(leavingTasksRunning: Bool = false) {
        let left = (try? loop.executeAndWait { [self] in hasLeft }) ?? true
        if !leavingTasksRunning || left || agent?.executor.canAdopt != true {
            agent?.stopAll()
            networkRunner?.shutdown()
        } else {
            logger.info("node stopping; its tasks keep running and the next run of this node re-adopts them")
        }
        _ = try? loop.executeAndWait { [self] in
            guard !isStopped else { return }
            isStopped = true
            for timer in timers { _ = loop.cancel(timer) }
            apiServer?.stop()
            transport?.shutdown()
            failAllPending(.failed("the node is shutting down"))
            try? storageWriter?.perform { try $0.sync() }
        }
        loopThread.shutdown()
        // The agent's last records, for the next run of this node to re-adopt its containers.
        agent?.flushRecords()
    }

    // MARK: - Driving Raft

    func tick() {
        guard raft != nil else { return }
        nodeMetrics.ticked(now: Clock.monotonicNanos(), periodMillis: configuration.raftTickMillis)
        raft!.tick()
        processReady()
        expireRequests()
    }

    /// Carries out the pending Ready: persist (on the writer thread), send, apply, advance.
    /// Several Readys may be in flight (`RaftNode.acceptsAnotherReady`): the writer persists them
    /// in order and makes every batch waiting for it durable with one fsync (group commit), so a
    /// batch taken while another is being written does not wait for that one's completion to
    /// reach the loop first.
    func processReady() {
        // Completions run inside this loop may propose or read again; the outer loop picks
        // that work up, so a nested call returns at once instead of re-entering `ready()`.
        flushQueuedProposals()
        guard !isProcessingReady else { return }
        isProcessingReady = true
        var worked = false
        while let current = raft, current.hasReady, !isStopped, current.acceptsAnotherReady {
            startReady()
            worked = true
        }
        isProcessingReady = false
        if readiesInFlight > 0, raft != nil, !isStopped {
            // No further batch can be taken now: a leader's appends go out anyway, so followers
            // write in parallel with its own fsync, and what committed meanwhile is applied.
            send(raft!.takeLeaderMessages())
            if applyCommittedInFlight() { worked = true }
        }
        if worked { afterReadyBatches() }
    }

    /// Work that follows applied batches (role, assignments, orchestration, peers).
    private func afterReadyBatches() {
        followOwnRole()
        followAutoLock()
        if raft?.role == .leader { pushAllNetworkTables() }
        if raft?.role == .leader && assignmentsChanged {
            pushAllAssignments()
            scheduleOrchestration()
        }
        // Once per batch, not per entry: the managers' addresses may have changed.
        if appliedCommandsSinceConnect {
            appliedCommandsSinceConnect = false
            connectToManagers()
        }
    }

    /// Takes one Ready. A leader sends its messages before its own write (its followers'
    /// appends run in parallel with its fsync, as Raft allows: its own entries count toward a
    /// commit only once `advance` reports them durable). Other roles send after the write (a
    /// vote or an acknowledgement must not outrun the disk). A batch with nothing to make
    /// durable is finished at once on the loop when no other is in flight; otherwise it queues
    /// behind them, so batches are always advanced in order.
    private func startReady() {
        let ready = raft!.ready()
        let sendFirst = raft!.role == .leader
        if sendFirst { send(ready.messages) }
        if !sendFirst { decodeAhead(ready.entries) }
        applyCommitted(ready)
        guard let writer = storageWriter, ready.mustSync || ready.snapshot != nil || readiesInFlight > 0 || storageJobsInFlight > 0 else {
            do {
                let started = Clock.monotonicNanos()
                try storage!.save(ready)
                nodeMetrics.storageSave.observe(Double(Clock.monotonicNanos() &- started) / 1e9)
                if !ready.entries.isEmpty { nodeMetrics.entriesPerSave.observe(Double(ready.entries.count)) }
            } catch {
                return storageFailed(error)
            }
            finishReady(ready, messagesSent: sendFirst)
            return
        }
        readiesInFlight += 1
        let generation = raftGeneration
        writer.save(ready, on: loop) { [self] report in
            readiesInFlight -= 1
            if report.groupSaves > 0 {
                nodeMetrics.saveCompletionDelay.observe(Double(Clock.monotonicNanos() &- report.finishedAt) / 1e9)
                nodeMetrics.storageSave.observe(Double(report.nanoseconds) / 1e9)
                if report.groupEntries > 0 { nodeMetrics.entriesPerSave.observe(Double(report.groupEntries)) }
            }
            // A demotion meanwhile replaced the log this batch belonged to.
            guard generation == raftGeneration, raft != nil, !isStopped else { return }
            if let failure = report.failure { return storageFailed(failure) }
            isProcessingReady = true
            finishReady(ready, messagesSent: sendFirst)
            isProcessingReady = false
            processReady()
        }
        // The entries applied above answer their clients now, not after the write.
        serveWaitingReads()
        runDeferredCallbacks()
    }

    /// A follower's new entries: those it did not forward itself (their commands are kept) are
    /// decoded on `entryPredecoder`'s thread while the batch is written.
    private func decodeAhead(_ entries: [Entry]) {
        let unknown = entries.filter { $0.kind == .normal && (forwardedCommands.isEmpty || forwardedCommands[$0.data] == nil) }
        entryPredecoder.decodeAhead(unknown)
    }

    /// Runs the completions collected while applying (client answers, forwarded results).
    private func runDeferredCallbacks() {
        let callbacks = deferredCallbacks
        deferredCallbacks = []
        for callback in callbacks { callback() }
    }

    /// Applies a Ready's snapshot and committed entries before its write: committed means a
    /// quorum holds them durably already (this node's own entries count only once persisted),
    /// so neither applying nor answering clients waits for this node's fsync.
    private func applyCommitted(_ ready: Ready) {
        if let snapshot = ready.snapshot { installSnapshot(snapshot) }
        for entry in ready.committedEntries { apply(entry) }
        for readState in ready.readStates { readIsReady(readState) }
        raft!.advanceApplied(ready)
    }

    /// While a batch is being persisted: applies what committed meanwhile (acknowledgements from
    /// followers) and answers its clients, instead of waiting for this node's write to finish.
    private func applyCommittedInFlight() -> Bool {
        guard raft != nil, !isStopped, !isProcessingReady else { return false }
        let entries = raft!.takeCommittedEntries()
        guard !entries.isEmpty else { return false }
        isProcessingReady = true
        for entry in entries { apply(entry) }
        serveWaitingReads()
        runDeferredCallbacks()
        isProcessingReady = false
        return true
    }

    private func send(_ messages: [Message]) {
        for message in messages { transport.send(message, to: message.to) }
    }

    /// The rest of a persisted Ready: send (unless sent already), apply, advance, then run the
    /// completions it produced. Completions run only once the Ready is gone: a proposal made
    /// while it still shared the log's storage would copy the whole log (copy-on-write).
    private func finishReady(_ ready: Ready, messagesSent: Bool) {
        if !messagesSent { send(ready.messages) }
        raft!.advance(ready)
        if let soft = ready.softState { roleChanged(soft) }
        nodeMetrics.sawTerm(raft!.term)
        serveWaitingReads()
        maybeTakeSnapshot()
        runDeferredCallbacks()
    }

    private func storageFailed(_ error: any Error) {
        logger.error("storage failed, stopping the node so no unpersisted state is acknowledged: \(error)")
        fatalStop()
    }

    private func fatalStop() {
        isStopped = true
        transport.shutdown()
        failAllPending(.failed("storage failure"))
        exit(1)
    }

    func installSnapshot(_ snapshot: Snapshot) {
        do {
            state = try CommandCodec.decodeState(snapshot.data)
            lastSnapshotIndex = snapshot.metadata.index
            entryPredecoder.skip(through: snapshot.metadata.index)
            snapshotPolicy.captured()
            snapshotPolicy.sized(snapshot.data.count)
            noteNetworkTablesChanged()
            logger.info("installed snapshot at index \(snapshot.metadata.index) from the leader")
            connectToManagers()
        } catch {
            logger.error("leader sent an undecodable snapshot: \(error)")
        }
    }

    func apply(_ entry: Entry) {
        snapshotPolicy.applied(byteCount: entry.data.count)
        switch entry.kind {
        case .normal:
            let result: Result<Void, ClusterError>
            var tablesMayChange = true
            do {
                let command = try decodedCommand(entry)
                result = applyRecordingEvents(command, index: entry.index)
                tablesMayChange = NetworkTableRelevance.mayChange(command, appliedTo: state)
            } catch {
                result = .failure(.invalid("undecodable command at index \(entry.index): \(error)"))
            }
            complete(index: entry.index, term: entry.term, result: result)
            appliedCommandsSinceConnect = true
            assignmentsChanged = true
            if tablesMayChange { noteNetworkTablesChanged() }
        case .confChange:
            if let change = try? ConfChange(wireBytes: entry.data) {
                logger.info("membership: \(change.kind) \(change.nodeID) applied at index \(entry.index)")
            }
            complete(index: entry.index, term: entry.term, result: .success(()))
        case .leaderNoop:
            complete(index: entry.index, term: entry.term, result: .success(()))
        }
    }

    /// The command of a committed entry: the one this leader proposed at that index and term,
    /// or else decoded from the entry's bytes.
    private func decodedCommand(_ entry: Entry) throws -> ClusterCommand {
        if let proposed = proposedCommands.removeValue(forKey: entry.index), proposed.term == entry.term { return proposed.command }
        if let predecoded = entryPredecoder.take(entry) { return predecoded }
        if !forwardedCommands.isEmpty, let forwarded = forwardedCommands.removeValue(forKey: entry.data) { return forwarded }
        return try CommandCodec.decode(entry.data)
    }

    func complete(index: UInt64, term: UInt64, result: Result<Void, ClusterError>) {
        guard let pending = pendingProposals.removeValue(forKey: index) else { return }
        pendingProposalDeadlines[index] = nil
        if let proposedAt = nodeMetrics.proposedAtNanos.removeValue(forKey: index) {
            nodeMetrics.proposalToCommit.observe(Double(Clock.monotonicNanos() &- proposedAt) / 1e9)
        }
        let outcome: Result<Void, RequestFailure> = pending.term != term
            ? .failure(.noQuorum("leadership changed before the write committed; retry"))
            : result.mapError { .rejected($0) }
        deferredCallbacks.append { pending.done(outcome) }
    }

    func roleChanged(_ soft: SoftState) {
        nodeMetrics.sawSoftState(soft)
        switch soft.role {
        case .leader:
            heartbeatMonitor.leadershipStarted(at: Clock.now())
            // A fresh orchestrator per term: its first round looks at every service.
            orchestrator = Orchestrator(seed: (try? RandomID.transportID()) ?? raft!.term)
            assignmentDispatcher = nil
            acknowledgementGuard = nil
            assignmentsChanged = true
            logger.info("became leader in term \(raft!.term)")
        case .follower where soft.leader != noNode:
            logger.info("following leader \(soft.leader) in term \(raft!.term)")
        case .candidate:
            logger.info("election: campaigning in term \(raft!.term)")
        case .preCandidate:
            logger.info("election: pre-vote in term \(raft!.term): the leader was not heard from")
        default:
            break
        }
        settleRequestsInFlight(soft)
        if soft.role != .leader {
            assignmentDispatcher = nil
            acknowledgementGuard = nil
            for (index, pending) in pendingProposals {
                pending.done(.failure(.noQuorum("lost leadership before the write committed; retry")))
                pendingProposalDeadlines[index] = nil
            }
            pendingProposals = [:]
            nodeMetrics.proposedAtNanos = [:]
            proposedCommands = [:]
        }
    }

    /// Every `snapshotEvery` applied entries (and, for a large state, once the log since the last
    /// snapshot is as large as it: `SnapshotPolicy`): captures the state (a copy-on-write value),
    /// encodes it on a background queue, so a large state does not stall the loop, and back on
    /// the loop records and persists it at the captured index (one snapshot in flight).
    func maybeTakeSnapshot() {
        guard !snapshotInFlight, let current = raft, current.appliedIndex >= lastSnapshotIndex,
              snapshotPolicy.isDue(appliedEntries: current.appliedIndex - lastSnapshotIndex, every: configuration.snapshotEvery),
              state.appliedIndex <= current.appliedIndex else { return }
        snapshotInFlight = true
        snapshotPolicy.captured()
        let (captured, index, membership) = (state, current.appliedIndex, current.confState)
        let generation = raftGeneration
        DispatchQueue.global().async { [self] in
            let data = CommandCodec.encodeState(captured)
            _ = loop.execute { [self] in
                snapshotInFlight = false
                snapshotPolicy.sized(data.count)
                // A demotion (and promotion) meanwhile replaced the Raft log: the capture is stale.
                guard raftGeneration == generation else { return }
                persistSnapshot(data: data, index: index, confState: membership)
            }
        }
    }

    private func persistSnapshot(data: [UInt8], index: UInt64, confState: ConfState) {
        // A snapshot installed from the leader meanwhile is newer: the capture is dropped.
        guard !isStopped, raft != nil, index > raft!.snapshotIndex, index > lastSnapshotIndex,
              index <= raft!.appliedIndex else { return }
        let snapshot = raft!.takeSnapshot(data: data, index: index, confState: confState,
                                          retainEntries: configuration.snapshotRetainEntries)
        lastSnapshotIndex = snapshot.metadata.index
        // On the writer thread, after the batches before it (the entries up to `index` are
        // applied, so they are already durable).
        enqueueStorageJob { [logger] storage in
            do {
                try storage.saveSnapshot(snapshot)
                try storage.compact()
                logger.info("snapshot taken at index \(snapshot.metadata.index)")
            } catch {
                logger.error("snapshot failed: \(error)")
            }
        }
    }

    /// Runs `body` on the storage writer after what was submitted before, without waiting.
    /// Counted until it has run (`storageJobsInFlight`): meanwhile the loop never touches the
    /// storage itself, since the writer thread may be using it.
    func enqueueStorageJob(_ body: @escaping @Sendable (RaftStorage) -> Void) {
        guard let writer = storageWriter else { return }
        storageJobsInFlight += 1
        let generation = raftGeneration
        writer.enqueue { [self] storage in
            body(storage)
            _ = loop.execute { [self] in
                if generation == raftGeneration { storageJobsInFlight -= 1 }
            }
        }
    }

    // MARK: - Writes and reads

    /// Proposes a command; completes once it is committed and applied (or failed). Forwards to
    /// the leader from a follower manager.
    func proposeCommand(_ command: ClusterCommand, _ done: @escaping Completion) {
        guard raft != nil else { return done(.failure(.notManager)) }
        let encoded = CommandCodec.encode(command)
        // The leader applies `command` itself and the followers its decoded bytes: they must agree.
        assert((try? CommandCodec.decode(encoded)) == command, "command does not survive its log encoding: \(command)")
        proposeEncoded(encoded, command: command, done)
    }

    /// `proposeCommand` for a command already in its log encoding (a forwarded write): the
    /// bytes are proposed (or forwarded) as they are.
    func proposeEncoded(_ encoded: [UInt8], command: ClusterCommand? = nil, _ done: @escaping Completion) {
        guard raft != nil else { return done(.failure(.notManager)) }
        if let refusal = ClusterLimits.entryRefusal(byteCount: encoded.count) { return done(.failure(.rejected(refusal))) }
        guard pendingProposals.count + queuedProposals.count + pendingForwards.count < Self.maxPendingWrites else {
            return done(.failure(.noQuorum("\(Self.maxPendingWrites) writes are already waiting to commit on this manager; retry")))
        }
        if raft!.role == .leader {
            // Proposed together at the end of this loop iteration: one append per follower
            // for the whole batch instead of one per write.
            queuedProposals.append((encoded, command, done))
            scheduleProcessReady()
            return
        }
        guard raft!.leader != noNode else {
            return awaitLeader(retry: { [unowned self] in proposeEncoded(encoded, command: command, done) }, fail: done)
        }
        let requestID = nextRequestID
        nextRequestID += 1
        let forwardedAt = Clock.monotonicNanos()
        pendingForwards[requestID] = (Clock.monotonicMillis() + Self.requestTimeoutMillis, raft!.leader, raft!.term, { [self] result in
            nodeMetrics.forwardRoundTrip.observe(Double(Clock.monotonicNanos() &- forwardedAt) / 1e9)
            done(result)
        })
        if let command {
            if forwardedCommands.count >= Self.maxPendingWrites { forwardedCommands = [:] }
            forwardedCommands[encoded] = command
        }
        transport.send(application: ForwardFrames.command(requestID: requestID, encoded: encoded), to: raft!.leader)
    }

    /// Proposes the writes queued by `proposeEncoded` as one batch.
    func flushQueuedProposals() {
        guard !queuedProposals.isEmpty, raft != nil else { return }
        let queued = queuedProposals
        queuedProposals = []
        let position: LogPosition
        do {
            position = try raft!.propose(batch: queued.map(\.encoded))
        } catch {
            for write in queued { write.done(.failure(.noQuorum("the leader refused the write (\(error)); retry"))) }
            return
        }
        nodeMetrics.proposals += UInt64(queued.count)
        let deadline = Clock.monotonicMillis() + Self.requestTimeoutMillis
        let proposedAt = Clock.monotonicNanos()
        var index = position.index - UInt64(queued.count)
        var forwarded: [Entry] = []
        for write in queued {
            index += 1
            nodeMetrics.proposedAtNanos[index] = proposedAt
            pendingProposals[index] = (position.term, write.done)
            pendingProposalDeadlines[index] = deadline
            if let command = write.command {
                proposedCommands[index] = (position.term, command)
            } else {
                forwarded.append(Entry(term: position.term, index: index, data: write.encoded))
            }
        }
        // Forwarded writes arrive as log bytes: decoded on the predecoder's thread while they
        // commit, instead of on the loop when they are applied.
        entryPredecoder.decodeAhead(forwarded)
    }

    /// Proposes several commands as one batch (one append, one fsync) on the leader; `done`
    /// gets every command's result, in order, once all have completed.
    func proposeCommands(_ commands: [ClusterCommand], _ done: @escaping ([Result<Void, RequestFailure>]) -> Void) {
        precondition(!commands.isEmpty, "empty command batch")
        guard raft?.role == .leader else {
            return done(commands.map { _ in .failure(.noQuorum("this manager is no longer the leader")) })
        }
        let entries = commands.map(CommandCodec.encode)
        // Control loops chunk what they propose; an oversized command here is a bug in a loop.
        // Refusing the batch (never proposing it) keeps the cluster writable instead of wedged.
        if let oversized = entries.first(where: { ClusterLimits.entryRefusal(byteCount: $0.count) != nil }),
           let refusal = ClusterLimits.entryRefusal(byteCount: oversized.count) {
            logger.error("a control loop proposed an oversized entry; batch of \(commands.count) refused: \(refusal)")
            return done(commands.map { _ in .failure(.rejected(refusal)) })
        }
        let position: LogPosition
        do {
            position = try raft!.propose(batch: entries)
            nodeMetrics.proposals += UInt64(entries.count)
        } catch {
            return done(commands.map { _ in .failure(.noQuorum("the leader refused the write (\(error)); retry")) })
        }
        var results = [Result<Void, RequestFailure>?](repeating: nil, count: commands.count)
        var remaining = commands.count
        let first = position.index - UInt64(commands.count) + 1
        let deadline = Clock.monotonicMillis() + Self.requestTimeoutMillis
        for offset in 0..<commands.count {
            let index = first + UInt64(offset)
            pendingProposalDeadlines[index] = deadline
            assert((try? CommandCodec.decode(entries[offset])) == commands[offset], "command does not survive its log encoding")
            proposedCommands[index] = (position.term, commands[offset])
            pendingProposals[index] = (position.term, { result in
                results[offset] = result
                remaining -= 1
                if remaining == 0 { done(results.map { $0! }) }
            })
        }
        scheduleProcessReady()
    }

    /// Processes Ready at the end of this loop iteration, so every proposal made during the
    /// iteration shares one append and one fsync (group commit).
    func scheduleProcessReady() {
        guard !readyScheduled else { return }
        readyScheduled = true
        loop.afterCurrentIteration { [self] in
            readyScheduled = false
            processReady()
        }
    }

    /// A linearizable read point: completes once this node has applied everything committed
    /// before the call, confirmed by a quorum round (ReadIndex).
    func linearizableRead(_ done: @escaping Completion) {
        guard raft != nil else { return done(.failure(.notManager)) }
        let requestID = nextRequestID
        nextRequestID += 1
        guard raft!.readIndex(context: WireBytes.uint64(requestID)) else {
            return awaitLeader(retry: { [unowned self] in linearizableRead(done) }, fail: done)
        }
        pendingReads[requestID] = (Clock.monotonicMillis() + Self.requestTimeoutMillis, done)
        scheduleProcessReady()
    }

    func readIsReady(_ readState: ReadState) {
        guard let requestID = WireBytes.readUInt64(readState.context),
              let pending = pendingReads.removeValue(forKey: requestID) else { return }
        waitingReads.append((readState.index, pending.done))
    }

    func serveWaitingReads() {
        guard !waitingReads.isEmpty, let applied = raft?.appliedIndex else { return }
        let ready = waitingReads.filter { $0.index <= applied }
        waitingReads.removeAll { $0.index <= applied }
        for read in ready { deferredCallbacks.append { read.done(.success(())) } }
    }

    /// Parks a request until a leader is known, at most `leaderWaitMillis`; bounded with the
    /// other requests in flight by `maxPendingWrites`.
    private func awaitLeader(retry: @escaping () -> Void, fail: @escaping Completion) {
        guard requestsAwaitingLeader.count < Self.maxPendingWrites else { return fail(.failure(Self.noLeader)) }
        let deadline = retriedRequestDeadline ?? Clock.monotonicMillis() + Self.leaderWaitMillis
        requestsAwaitingLeader.append((deadline, retry, { fail(.failure($0)) }))
    }

    func expireRequests() {
        let now = Clock.monotonicMillis()
        let expired = requestsAwaitingLeader.filter { $0.deadline < now }
        requestsAwaitingLeader.removeAll { $0.deadline < now }
        for request in expired { request.fail(Self.noLeader) }
        let message = "the cluster did not answer within \(Self.requestTimeoutMillis / 1000)s: is a majority of managers up?"
        for (index, deadline) in pendingProposalDeadlines where deadline < now {
            pendingProposalDeadlines[index] = nil
            nodeMetrics.proposedAtNanos[index] = nil
            pendingProposals.removeValue(forKey: index)?.done(.failure(.noQuorum(message)))
        }
        for (id, pending) in pendingForwards where pending.deadline < now {
            pendingForwards[id] = nil
            pending.done(.failure(.noQuorum(message)))
        }
        for (id, pending) in pendingReads where pending.deadline < now {
            pendingReads[id] = nil
            pending.done(.failure(.noQuorum(message)))
        }
    }

    /// After a change of role or leader: writes forwarded to a leader that is no longer the one
    /// (another node, another term, or this node leads now) may never be answered, so they fail
    /// at once and clients retry against the new one. Writes forwarded to the leader this node
    /// follows again, in the same term, stay: it only lost sight of it for a moment (a pre-vote
    /// after heartbeats came late on a loaded machine), and failing them failed writes the leader
    /// went on to commit. While no leader is known they wait, bounded by their deadline. Reads
    /// are asked again of the current leader: any leader's read index serves them. Requests that
    /// came while no leader was known go now.
    func settleRequestsInFlight(_ soft: SoftState) {
        guard soft.role == .leader || soft.leader != noNode else { return }
        let retry = RequestFailure.noQuorum("the leader changed while the request was in flight; retry")
        for (id, pending) in pendingForwards where soft.role == .leader || pending.leader != soft.leader || pending.term != raft!.term {
            pendingForwards[id] = nil
            pending.done(.failure(retry))
        }
        for id in pendingReads.keys.sorted() where !raft!.readIndex(context: WireBytes.uint64(id)) {
            pendingReads.removeValue(forKey: id)?.done(.failure(retry))
        }
        let awaiting = requestsAwaitingLeader
        requestsAwaitingLeader = []
        for request in awaiting {
            retriedRequestDeadline = request.deadline
            request.retry()
            retriedRequestDeadline = nil
        }
        if !pendingReads.isEmpty || !awaiting.isEmpty { scheduleProcessReady() }
    }

    func failAllPending(_ failure: RequestFailure) {
        let awaiting = requestsAwaitingLeader
        requestsAwaitingLeader = []
        for request in awaiting { request.fail(failure) }
        for write in queuedProposals { write.done(.failure(failure)) }
        queuedProposals = []
        for pending in pendingProposals.values { pending.done(.failure(failure)) }
        for pending in pendingForwards.values { pending.done(.failure(failure)) }
        for pending in pendingReads.values { pending.done(.failure(failure)) }
        for read in waitingReads { read.done(.failure(failure)) }
        pendingProposals = [:]
        nodeMetrics.proposedAtNanos = [:]
        pendingForwards = [:]
        pendingReads = [:]
        waitingReads = []
        pendingProposalDeadlines = [:]
        proposedCommands = [:]
    }

    // MARK: - Peers

    /// Keeps one outbound link to every other manager (managers) or to every known manager
    /// (workers), from the replicated state or the identity file.
    func connectToManagers() {
        guard transport != nil else { return }
        var addresses = identity.managerAddresses
        for manager in state.managers {
            if let status = manager.managerStatus { addresses[status.raftID] = status.addr }
        }
        for (raftID, address) in addresses where raftID != identity.transportID {
            guard !transport.isConnected(to: raftID), let parsed = try? SocketAddress(parsing: address) else { continue }
            if transport.statistics(for: raftID) == nil { transport.connect(to: raftID, at: parsed) }
        }
        if addresses != identity.managerAddresses && !state.managers.isEmpty {
            identity.managerAddresses = addresses
            try? identity.save(to: dataDirectory)
        }
    }
}

/// Tiny helpers for 8-byte read contexts.
enum WireBytes {
    static func uint64(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
    static func readUInt64(_ bytes: [UInt8]) -> UInt64? {
        guard bytes.count == 8 else { return nil }
        return bytes.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }
}
