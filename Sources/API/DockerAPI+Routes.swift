import ClusterState

/// The swarm and node routes. Each reads or proposes through the control plane and answers once.
extension DockerAPI {
    // MARK: Swarm

    func inspectSwarm(_ reply: @escaping Reply) {
        guard let controlPlane = manager(reply) else { return }
        withState(controlPlane, reply) { [weak self] view in
            guard let self else { return }
            guard let cluster = view.state.cluster else { return reply(APIError.notManager.response) }
            reply(json(200, ClusterInfo(cluster: cluster, includeJoinTokens: true, ca: view.state.certificateAuthority)))
        }
    }

    /// `POST /swarm/update?version=N&rotateWorkerToken=&rotateManagerToken=&rotateManagerUnlockKey=`
    /// with a ClusterSpec. Zero Raft ticks or heartbeat period mean "unchanged", as at `swarm init`.
    /// A change of `EncryptionConfig.AutoLockManagers`, or an unlock key rotation, is proposed as
    /// `setAutoLock` with a new key drawn here (the docker CLI then reads it from `/swarm/unlockkey`).
    func updateSwarm(_ request: HTTPRequest, _ reply: @escaping Reply) {
        guard let controlPlane = manager(reply) else { return }
        let version: ObjectVersion
        let submitted: ClusterSpec
        switch (Self.objectVersion(request, kind: "swarm"), Self.decodeBody(ClusterSpec.self, request)) {
        case let (.failure(error), _), let (_, .failure(error)): return reply(error.response)
        case let (.success(parsed), .success(spec)): (version, submitted) = (parsed, spec)
        }
        let rotateUnlockKey = request.query.bool("rotateManagerUnlockKey")
        let rotations = [NodeRole.worker, .manager].filter { request.query.bool($0 == .worker ? "rotateWorkerToken" : "rotateManagerToken") }
        withState(controlPlane, reply) { [weak self] view in
            guard let self else { return }
            guard let current = view.state.cluster?.spec else { return reply(APIError.notManager.response) }
            let spec = Self.merging(submitted, over: current)
            let testCluster = controlPlane.chaosStatus.enabled
            if let problem = Self.validate(spec, testCluster: testCluster) ?? Self.unchangeableRaftSetting(spec.raft, current: current.raft) {
                return reply(APIError(status: 400, "rpc error: code = InvalidArgument desc = \(problem)").response)
            }
            let command: ClusterCommand
            switch AutoLockChange.decide(asked: spec.autoLockManagers, current: current.autoLockManagers, rotate: rotateUnlockKey) {
            case let .refused(problem): return reply(APIError.failedPrecondition(problem).response)
            case .unchanged: command = .updateClusterSpec(version: version, spec: spec, at: now())
            case let .set(on):
                do {
                    command = .setAutoLock(version: version, spec: spec, unlockKey: on ? try AutoLockChange.newUnlockKey() : nil, at: now())
                } catch {
                    return reply(APIError.internalError("could not draw an unlock key: \(error)").response)
                }
            }
            controlPlane.propose(command) { [weak self] result in
                guard let self else { return }
                guard case .success = result else { return Self.emptyReply(reply)(result) }
                rotate(rotations, controlPlane, Self.emptyReply(reply))
            }
        }
    }

    static func merging(_ submitted: ClusterSpec, over current: ClusterSpec) -> ClusterSpec {
        var spec = submitted
        if spec.name.isEmpty { spec.name = current.name }
        if spec.raft.electionTick == 0 { spec.raft.electionTick = current.raft.electionTick }
        if spec.raft.heartbeatTick == 0 { spec.raft.heartbeatTick = current.raft.heartbeatTick }
        if spec.raft.snapshotInterval == 0 { spec.raft.snapshotInterval = current.raft.snapshotInterval }
        if spec.dispatcher.heartbeatPeriod == 0 { spec.dispatcher.heartbeatPeriod = current.dispatcher.heartbeatPeriod }
        if spec.caConfig == nil { spec.caConfig = current.caConfig }
        if spec.encryptionConfig == nil { spec.encryptionConfig = current.encryptionConfig }
        return spec
    }

    /// `testCluster`: the manager runs with chaos enabled, where node certificates may be as short
    /// as a minute (to exercise renewal); elsewhere at least an hour, as Docker.
    static func validate(_ spec: ClusterSpec, testCluster: Bool = false) -> String? {
        if spec.raft.heartbeatTick < 1 { return "heartbeat tick must be at least 1" }
        if spec.raft.electionTick <= spec.raft.heartbeatTick { return "election tick must be greater than heartbeat tick" }
        if spec.dispatcher.heartbeatPeriod < 0 { return "heartbeat period must not be negative" }
        if spec.orchestration.taskHistoryRetentionLimit < 0 { return "task history retention limit must not be negative" }
        if let expiry = spec.caConfig?.nodeCertExpiry {
            if testCluster, expiry < 60 * 1_000_000_000 {
                return "minimum certificate expiry time is 1m0s on a test cluster (manager run with --enable-chaos)"
            }
            if !testCluster, expiry < 3_600 * 1_000_000_000 {
                return "minimum certificate expiry time is 1h0m0s (1m only on a test cluster, whose managers run with --enable-chaos)"
            }
        }
        return nil
    }

    /// The Raft settings each node takes from its own configuration at start (cluster.conf keys):
    /// a swarm update that changes one is refused, naming it, rather than recorded and ignored.
    static func unchangeableRaftSetting(_ raft: ClusterSpec.RaftSettings, current: ClusterSpec.RaftSettings) -> String? {
        let settings: [(String, Bool, String)] = [
            ("Raft.SnapshotInterval", raft.snapshotInterval != current.snapshotInterval, "snapshot-every"),
            // Zero means "not given" for these two, as `merging` treats the other three.
            ("Raft.KeepOldSnapshots", raft.keepOldSnapshots != 0 && raft.keepOldSnapshots != current.keepOldSnapshots,
             "none (three snapshots are kept)"),
            ("Raft.LogEntriesForSlowFollowers",
             raft.logEntriesForSlowFollowers != 0 && raft.logEntriesForSlowFollowers != current.logEntriesForSlowFollowers,
             "snapshot-retain-entries"),
            ("Raft.ElectionTick", raft.electionTick != current.electionTick, "election-ticks"),
            ("Raft.HeartbeatTick", raft.heartbeatTick != current.heartbeatTick, "heartbeat-ticks"),
        ]
        guard let (field, _, key) = settings.first(where: { $0.1 }) else { return nil }
        return "\(field) cannot be changed by a swarm update: each node takes it from its configuration "
            + "(cluster.conf key or flag: \(key)) when it starts"
    }

    /// Proposes one token rotation after another, then completes.
    private func rotate(_ roles: [NodeRole], _ controlPlane: any ControlPlane, _ done: @escaping (Result<Void, APIError>) -> Void) {
        guard let role = roles.first else { return done(.success(())) }
        let (secret, token) = controlPlane.newJoinToken(role: role)
        controlPlane.propose(.rotateJoinToken(role: role, secret: secret, token: token, at: now())) { [weak self] result in
            guard let self, case .success = result else { return done(result) }
            rotate(Array(roles.dropFirst()), controlPlane, done)
        }
    }

    /// `GET /swarm/unlockkey`: the managers' unlock key from the replicated state (a linearizable
    /// read, so a key rotated through another manager is seen); empty while autolock is off, which
    /// the docker CLI prints as "no unlock key is set".
    func unlockKey(_ reply: @escaping Reply) {
        guard let controlPlane = manager(reply) else { return }
        withState(controlPlane, reply) { [weak self] view in
            guard let self else { return }
            reply(json(200, UnlockKeyResponse(unlockKey: view.state.managerUnlockKey ?? "")))
        }
    }

    /// `POST /swarm/unlock` on a running node: it is not locked (a locked manager answers this
    /// route from its locked listener, `LockedManager`), as dockerd says; the key is not looked at.
    func unlockSwarm(_ reply: @escaping Reply) {
        reply(APIError(status: 503, "swarm is not locked!").response)
    }

    /// `POST /swarm/leave?force=bool`; allowed on workers too.
    func leaveSwarm(_ request: HTTPRequest, _ reply: @escaping Reply) {
        guard let controlPlane = anyNode(reply) else { return }
        controlPlane.leave(force: request.query.bool("force"), Self.emptyReply(reply))
    }

    // MARK: Nodes

    func listNodes(_ request: HTTPRequest, _ reply: @escaping Reply) {
        guard let controlPlane = manager(reply) else { return }
        let filter: NodeFilter
        switch NodeFilter.parse(request.query["filters"]) {
        case let .failure(error): return reply(error.response)
        case let .success(parsed): filter = parsed
        }
        withState(controlPlane, reply) { [weak self] view in
            guard let self else { return }
            reply(json(200, view.presentedNodes.filter(filter.matches)))
        }
    }

    func inspectNode(_ reference: String, _ reply: @escaping Reply) {
        guard let controlPlane = manager(reply) else { return }
        withState(controlPlane, reply) { [weak self] view in
            guard let self else { return }
            switch view.state.findNode(reference) {
            case let .success(node): reply(json(200, view.presented(node)))
            case let .failure(error): reply(APIError(error).response)
            }
        }
    }

    /// `POST /nodes/{ref}/update?version=N` with a NodeSpec; a role change promotes or demotes.
    func updateNode(_ reference: String, _ request: HTTPRequest, _ reply: @escaping Reply) {
        guard let controlPlane = manager(reply) else { return }
        let version: ObjectVersion
        let spec: NodeSpec
        switch (Self.objectVersion(request, kind: "node"), Self.decodeBody(NodeSpec.self, request)) {
        case let (.failure(error), _), let (_, .failure(error)): return reply(error.response)
        case let (.success(parsed), .success(decoded)): (version, spec) = (parsed, decoded)
        }
        withState(controlPlane, reply) { [weak self] view in
            guard let self else { return }
            switch view.state.findNode(reference) {
            case let .failure(error): reply(APIError(error).response)
            case let .success(node): controlPlane.updateNode(id: node.id, version: version, spec: spec, at: now(), Self.emptyReply(reply))
            }
        }
    }

    /// `DELETE /nodes/{ref}?force=bool`.
    func removeNode(_ reference: String, _ request: HTTPRequest, _ reply: @escaping Reply) {
        guard let controlPlane = manager(reply) else { return }
        let force = request.query.bool("force")
        withState(controlPlane, reply) { [weak self] view in
            guard let self else { return }
            switch view.state.findNode(reference) {
            case let .failure(error): reply(APIError(error).response)
            case let .success(node): controlPlane.removeNode(id: node.id, force: force, at: now(), Self.emptyReply(reply))
            }
        }
    }
}
