import Raft

// The nemesis: starts a random enabled fault every few virtual seconds (at most two at once),
// heals each after a random while, and heals everything when the fault phase ends.
extension Simulator {
    func injectFault() {
        guard faultsActive else { return }
        queue.schedule(.nemesis, at: now + 200 + pick(1_800))
        guard faults.count < 2 else { return }
        let enabled = options.faults.sorted()
        let kind = enabled[pick(enabled.count)]
        let injected: Bool
        switch kind {
        case .loss, .duplicate, .reorder:
            injected = degradeNetwork(kind)
        case .leaderCrash:
            injected = startLeaderCrashStorm()
        case .partition, .oneWay, .bridge, .isolateLeader, .leaderOnly:
            injected = cutLinks(kind)
        case .crash:
            injected = crashRandomNode()
        case .membership:
            injected = changeMembership()
        case .transfer:
            injected = transferLeadership()
        }
        if injected { report.faultsInjected[kind, default: 0] += 1 }
    }

    private func remember(_ fault: ActiveFault) {
        let id = nextFaultID
        nextFaultID += 1
        faults[id] = fault
        queue.schedule(.healFault(id: id), at: now + 300 + pick(5_000))
    }

    private func degradeNetwork(_ kind: FaultKind) -> Bool {
        guard !faults.values.contains(where: { $0.kind == kind }) else { return false }
        switch kind {
        case .loss: lossPercent = 5 + pick(25)
        case .duplicate: duplicatePercent = 10 + pick(30)
        default:
            jitterMillis = 20 + pick(100)
            slowSlot = chance(50) ? pick(nodes.count) : nil
        }
        remember(ActiveFault(kind: kind, blocked: [], crashedSlot: nil))
        return true
    }

    private func cutLinks(_ kind: FaultKind) -> Bool {
        let live = shuffled(nodes.indices.filter { !nodes[$0].isRetired })
        guard live.count >= 2 else { return false }
        var blocked = Set<Link>()
        func cut(_ a: [Int], _ b: [Int]) {
            for x in a { for y in b { blocked.insert(Link(from: x, to: y)); blocked.insert(Link(from: y, to: x)) } }
        }
        switch kind {
        case .partition:
            let split = 1 + pick(live.count - 1)
            cut(Array(live[..<split]), Array(live[split...]))
        case .oneWay:
            blocked.insert(Link(from: live[0], to: live[1]))
        case .bridge:
            guard live.count >= 3 else { return false }
            let rest = Array(live.dropFirst())
            let split = 1 + pick(rest.count - 1)
            cut(Array(rest[..<split]), Array(rest[split...]))
        case .isolateLeader:
            guard let leader = currentLeaderSlot() else { return false }
            cut([leader], live.filter { $0 != leader })
        default:
            guard let leader = currentLeaderSlot(), let lonely = live.first(where: { $0 != leader }) else { return false }
            cut([lonely], live.filter { $0 != leader && $0 != lonely })
        }
        remember(ActiveFault(kind: kind, blocked: blocked, crashedSlot: nil))
        return true
    }

    private func startLeaderCrashStorm() -> Bool {
        guard !leaderCrashStorm else { return false }
        leaderCrashStorm = true
        remember(ActiveFault(kind: .leaderCrash, blocked: [], crashedSlot: nil))
        return true
    }

    private func crashRandomNode() -> Bool {
        let active = nodes.indices.filter { !nodes[$0].isRetired }
        let up = active.filter { nodes[$0].isUp }
        guard !up.isEmpty, downCount() < (active.count - 1) / 2 + (active.count == 1 ? 1 : 0) else { return false }
        // Half the crashes hit the leader: that is where the interesting recoveries are.
        let slot = currentLeaderSlot().flatMap { chance(50) ? $0 : nil } ?? up[pick(up.count)]
        crashSlot(slot)
        remember(ActiveFault(kind: .crash, blocked: [], crashedSlot: slot))
        return true
    }

    private func transferLeadership() -> Bool {
        guard let leader = currentLeaderSlot() else { return false }
        let voters = nodes[leader].raft.confState.voters.filter { $0 != nodes[leader].id }
        guard !voters.isEmpty else { return false }
        nodes[leader].raft.transferLeadership(to: voters[pick(voters.count)])
        report.leaderTransfers += 1
        drainReady(leader)
        return true
    }

    /// One step of the membership cycle: re-add a replaced member as a fresh learner, promote a
    /// learner that caught up, or remove a voter (sometimes the leader itself).
    private func changeMembership() -> Bool {
        guard let leader = currentLeaderSlot() else { return false }
        let raft = nodes[leader].raft
        let conf = raft.confState
        var change: ConfChange?
        var joiningSlot: Int?
        if let slot = nodes.indices.first(where: { nodes[$0].isJoining && nodes[$0].isUp && !conf.contains(nodes[$0].id) }) {
            change = ConfChange(kind: .addLearner, nodeID: nodes[slot].id)
        } else if let learner = conf.learners.first, let peer = raft.progress(of: learner), peer.match >= raft.commitIndex {
            change = ConfChange(kind: .addVoter, nodeID: learner)
            joiningSlot = slotOfMember[learner]
        } else if let slot = nodes.indices.first(where: { nodes[$0].isRetired }) {
            let member = nextMemberID
            nextMemberID += 1
            nodes[slot] = makeNodeForJoin(member)
            slotOfMember[member] = slot
            change = ConfChange(kind: .addLearner, nodeID: member)
        } else if conf.voters.count > max(2, nodes.count - 2) {
            let others = conf.voters.filter { $0 != raft.id }
            let victim = chance(30) || others.isEmpty ? raft.id : others[pick(others.count)]
            change = ConfChange(kind: .removeNode, nodeID: victim)
        }
        guard let change else { return false }
        do {
            try nodes[leader].raft.proposeConfChange(change)
        } catch {
            return false
        }
        if let joiningSlot { nodes[joiningSlot].isJoining = false }
        drainReady(leader)
        return true
    }

    private func makeNodeForJoin(_ member: NodeID) -> SimNode {
        var config = RaftConfig(id: member, randomSeed: options.seed &* 31 &+ member &* 1_000_003)
        config.snapshotChunkSize = 32
        config.maxInflightMessages = 8
        config.maxBytesPerMessage = maxBytesPerMessage
        var node = SimNode(id: member, raft: RaftNode(config: config, state: .joining), disk: SimDisk(.joining))
        node.isJoining = true
        return node
    }

    func healFault(_ id: Int) {
        guard let fault = faults.removeValue(forKey: id) else { return }
        switch fault.kind {
        case .loss: lossPercent = 0
        case .duplicate: duplicatePercent = 0
        case .reorder:
            jitterMillis = 2
            slowSlot = nil
        case .leaderCrash: leaderCrashStorm = false
        default: break
        }
        if let slot = fault.crashedSlot { queue.schedule(.restart(slot: slot), at: now) }
    }

    func healAll() {
        faultsActive = false
        for id in faults.keys.sorted() { healFault(id) }
        for slot in nodes.indices where !nodes[slot].isUp && !nodes[slot].isRetired {
            queue.schedule(.restart(slot: slot), at: now)
        }
        healedAt = now
    }

    func currentLeaderSlot() -> Int? {
        nodes.indices
            .filter { nodes[$0].isUp && nodes[$0].raft.role == .leader }
            .max { nodes[$0].raft.term < nodes[$1].raft.term }
    }

    func shuffled(_ slots: [Int]) -> [Int] {
        var result = slots
        guard result.count > 1 else { return result }
        for index in stride(from: result.count - 1, to: 0, by: -1) {
            result.swapAt(index, pick(index + 1))
        }
        return result
    }
}
