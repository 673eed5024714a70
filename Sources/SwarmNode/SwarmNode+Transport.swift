import ClusterState
import Crypto
import Dispatcher
import Raft
import Transport

/// Replies a manager gives to a heartbeat: the node's role in the replicated state and the
/// managers to dial, so workers follow promotions and manager changes. It carries no secret.
struct HeartbeatResponse: Codable {
    var role: NodeRole?
    /// Whether the answering manager counts the node in the Raft membership.
    var raftMember: Bool
    /// By transport id.
    var managerAddresses: [UInt64: String]
    /// The answering manager's view of the Raft leader (0: none), where agents send reports.
    var leader: UInt64? = nil
    /// The roots to trust (PEM), so every node follows a CA rotation.
    var trustedRootsPEM: [String]? = nil
}

// The cluster port: the verified peer's rights (the authorization table), Raft messages, and
// the node's own frames.
extension SwarmNode: TransportDelegate {
    public func transport(_ transport: Transport, shouldRefuse peer: PeerIdentity) -> String? {
        state.isDenied(nodeID: peer.nodeID) ? "node \(peer.nodeID) was removed from the cluster" : nil
    }

    /// A removed node that connects again (it was down when removed) is told so before the close.
    public func transport(_ transport: Transport, farewellTo peer: PeerIdentity) -> ApplicationFrame? {
        state.isDenied(nodeID: peer.nodeID) ? ApplicationFrame(.nodeRemoved, NodeRemovedNotice(nodeID: peer.nodeID)) : nil
    }

    public func transport(_ transport: Transport, didReceive message: Message, from peer: PeerIdentity) {
        guard let log = replicatedLog else { return }
        let connection = ConnectionInfo(id: ConnectionID.none, peer: peer, direction: .inbound)
        guard authorize(.raftMessage(from: message.from), on: connection) else { return }
        log.raft.step(message)
        // Every message that arrives in this loop iteration shares one Ready (one fsync).
        scheduleProcessReady()
    }

    public func transport(_ transport: Transport, didReceive application: ApplicationFrame, on connection: ConnectionInfo) {
        guard let kind = application.nodeKind else {
            return refuseFrame("unknown frame kind \(application.kind)", kind: "unknown", on: connection, close: connection.peer == nil)
        }
        switch kind {
        case .joinRequest:
            guard authorize(.joinRequest, on: connection), let request = decode(application, JoinRequest.self, on: connection) else { return }
            handleJoin(request, on: connection)
        case .joinResponse:
            // Join sessions are JoinClient's; a node never expects one here.
            _ = authorize(.joinResponse, on: connection)
        case .heartbeat:
            guard let heartbeat = decode(application, Heartbeat.self, on: connection),
                  authorize(.heartbeat(nodeID: heartbeat.nodeID), on: connection) else { return }
            noteCertificate(of: connection)
            handleHeartbeat(heartbeat, on: connection)
        case .heartbeatResponse:
            guard authorize(.heartbeatResponse, on: connection),
                  let response = decode(application, HeartbeatResponse.self, on: connection) else { return }
            noteHeartbeatResponse(response)
            followHeartbeatResponse(response)
            // A promotion or demotion just seen: ask for the matching certificate now.
            certificateRound()
        case .assignments:
            guard authorize(.assignments, on: connection) else { return }
            guard let message = application.assignmentMessage else {
                return refuseFrame("undecodable AssignmentMessage payload", kind: "assignments", on: connection, close: true)
            }
            receiveAssignments(message, from: connection.remoteNodeID)
        case .logsRequest:
            guard authorize(.logsRequest, on: connection), let request = decode(application, LogsRequest.self, on: connection) else { return }
            serveLogs(request, on: connection.id)
        case .logsResponse:
            guard authorize(.logsResponse, on: connection), let response = decode(application, LogsResponse.self, on: connection) else { return }
            receiveLogs(response)
        case .taskReports:
            guard let reports = decode(application, TaskReports.self, on: connection),
                  authorize(.taskReports(taskIDs: reports.updates.map(\.taskID)), on: connection) else { return }
            bufferTaskReports(reports.updates)
        case .forwardCommand:
            guard authorize(.forwardCommand, on: connection) else { return }
            guard let forwarded = ForwardFrames.decodeCommand(application.payload) else {
                return refuseFrame("undecodable forwarded command", kind: "forward-command", on: connection, close: true)
            }
            proposeEncoded(forwarded.encoded) { result in
                transport.send(application: ForwardFrames.result(requestID: forwarded.requestID, failure: result.failureValue),
                               to: connection.remoteNodeID)
            }
        case .forwardResult:
            guard authorize(.forwardResult, on: connection) else { return }
            guard let result = ForwardFrames.decodeResult(application.payload) else {
                return refuseFrame("undecodable forwarded result", kind: "forward-result", on: connection, close: true)
            }
            guard let done = pendingRequests.takeForward(result.requestID) else { return }
            done(result.failure.map { .failure($0) } ?? .success(()))
        case .certificateRequest:
            guard authorize(.certificateRequest, on: connection), let request = decode(application, CertificateRequest.self, on: connection)
            else { return }
            serveCertificateRequest(request, on: connection)
        case .certificateResponse:
            guard authorize(.certificateResponse, on: connection),
                  let response = decode(application, CertificateResponse.self, on: connection) else { return }
            receiveCertificate(response)
        case .nodeRemoved:
            guard authorize(.nodeRemoved, on: connection),
                  let notice = decode(application, NodeRemovedNotice.self, on: connection), notice.nodeID == identity.nodeID else { return }
            stopAfterRemoval()
        case .networkTables:
            guard authorize(.networkTables, on: connection),
                  let message = decode(application, NetworkTableMessage.self, on: connection) else { return }
            receiveNetworkTables(message)
        }
    }

    public func transport(_ transport: Transport, peerDisconnected peer: NodeID) {
        guard let log = replicatedLog, log.raft.leader == peer, !reconnectingForCertificate else { return }
        logger.info("connection to leader \(peer) broke: starting a pre-vote at once")
        log.raft.reportLeaderUnreachable()
        processReady()
    }

    public func transport(_ transport: Transport, peerConnected peer: NodeID) {
        logger.info("connected to manager \(peer)")
    }

    // MARK: Authorization

    /// Runs the authorization table for one frame; a refusal is logged with the peer and the
    /// frame kind, counted, and (for protocol violations) closes the connection.
    func authorize(_ request: FrameRequest, on connection: ConnectionInfo) -> Bool {
        switch FrameAuthorization.check(request, from: connection.peer, direction: connection.direction, facts: authorizationFacts()) {
        case .allowed:
            return true
        case let .refused(reason, close):
            refuseFrame(reason, kind: request.description, on: connection, close: close)
            return false
        }
    }

    private func refuseFrame(_ reason: String, kind: String, on connection: ConnectionInfo, close: Bool) {
        refusedFrames[kind, default: 0] += 1
        let who = connection.peer.map { "node \($0.nodeID) (\($0.role.rawValue))" } ?? "a connection without a certificate"
        // Every refusal is counted; the log gets the first of a kind and then one in 100, so a
        // flood (or a peer racing a role change) cannot flood the log.
        let count = refusedFrames[kind]!
        if count == 1 || count % 100 == 0 {
            logger.warn("refused \(kind) from \(who): \(reason) (\(count) \(kind) refusals so far)")
        }
        if close && connection.id != .none {
            // A removed node still connected hears it before the connection goes.
            if let peer = connection.peer, state.isDenied(nodeID: peer.nodeID) { noticeRemoval(of: peer.nodeID, on: connection.id) }
            transport.close(connection: connection.id, reason: "refused \(kind): \(reason)")
        }
    }

    /// What this node knows for the authorization table, read from the live state.
    func authorizationFacts() -> AuthorizationFacts {
        var members: Set<NodeID>?
        if let current = raft, !(current.confState.voters.isEmpty && current.confState.learners.isEmpty) {
            members = Set(current.confState.voters + current.confState.learners)
        }
        let state = self.state
        let leader = raft.map { $0.leader != noNode ? $0.leader : knownLeader } ?? knownLeader
        return AuthorizationFacts(
            localIsManager: raft != nil, hasState: raft != nil && state.cluster != nil,
            stateRole: { state.nodes[$0]?.spec.role }, isDenied: { state.isDenied(nodeID: $0) },
            raftMembers: members, leader: leader,
            taskOwner: { id in
                guard let task = state.tasks[id] else { return .unknown }
                return task.nodeID.map { .node($0) } ?? .unassigned
            })
    }

    private func decode<T: Decodable>(_ application: ApplicationFrame, _ type: T.Type, on connection: ConnectionInfo) -> T? {
        guard let value = application.decode(type) else {
            refuseFrame("undecodable \(type) payload", kind: String(describing: application.nodeKind.map { "\($0)" } ?? "unknown"),
                        on: connection, close: true)
            return nil
        }
        return value
    }
}

extension ConnectionID {
    /// Stands for "no connection to close" where a frame arrived outside `ConnectionInfo`
    /// (Raft messages, delivered by peer).
    static let none = ConnectionID(rawValue: 0)
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
