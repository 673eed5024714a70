import API
import ClusterState
import Crypto
import Glibc
import Platform
import Raft

// The Docker-compatible API on top of the node: linearizable reads, forwarded writes, and the
// live Raft view that fills in ManagerStatus.
extension SwarmNode: ControlPlane {
    public var localNode: LocalNodeInfo {
        let own = state.nodes[identity.nodeID]
        let description = own?.description ?? LocalMachine.description()
        var status: RaftStatus?
        if let current = raft {
            let leaderNode = state.node(raftID: current.leader)?.id ?? ""
            status = RaftStatus(raftID: current.id, leader: current.leader, leaderNodeID: leaderNode, term: current.term,
                                commitIndex: current.commitIndex, appliedIndex: current.appliedIndex,
                                voters: current.confState.voters, learners: current.confState.learners)
        }
        let known = managerAddresses().isEmpty ? identity.managerAddresses : managerAddresses()
        let remote = known.keys.sorted().map { raftID in
            RemoteManager(nodeID: state.node(raftID: raftID)?.id ?? String(raftID), addr: known[raftID]!)
        }
        let host = identity.advertiseAddress.split(separator: ":").first.map(String.init) ?? identity.advertiseAddress
        return LocalNodeInfo(nodeID: identity.nodeID, role: raft == nil ? .worker : .manager, addr: host,
                             description: description, raft: status, knownManagers: remote,
                             dispatcher: DispatcherCounters(resyncs: dispatcherTotals.resyncs,
                                                            unacknowledgedResends: dispatcherTotals.unacknowledgedResends,
                                                            unacknowledgedFailures: dispatcherTotals.unacknowledgedFailures,
                                                            gapsSeen: dispatcherTotals.gapsSeen),
                             networkTables: networkTablesStatus)
    }

    /// `localNode.isManager` without building `localNode`: asked by every manager-only request.
    public var isManagerNode: Bool { raft != nil }

    public func readState(_ done: @escaping (Result<ClusterStateView, APIError>) -> Void) {
        linearizableRead { [self] result in
            switch result {
            case .success: done(.success(stateView()))
            case let .failure(failure): done(.failure(APIError(failure)))
            }
        }
    }

    public func readLocalState(_ done: @escaping (Result<ClusterStateView, APIError>) -> Void) {
        guard raft != nil else { return done(.failure(.notManager)) }
        done(.success(stateView()))
    }

    /// Whether this node votes in its applied Raft membership (a joining manager is a learner
    /// until it has caught up). Call on the loop (`onLoop`).
    public var isRaftVoter: Bool {
        raft.map { $0.confState.voters.contains(identity.transportID) } ?? false
    }

    func stateView() -> ClusterStateView {
        var reachable: Set<UInt64> = [identity.transportID]
        if let current = raft {
            for manager in state.managers {
                guard let raftID = manager.managerStatus?.raftID, raftID != identity.transportID else { continue }
                if current.role == .leader {
                    if let progress = current.progress(of: raftID), progress.isReplicating { reachable.insert(raftID) }
                } else if transport.isConnected(to: raftID) {
                    reachable.insert(raftID)
                }
            }
        }
        return ClusterStateView(state: state, leaderRaftID: raft.flatMap { $0.leader == noNode ? nil : $0.leader },
                                reachableRaftIDs: reachable, voterRaftIDs: raft.map { Set($0.confState.voters) })
    }

    public func propose(_ command: ClusterCommand, _ done: @escaping (Result<Void, APIError>) -> Void) {
        proposeCommand(command) { result in done(result.mapError(APIError.init)) }
    }

    public func newJoinToken(role: NodeRole) -> (secret: String, token: String) {
        let secret = (try? RandomID.base36(count: 25)) ?? ""
        let root = state.secrets?.ca.flatMap { try? Certificate(pem: $0.rootCertificatePEM) }
        let digest = root.map(JoinToken.digest(of:)) ?? String(repeating: "0", count: 50)
        logger.info("audit: \(role.rawValue) join token rotated through the API of node \(identity.nodeID)")
        return (secret, JoinToken(caDigest: digest, secret: secret).description)
    }

    public func leave(force: Bool, _ done: @escaping (Result<Void, APIError>) -> Void) {
        guard force || raft == nil else { return done(.failure(.leaveManager)) }
        hasLeft = true
        done(.success(()))
        _ = loop.schedule(afterMillis: 100) { kill(getpid(), SIGTERM) }
    }

    /// Serves the API on `identity.apiAddress` (unix socket or TCP), on the loop.
    func startAPI() throws {
        guard !identity.apiAddress.isEmpty else { return }
        try loop.executeAndWait { [self] in
            let address = try SocketAddress(parsing: identity.apiAddress)
            let kernel = LocalMachine.kernelVersion()
            let docker = DockerAPI(controlPlane: self,
                                   identity: ServerIdentity(version: "0.1.0", arch: "amd64", kernelVersion: kernel),
                                   now: { Clock.now() })
            var serverConfiguration = HTTPServerConfiguration()
            serverConfiguration.log = { [logger] in logger.debug("api: \($0)") }
            try applyAPISecurity(to: &serverConfiguration)
            apiServer = try HTTPServer(loop: loop, address: address, configuration: serverConfiguration) { request, responder in
                docker.handle(request, responder)
            }
            logger.info("API listening on \(identity.apiAddress)")
        }
    }
}

extension APIError {
    init(_ failure: RequestFailure) {
        switch failure {
        case let .rejected(error): self.init(error)
        case let .noQuorum(detail):
            self.init(status: 503, "no quorum: \(detail). The swarm does not have a leader: make sure more than half of the managers are online")
        case .notManager: self = .notManager
        case let .failed(message): self.init(status: 500, message)
        }
    }
}

extension LocalMachine {
    static func kernelVersion() -> String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: &name.release) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
