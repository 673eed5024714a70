import ClusterState

/// The services a control-plane run deploys and the changes it makes to them, one at a time,
/// each retried through the current leader until the state shows it.
struct Workload {
    enum Role: String {
        /// Replicated, runs until stopped; scaled and rolling-updated.
        case steady
        /// Like steady, with a maximum of replicas per node.
        case capped
        /// Tasks that run a while and exit (often failing) under restart condition none or
        /// on-failure (sometimes with max attempts); never changed after creation.
        case batch
        /// Tasks that run a while and often fail under restart condition any; scaled.
        case flaky
        /// One task per node; rolling-updated.
        case global
    }

    struct Planned {
        var id: String
        var spec: ServiceSpec
        var role: Role
        var version = 1
    }

    enum Operation {
        case create(service: Int)
        case scale(service: Int, spec: ServiceSpec)
        case update(service: Int, spec: ServiceSpec)
    }

    var services: [Planned] = []
    var queued: [Operation] = []
    var current: Operation?
    var lastProposedAt = Int.min / 2

    var pendingDescription: String? {
        guard let current else { return nil }
        switch current {
        case let .create(index): return "creating \(services[index].spec.name)"
        case let .scale(index, _): return "scaling \(services[index].spec.name)"
        case let .update(index, _): return "updating \(services[index].spec.name)"
        }
    }
}

extension ControlPlaneSimulator {
    // MARK: - Workload

    func planWorkload() {
        var roles: [Workload.Role] = [.steady, .capped, .batch]
        if chance(50) { roles.append(.steady) }
        if chance(70) { roles.append(.flaky) }
        if chance(70) { roles.append(.global) }
        for (index, role) in roles.enumerated() {
            let name = "\(role.rawValue)\(index + 1)"
            var spec = makeSpec(name: name, role: role)
            addNetworking(&spec, role: role, index: index)
            workload.services.append(Workload.Planned(id: "service-\(index + 1)", spec: spec, role: role))
            workload.queued.append(.create(service: index))
        }
        queue.schedule(.workload, at: 300)
    }

    private var cappedLimit: Int { 1 + pick(2) }

    /// Workers that run task networking: the capped service is on networks, so only they hold it.
    private var networkedWorkers: Int { workerHosts.filter(runsTaskNetworking).count }

    private func makeSpec(name: String, role: Workload.Role) -> ServiceSpec {
        let millis: Int64 = 1_000_000
        var env: [String]?
        var restart = RestartPolicy(condition: .any, delay: Int64(between(0, 1_000)) * millis, maxAttempts: 0)
        var placement: Placement?
        var mode = ServiceMode.replicated(replicas: UInt64(between(2, 6)))
        switch role {
        case .steady:
            break
        case .capped:
            let limit = cappedLimit
            placement = Placement(maxReplicas: UInt64(limit))
            mode = .replicated(replicas: UInt64(between(1, max(1, min(6, limit * networkedWorkers - 3)))))
        case .batch:
            let condition: RestartCondition = chance(50) ? .none : .onFailure
            restart = RestartPolicy(condition: condition, delay: Int64(between(0, 500)) * millis,
                                    maxAttempts: condition == .onFailure && chance(60) ? UInt64(between(1, 3)) : 0)
            env = ["SIM_RUN_MS=500-6000", "SIM_FAIL_PERCENT=\(between(20, 70))"]
            mode = .replicated(replicas: UInt64(between(1, 4)))
        case .flaky:
            env = ["SIM_RUN_MS=1000-8000", "SIM_FAIL_PERCENT=50"]
            mode = .replicated(replicas: UInt64(between(1, 4)))
        case .global:
            mode = .global
        }
        let template = TaskTemplate(containerSpec: ContainerSpec(image: "\(name):v1", env: env), restartPolicy: restart, placement: placement)
        var spec = ServiceSpec(name: name, taskTemplate: template, mode: mode, updateConfig: randomUpdateConfig())
        choosePayloads(&spec)
        return spec
    }

    private func randomUpdateConfig() -> UpdateConfig {
        let millis: Int64 = 1_000_000
        return UpdateConfig(parallelism: UInt64(between(1, 3)), delay: Int64(between(0, 300)) * millis, failureAction: .continue,
                            monitor: Int64(between(200, 1_000)) * millis, maxFailureRatio: 0,
                            order: chance(50) ? .startFirst : .stopFirst)
    }

    /// A random change to a service that may change: a scale or a rolling update. In quiet
    /// times it prefers rolling updates of services that are not updating (those get their
    /// availability checked).
    private func randomOperation(_ state: ClusterState) -> Workload.Operation? {
        var changeable = workload.services.indices.filter { workload.services[$0].role != .batch }
        var preferUpdate = false
        if isQuiet(state) && chance(80) {
            let idle = changeable.filter {
                workload.services[$0].role != .flaky && state.services[workload.services[$0].id]?.updateStatus?.state != .updating
            }
            if !idle.isEmpty {
                changeable = idle
                preferUpdate = true
            }
        }
        guard !changeable.isEmpty else { return nil }
        let index = changeable[pick(changeable.count)]
        let planned = workload.services[index]
        var spec = planned.spec
        let canScale = planned.role != .global
        let canUpdate = planned.role != .flaky
        if canScale && (!canUpdate || (!preferUpdate && chance(50))) {
            guard case let .replicated(current) = spec.mode else { return nil }
            var replicas = current
            let limit: Int
            switch planned.role {
            case .capped: limit = max(1, min(6, Int(spec.taskTemplate.placement?.maxReplicas ?? 1) * networkedWorkers - 3))
            case .flaky: limit = 4
            default: limit = 6
            }
            while replicas == current && limit > 1 { replicas = UInt64(between(1, limit)) }
            spec.mode = .replicated(replicas: replicas)
            return .scale(service: index, spec: spec)
        }
        let version = planned.version + 1
        workload.services[index].version = version
        spec.taskTemplate.containerSpec.image = "\(spec.name):v\(version)"
        if chance(50) { spec.updateConfig = randomUpdateConfig() }
        if payloadRandom.next() % 3 == 0 { choosePayloads(&spec) }
        if planned.role == .global { spec.updateConfig?.order = .stopFirst }
        if planned.role == .steady && chance(30) { togglePublishedPort(&spec) }
        if planned.role == .capped, case let .replicated(replicas) = spec.mode {
            // Start-first needs room for the new tasks next to the old ones.
            let room = Int(spec.taskTemplate.placement?.maxReplicas ?? 1) * options.workers
            if Int(replicas) + Int(spec.updateConfig?.parallelism ?? 1) > room { spec.updateConfig?.order = .stopFirst }
        }
        return .update(service: index, spec: spec)
    }

    func workloadStep() {
        guard let leader = readyLeader(), managers[leader].state.cluster != nil else {
            queue.schedule(.workload, at: now + 200)
            return
        }
        let state = managers[leader].state
        if workload.current == nil {
            if !workload.queued.isEmpty {
                workload.current = workload.queued.removeFirst()
            } else if faultsPhase && now < options.durationMillis - 2_000 {
                workload.current = randomOperation(state)
            }
            guard workload.current != nil else { return }
            workload.lastProposedAt = Int.min / 2
        }
        let operation = workload.current!
        let target: (index: Int, spec: ServiceSpec)
        switch operation {
        case let .create(index): target = (index, workload.services[index].spec)
        case let .scale(index, spec), let .update(index, spec): target = (index, spec)
        }
        let id = workload.services[target.index].id
        if let service = state.services[id], service.spec == target.spec {
            workload.services[target.index].spec = target.spec
            workload.current = nil
            switch operation {
            case .create: queue.schedule(.workload, at: now + 50)
            case .scale:
                report.scalings += 1
                queue.schedule(.workload, at: now + between(800, 3_000))
            case .update:
                report.rollingUpdates += 1
                queue.schedule(.workload, at: now + between(800, 3_000))
            }
            return
        }
        if now - workload.lastProposedAt >= 1_000 {
            workload.lastProposedAt = now
            if let service = state.services[id] {
                propose([.updateService(id: id, version: service.version, spec: target.spec, at: nowStamp)], on: leader)
            } else {
                propose([.createService(service: Service(id: id, createdAt: nowStamp, spec: target.spec))], on: leader)
            }
        }
        queue.schedule(.workload, at: now + 100)
    }

    // MARK: - Rolling-update availability windows (invariant 4)

    /// The fault-free quiet the availability bound needs: no fault active or healed within the
    /// last 2 s, every agent up with a live session, every worker node ready.
    func isQuiet(_ state: ClusterState) -> Bool {
        guard faults.isEmpty, now - lastFaultChangeAt >= 2_000 else { return false }
        for agent in agents where !agent.isUp || now - agent.lastAckAt > options.heartbeatPeriodMillis + options.heartbeatPeriodMillis / 2 {
            return false
        }
        return state.sortedNodes.allSatisfy { $0.spec.role == .manager || $0.status.state == .ready }
    }

    func desiredCount(_ service: Service, _ state: ClusterState) -> Int {
        switch service.spec.mode {
        case let .replicated(replicas): return Int(replicas)
        case .global: return state.sortedNodes.filter { $0.status.state == .ready && $0.spec.availability == .active }.count
        }
    }

    func runningCount(of serviceID: String, template: TaskTemplate? = nil) -> Int {
        running.values.filter { $0.serviceID == serviceID && (template == nil || $0.spec == template!) }.count
    }

    /// A committed service update opens a window when it starts a rolling update in quiet
    /// conditions from a fully running service; any other change to the service closes it.
    func observeForUpdateWindows(_ command: ClusterCommand, result: Result<Void, ClusterError>, slot: Int) {
        guard case .success = result, case let .updateService(id, _, spec, _) = command else { return }
        checker.windows[id] = nil
        let state = managers[slot].state
        guard let service = state.services[id], let previous = service.previousSpec,
              previous.taskTemplate != spec.taskTemplate, service.updateStatus?.state == .updating, isQuiet(state) else { return }
        let replicas = desiredCount(service, state)
        guard replicas > 0, runningCount(of: id) == replicas, runningCount(of: id, template: previous.taskTemplate) == replicas else { return }
        let config = (spec.updateConfig ?? UpdateConfig()).filled(from: .dockerDefault)
        let order = config.order ?? .stopFirst
        let parallelism = config.parallelism ?? 1
        let dropAllowed = parallelism == 0 ? replicas : min(Int(parallelism), replicas)
        checker.windows[id] = ControlPlaneInvariants.UpdateWindow(
            serviceName: spec.name, replicas: replicas, required: order == .startFirst ? replicas : replicas - dropAllowed,
            order: order, parallelism: parallelism, template: spec.taskTemplate, openedAt: now)
    }

    /// A task stopped running: a stop the control plane asked for must respect the window's
    /// bound; a task that died or exited by itself ends the window (that is not the update).
    func taskStoppedRunning(serviceID: String, intentionally: Bool) {
        guard let window = checker.windows[serviceID] else { return }
        guard intentionally else {
            checker.windows[serviceID] = nil
            return
        }
        let count = runningCount(of: serviceID)
        if count < window.required {
            checker.fail("rolling update availability: \(window.order.rawValue) update of \(window.serviceName) (\(window.replicas) tasks, parallelism \(window.parallelism)) left \(count) running at \(now) ms, bound \(window.required) (update started at \(window.openedAt) ms, no fault active)")
        }
    }

    /// Windows whose update finished (every task runs the new spec) are counted and closed;
    /// so are all windows once the quiet ends.
    func closeFinishedWindows() {
        guard !checker.windows.isEmpty else { return }
        let state = readyLeader().map { managers[$0].state }
        for id in checker.windows.keys.sorted() {
            let window = checker.windows[id]!
            guard let state, isQuiet(state) else {
                checker.windows[id] = nil
                continue
            }
            if runningCount(of: id, template: window.template) == window.replicas && runningCount(of: id) == window.replicas {
                checker.updatesChecked += 1
                checker.windows[id] = nil
            }
        }
    }

    // MARK: - Nemesis

    /// Storms of faults separated by calm periods (when rolling updates get checked).
    func planNemesis() {
        guard !options.faults.isEmpty else { return }
        var start = 2_000 + pick(2_000)
        while start < options.durationMillis - 1_000 {
            let stormEnd = min(start + between(3_000, 8_000), options.durationMillis - 500)
            var at = start
            while at < stormEnd {
                queue.schedule(.nemesis, at: at)
                at += between(400, 1_800)
            }
            start = stormEnd + between(5_000, 10_000)
        }
    }

    private func hostIsFaulty(_ host: Int) -> Bool { faults.values.contains { $0.host == host } }

    func injectFault() {
        guard faultsPhase, faults.count < 2 else { return }
        let enabled = options.faults.sorted()
        let kind = enabled[pick(enabled.count)]
        let host: Int
        let duration: Int
        switch kind {
        case .workerIsolated, .workerCrash:
            let candidates = workerHosts.filter { agents[$0].isUp && !isolated.contains($0) && !hostIsFaulty($0) }
            guard !candidates.isEmpty else { return }
            host = candidates[pick(candidates.count)]
            duration = between(1_000, 9_000)
        case .managerIsolated, .managerCrash:
            guard !(0..<options.managers).contains(where: hostIsFaulty), options.managers >= 3 else { return }
            host = readyLeader().flatMap { chance(50) ? $0 : nil } ?? pick(options.managers)
            duration = kind == .managerCrash ? between(500, 5_000) : between(1_000, 6_000)
        }
        switch kind {
        case .workerIsolated, .managerIsolated: isolated.insert(host)
        case .workerCrash, .managerCrash: crashHost(host)
        }
        let id = nextFaultID
        nextFaultID += 1
        faults[id] = ActiveFault(kind: kind, host: host)
        queue.schedule(.healFault(id: id), at: now + duration)
        lastFaultChangeAt = now
        log("fault \(kind.rawValue) on \(nodeID(host)) for \(duration) ms")
        checker.windows = [:]
        report.faultsInjected[kind, default: 0] += 1
    }

    func healFault(_ id: Int) {
        guard let fault = faults.removeValue(forKey: id) else { return }
        log("heal \(fault.kind.rawValue) on \(nodeID(fault.host))")
        switch fault.kind {
        case .workerIsolated, .managerIsolated: isolated.remove(fault.host)
        case .workerCrash, .managerCrash: restartHostNow(fault.host)
        }
        lastFaultChangeAt = now
    }

    func healAll() {
        faultsPhase = false
        log("heal everything")
        for id in faults.keys.sorted() { healFault(id) }
        for host in 0..<hostCount where !agents[host].isUp { restartHostNow(host) }
        cancelPendingExits()
        lastFaultChangeAt = now
        healedAt = now
    }
}
