import ClusterState
import Crypto
import Dispatcher
import Raft
import Transport

/// Replies a manager gives to a heartbeat: the node's role in the replicated state and the
/// managers to dial, so workers follow promotions and manager changes.
struct HeartbeatResponse: Codable {
    var role: NodeRole?
    /// Whether the answering manager counts the node in the Raft membership.
    var raftMember: Bool
    /// Managers' credentials (hex), sent only to a node the state makes a manager, so it can
    /// authenticate the leader before it has replicated any state.
    var managerCredentials: [UInt64: String]? = nil
    var managerAddresses: [UInt64: String]
    /// The answering manager's view of the Raft leader (0: none), where agents send reports.
    var leader: UInt64? = nil
}

// The cluster port: authentication keys, Raft messages, and the node's own frames.
extension SwarmNode: TransportDelegate {
    public func handshakeKey(for nodeID: NodeID, purpose: HandshakePurpose) -> [UInt8]? {
        switch purpose {
        case .peer:
            if nodeID == identity.transportID { return identity.credential }
            if let member = state.member(transportID: nodeID) { return member.credential }
            return identity.peerCredentials?[nodeID].flatMap(Crypto.unhex)
        case .joinWorker:
            guard raft != nil, let secrets = state.secrets else { return nil }
            return JoinToken.handshakeKey(secret: secrets.workerSecret)
        case .joinManager:
            guard raft != nil, let secrets = state.secrets else { return nil }
            return JoinToken.handshakeKey(secret: secrets.managerSecret)
        }
    }

    public func transport(_ transport: Transport, didReceive message: Message, from peer: NodeID) {
        guard raft != nil else { return }
        raft!.step(message)
        // Every message that arrives in this loop iteration shares one Ready (one fsync).
        scheduleProcessReady()
    }

    public func transport(_ transport: Transport, didReceive application: ApplicationFrame, on connection: ConnectionInfo) {
        switch application.nodeKind {
        case .joinRequest?:
            guard let request = application.decode(JoinRequest.self) else { return }
            handleJoin(request, on: connection)
        case .heartbeat?:
            guard let heartbeat = application.decode(Heartbeat.self) else { return }
            handleHeartbeat(heartbeat, on: connection)
        case .heartbeatResponse?:
            guard let response = application.decode(HeartbeatResponse.self) else { return }
            followHeartbeatResponse(response)
        case .assignments?:
            guard let message = application.decode(AssignmentMessage.self) else { return }
            receiveAssignments(message, from: connection.remoteNodeID)
        case .logsRequest?:
            guard let request = application.decode(LogsRequest.self) else { return }
            serveLogs(request, on: connection.id)
        case .logsResponse?:
            guard let response = application.decode(LogsResponse.self) else { return }
            receiveLogs(response)
        case .taskReports?:
            guard let reports = application.decode(TaskReports.self) else { return }
            bufferTaskReports(reports.updates)
        case .forwardCommand?:
            guard let forwarded = application.decode(ForwardCommand.self) else { return }
            proposeCommand(forwarded.command) { [self] result in
                let failure = result.failureValue
                let reply = ForwardResult(requestID: forwarded.requestID, failure: failure.map(ForwardedFailure.init))
                transport.send(application: ApplicationFrame(.forwardResult, reply), to: connection.remoteNodeID)
            }
        case .forwardResult?:
            guard let result = application.decode(ForwardResult.self),
                  let pending = pendingForwards.removeValue(forKey: result.requestID) else { return }
            if let failure = result.failure {
                pending.done(.failure(failure.requestFailure))
            } else {
                pending.done(.success(()))
            }
        case .joinResponse?:
            guard let join = pendingJoin, join.connection == connection.id,
                  let response = application.decode(JoinResponse.self) else { return }
            pendingJoin = nil
            transport.close(connection: connection.id, reason: "join answered")
            join.done(.success(response))
        case nil:
            break
        }
    }

    public func transport(_ transport: Transport, connectionEstablished connection: ConnectionInfo) {
        guard let join = pendingJoin, join.connection == connection.id else { return }
        transport.reply(application: ApplicationFrame(.joinRequest, join.request), on: connection.id)
    }

    public func transport(_ transport: Transport, sessionFailed connection: ConnectionID, reason: String) {
        guard let join = pendingJoin, join.connection == connection else { return }
        pendingJoin = nil
        join.done(.failure(NodeError(reason)))
    }

    public func transport(_ transport: Transport, peerDisconnected peer: NodeID) {
        guard raft != nil, raft!.leader == peer else { return }
        logger.info("connection to leader \(peer) broke: starting a pre-vote at once")
        raft!.reportLeaderUnreachable()
        processReady()
    }

    public func transport(_ transport: Transport, peerConnected peer: NodeID) {
        logger.info("connected to manager \(peer)")
    }
}

/// A failure carried back from the leader to the manager that forwarded the write.
struct ForwardedFailure: Codable {
    var kind: String
    var message: String
    var clusterError: ClusterErrorCode?

    init(_ failure: RequestFailure) {
        message = failure.description
        switch failure {
        case let .rejected(error):
            kind = "rejected"
            clusterError = ClusterErrorCode(error)
        case .noQuorum: kind = "noQuorum"
        case .notManager: kind = "notManager"
        case .failed: kind = "failed"
        }
    }

    var requestFailure: RequestFailure {
        switch kind {
        case "rejected": .rejected(clusterError?.error ?? .invalid(message))
        case "noQuorum": .noQuorum(message.replacingOccurrences(of: "no quorum: ", with: ""))
        case "notManager": .notManager
        default: .failed(message)
        }
    }
}

/// ClusterError in a Codable form for forwarding.
struct ClusterErrorCode: Codable {
    var kind: String
    var a: String
    var b: String
    var expected: UInt64
    var actual: UInt64

    init(_ error: ClusterError) {
        switch error {
        case let .notFound(kind, id): (self.kind, a, b, expected, actual) = ("notFound", kind, id, 0, 0)
        case let .conflict(message): (kind, a, b, expected, actual) = ("conflict", message, "", 0, 0)
        case let .staleVersion(kind, id, expected, actual): (self.kind, a, b, self.expected, self.actual) = ("stale", kind, id, expected, actual)
        case let .invalid(message): (kind, a, b, expected, actual) = ("invalid", message, "", 0, 0)
        case .notInitialized: (kind, a, b, expected, actual) = ("notInitialized", "", "", 0, 0)
        }
    }

    var error: ClusterError {
        switch kind {
        case "notFound": .notFound(kind: a, id: b)
        case "conflict": .conflict(a)
        case "stale": .staleVersion(kind: a, id: b, expected: expected, actual: actual)
        case "notInitialized": .notInitialized
        default: .invalid(a)
        }
    }
}

extension Result {
    var failureValue: Failure? {
        if case let .failure(error) = self { return error }
        return nil
    }
}
