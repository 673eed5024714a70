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
///
/// It keeps the wiring; each concern with state of its own is a runner it owns and hosts:
/// `ReplicatedLog` (Raft, storage, the Ready pipeline, snapshots), `PendingRequests` (client
/// requests waiting for Raft), `DispatcherRunner`, `OrchestrationRunner`, `AgentRunner`,
/// `NodeNetworkRunner`, and `NodeAPIAdapter` (the API's `ControlPlane`).
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

    /// The Raft log, its storage and the Ready pipeline (`ReplicatedLog`); nil on workers.
    var replicatedLog: ReplicatedLog?
    /// The Raft core (nil on workers), to look at: changes go through `replicatedLog.raft`.
    var raft: RaftNode? { replicatedLog?.raft }
    public internal(set) var state = ClusterState()
    /// Client requests waiting for Raft: proposals, forwarded writes, reads (`PendingRequests`).
    let pendingRequests = PendingRequests()
    var timers: [TimerHandle] = []
    var isStopped = false
    var appliedCommandsSinceConnect = false
    /// The Docker-compatible API and its server (`NodeAPIAdapter`); nil until started, or without one.
    var api: NodeAPIAdapter?
    /// Dispatcher (managers): liveness, every node's assignment stream, the acknowledgement
    /// guard, agents' reports to propose (`DispatcherRunner`).
    lazy var dispatcherRunner = DispatcherRunner(
        host: self, loop: loop, logger: logger, localNodeID: identity.nodeID,
        heartbeatPeriodMillis: UInt64(configuration.dispatcherHeartbeatMillis),
        acknowledgementTimeoutMillis: UInt64(configuration.effectiveDispatcherAckTimeoutMillis))
    /// The network table stream (leader's dispatcher, this node's tables): `SwarmNode+NetworkTables`.
    var networkTableStream = NetworkTableStream()
    /// Orchestration (leader): the pure control loops and their rounds (`OrchestrationRunner`).
    lazy var orchestrationRunner = OrchestrationRunner(host: self, loop: loop, logger: logger,
                                                       slowRoundMillis: UInt64(configuration.raftTickMillis))
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
            timers.append(loop.scheduleRepeating(everyMillis: OrchestrationRunner.periodMillis) { [self] in
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
            api?.server?.stop()
            transport?.shutdown()
            failAllPending(.failed("the node is shutting down"))
            try? replicatedLog?.sync()
        }
        loopThread.shutdown()
        // The agent's last records, for the next run of this node to re-adopt its containers.
        agent?.flushRecords()
    }

    // MARK: - Driving Raft

    func tick() {
        guard let replicatedLog else { return }
        nodeMetrics.ticked(now: Clock.monotonicNanos(), periodMillis: configuration.raftTickMillis)
        replicatedLog.tick()
        pendingRequests.expire()
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
