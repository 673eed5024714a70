import API
import ClusterState
import Crypto
import Executor
import Glibc
import Platform
import Raft

/// The node as the Docker-compatible API sees it (`ControlPlane`): linearizable reads, writes
/// proposed or forwarded, the live Raft view that fills in ManagerStatus, `leave`; the node's
/// other features (logs, exec, containers, chaos, volumes, certificates, metrics) are passed
/// through to the extensions that implement them. It owns the API's HTTP server.
///
/// It exists so the API depends on one narrow object instead of `SwarmNode` itself being the
/// control plane (issue 15: one type holding every concern of the node). Holds its node
/// unowned (the node owns it); confined to the node's loop like the node.
final class NodeAPIAdapter: ControlPlane {
    private unowned let node: SwarmNode
    /// The HTTP server serving the API (`SwarmNode.startAPI`).
    var server: HTTPServer?

    init(node: SwarmNode) {
        self.node = node
    }

    // MARK: - The node and its state

    var localNode: LocalNodeInfo {
        let state = node.state, identity = node.identity
        let own = state.nodes[identity.nodeID]
        let description = own?.description ?? LocalMachine.description()
        var status: RaftStatus?
        if let current = node.raft {
            let leaderNode = state.node(raftID: current.leader)?.id ?? ""
            status = RaftStatus(raftID: current.id, leader: current.leader, leaderNodeID: leaderNode, term: current.term,
                                commitIndex: current.commitIndex, appliedIndex: current.appliedIndex,
                                voters: current.confState.voters, learners: current.confState.learners)
        }
        let known = node.managerAddresses().isEmpty ? identity.managerAddresses : node.managerAddresses()
        let remote = known.keys.sorted().map { raftID in
            RemoteManager(nodeID: state.node(raftID: raftID)?.id ?? String(raftID), addr: known[raftID]!)
        }
        let host = identity.advertiseAddress.split(separator: ":").first.map(String.init) ?? identity.advertiseAddress
        let totals = node.dispatcherRunner.totals
        return LocalNodeInfo(nodeID: identity.nodeID, role: node.raft == nil ? .worker : .manager, addr: host,
                             description: description, raft: status, knownManagers: remote,
                             dispatcher: DispatcherCounters(resyncs: totals.resyncs,
                                                            unacknowledgedResends: totals.unacknowledgedResends,
                                                            unacknowledgedFailures: totals.unacknowledgedFailures,
                                                            gapsSeen: totals.gapsSeen),
                             networkTables: node.networkTablesStatus)
    }

    /// `localNode.isManager` without building `localNode`: asked by every manager-only request.
    var isManagerNode: Bool { node.replicatedLog != nil }

    func readState(_ done: @escaping (Result<ClusterStateView, APIError>) -> Void) {
        node.linearizableRead { [self] result in
            switch result {
            case .success: done(.success(stateView()))
            case let .failure(failure): done(.failure(APIError(failure)))
            }
        }
    }

    func readLocalState(_ done: @escaping (Result<ClusterStateView, APIError>) -> Void) {
        guard node.replicatedLog != nil else { return done(.failure(.notManager)) }
        done(.success(stateView()))
    }

    private func stateView() -> ClusterStateView {
        let state = node.state, identity = node.identity
        var reachable: Set<UInt64> = [identity.transportID]
        if let current = node.raft {
            for manager in state.managers {
                guard let raftID = manager.managerStatus?.raftID, raftID != identity.transportID else { continue }
                if current.role == .leader {
                    if let progress = current.progress(of: raftID), progress.isReplicating { reachable.insert(raftID) }
                } else if node.transport.isConnected(to: raftID) {
                    reachable.insert(raftID)
                }
            }
        }
        let raft = node.raft
        return ClusterStateView(state: state, leaderRaftID: raft.flatMap { $0.leader == noNode ? nil : $0.leader },
                                reachableRaftIDs: reachable, voterRaftIDs: raft.map { Set($0.confState.voters) })
    }

    // MARK: - Writes

    func propose(_ command: ClusterCommand, _ done: @escaping (Result<Void, APIError>) -> Void) {
        node.propose(command, done)
    }

    func updateNode(id: String, version: ObjectVersion, spec: NodeSpec, at: Timestamp,
                    _ done: @escaping (Result<Void, APIError>) -> Void) {
        node.updateNode(id: id, version: version, spec: spec, at: at, done)
    }

    func removeNode(id: String, force: Bool, at: Timestamp, _ done: @escaping (Result<Void, APIError>) -> Void) {
        node.removeNode(id: id, force: force, at: at, done)
    }

    func newJoinToken(role: NodeRole) -> (secret: String, token: String) {
        let secret = (try? RandomID.base36(count: 25)) ?? ""
        let root = node.state.secrets?.ca.flatMap { try? Certificate(pem: $0.rootCertificatePEM) }
        let digest = root.map(JoinToken.digest(of:)) ?? String(repeating: "0", count: 50)
        node.logger.info("audit: \(role.rawValue) join token rotated through the API of node \(node.identity.nodeID)")
        return (secret, JoinToken(caDigest: digest, secret: secret).description)
    }

    func leave(force: Bool, _ done: @escaping (Result<Void, APIError>) -> Void) {
        guard force || node.replicatedLog == nil else { return done(.failure(.leaveManager)) }
        node.hasLeft = true
        done(.success(()))
        _ = node.loop.schedule(afterMillis: 100) { kill(getpid(), SIGTERM) }
    }

    func issueClientCertificate(_ csr: CertificateSigningRequest,
                                _ done: @escaping (Result<ClientCertificateResponse, APIError>) -> Void) {
        node.issueClientCertificate(csr, done)
    }

    func audit(_ line: String) { node.audit(line) }

    // MARK: - The node's other features

    var chaosStatus: ChaosStatus { node.chaosStatus }

    func applyChaos(_ settings: ChaosSettings, _ done: @escaping (Result<Void, APIError>) -> Void) {
        node.applyChaos(settings, done)
    }

    func performChaos(_ action: ChaosAction, _ done: @escaping (Result<Void, APIError>) -> Void) {
        node.performChaos(action, done)
    }

    func fetchLogs(_ requests: [TaskLogRequest], _ done: @escaping ([TaskLogChunk]) -> Void) {
        node.fetchLogs(requests, done)
    }

    func after(millis: Int, _ body: @escaping () -> Void) { node.after(millis: millis, body) }

    func localVolumes() -> [LocalVolume] { node.localVolumes() }

    func removeVolume(_ name: String) -> Result<Void, APIError> { node.removeVolume(name) }

    func metricFamilies() -> [MetricFamily] { node.metricFamilies() }

    var eventHistory: EventHistory? { node.eventHistory }

    func localContainers() -> [LocalContainer] { node.localContainers() }

    func containerProcesses(_ container: LocalContainer, _ done: @escaping (Result<ContainerProcesses, APIError>) -> Void) {
        node.containerProcesses(container, done)
    }

    func containerUsage(_ container: LocalContainer, intervalMillis: Int,
                        _ done: @escaping (Result<(ContainerUsage, ContainerUsage), APIError>) -> Void) {
        node.containerUsage(container, intervalMillis: intervalMillis, done)
    }

    func localImages() -> [LocalImage] { node.localImages() }

    func startExec(_ container: LocalContainer, _ configuration: ExecConfiguration,
                   _ done: @escaping (Result<any ExecProcessHandle, APIError>) -> Void) {
        node.startExec(container, configuration, done)
    }
}
