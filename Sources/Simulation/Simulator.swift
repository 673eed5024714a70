import Raft

/// A deterministic cluster in one process: N Raft nodes on a virtual clock, a simulated network
/// and disk, clients that write and read, and a nemesis injecting faults, all drawn from one
/// seed. After every step it checks Raft's safety properties; after the faults heal it checks
/// that the cluster makes progress again.
public final class Simulator {
    enum Event {
        case tick(slot: Int)
        case deliver(Message, fromSlot: Int, sentAt: Int)
        case clientStep(client: Int)
        case clientTimeout(client: Int, operation: UInt64)
        case nemesis
        case healFault(id: Int)
        case restart(slot: Int)
        case leaderLost(slot: Int, leader: NodeID)
        case retire(slot: Int, member: NodeID)
        case crashLeader(slot: Int, term: UInt64)
        case healAll
        case livenessProbe
    }

    /// A simulated node slot. A slot keeps its index for the run; its Raft id changes when the
    /// membership nemesis replaces the member (ids are never reused).
    struct SimNode {
        var id: NodeID
        var raft: RaftNode
        var disk: SimDisk
        var stateMachine = KVStateMachine()
        var isUp = true
        var isRetired = false
        var isJoining = false
        var pendingWrites: [UInt64: (client: Int, operation: UInt64, term: UInt64)] = [:]
        var waitingReads: [(index: UInt64, client: Int, operation: UInt64)] = []
        var lastSnapshotIndex: UInt64 = 0
    }

    enum ClientOperation {
        case idle
        case write(operation: UInt64, slot: Int, key: UInt8, value: UInt64)
        case read(operation: UInt64, slot: Int, key: UInt8, lowerBound: UInt64)
    }

    struct ActiveFault {
        var kind: FaultKind
        var blocked: Set<Link>
        var crashedSlot: Int?
    }

    struct Link: Hashable {
        var from: Int
        var to: Int
    }

    let options: SimulationOptions
    var random: SplitMix64
    var now = 0
    var queue = EventQueue<Event>()
    var nodes: [SimNode] = []
    var slotOfMember: [NodeID: Int] = [:]
    var nextMemberID: NodeID
    var checker = InvariantChecker()
    var report = SimulationReport()
    var clients: [ClientOperation]
    var nextOperation: UInt64 = 1
    var clientLeaderHint: [Int?]
    var faults: [Int: ActiveFault] = [:]
    var nextFaultID = 0
    var lossPercent = 0
    var duplicatePercent = 0
    var jitterMillis = 2
    /// When set, only links to or from this slot get the wide jitter.
    var slowSlot: Int?
    var leaderCrashStorm = false
    /// Messages a crashed node sent before this time never arrive (its connections were reset).
    var lostInFlight: [Int: Int] = [:]
    /// When each slot last became leader.
    var leaderSince: [Int: Int] = [:]
    /// Bytes of entries per append message for this run: 1 forces one entry per message.
    let maxBytesPerMessage: Int
    var faultsActive = true
    var healedAt: Int?
    var livenessSatisfied = false
    var seenLeaders: Set<UInt64> = []

    public init(options: SimulationOptions) {
        precondition(options.nodes >= 1, "at least one node")
        self.options = options
        random = SplitMix64(seed: options.seed)
        maxBytesPerMessage = [1, 1, 160, 4096][Int(options.seed % 4)]
        clients = Array(repeating: .idle, count: options.clients)
        clientLeaderHint = Array(repeating: nil, count: options.clients)
        let founders = (1...options.nodes).map { NodeID($0) }
        nextMemberID = NodeID(options.nodes + 1)
        for (slot, member) in founders.enumerated() {
            let state = PersistentState.bootstrap(voters: founders)
            nodes.append(makeNode(member, state: state))
            slotOfMember[member] = slot
        }
    }

    private func makeNode(_ member: NodeID, state: PersistentState) -> SimNode {
        var config = RaftConfig(id: member, randomSeed: options.seed &* 31 &+ member &* 1_000_003)
        config.snapshotChunkSize = 32
        config.maxInflightMessages = 8
        config.maxBytesPerMessage = maxBytesPerMessage
        var node = SimNode(id: member, raft: RaftNode(config: config, state: state), disk: SimDisk(state))
        if !state.snapshot.isEmpty {
            node.stateMachine = KVStateMachine(snapshot: state.snapshot)
            node.lastSnapshotIndex = state.snapshot.metadata.index
        }
        return node
    }

    /// Runs the whole schedule and returns what happened.
    public func run() -> SimulationReport {
        report.runs = 1
        for slot in nodes.indices {
            queue.schedule(.tick(slot: slot), at: 1 + Int(random.next() % UInt64(options.tickMillis)))
            drainReady(slot)
        }
        for client in clients.indices { queue.schedule(.clientStep(client: client), at: 50 + client * 7) }
        if !options.faults.isEmpty { queue.schedule(.nemesis, at: 1_000 + pick(2_000)) }
        queue.schedule(.healAll, at: options.durationMillis)
        let end = options.durationMillis + options.livenessBoundMillis
        while let (time, event) = queue.pop(), time <= end, checker.violation == nil {
            now = time
            handle(event)
            if livenessSatisfied { break }
        }
        if checker.violation == nil && !livenessSatisfied {
            checker.failLiveness("no write committed within \(options.livenessBoundMillis) ms after every fault healed")
        }
        report.entriesCommitted = checker.appliedAt.count
        if let violation = checker.violation { report.violation = (options.seed, violation) }
        return report
    }

    func pick(_ bound: Int) -> Int { random.below(bound) }
    func chance(_ percent: Int) -> Bool { pick(100) < percent }

    private func handle(_ event: Event) {
        switch event {
        case let .tick(slot):
            queue.schedule(.tick(slot: slot), at: now + options.tickMillis)
            guard nodes[slot].isUp else { return }
            nodes[slot].raft.tick()
            drainReady(slot)
        case let .deliver(message, fromSlot, sentAt):
            if let cutoff = lostInFlight[fromSlot], sentAt < cutoff { return }
            guard let slot = slotOfMember[message.to], nodes[slot].isUp, nodes[slot].id == message.to else { return }
            nodes[slot].raft.step(message)
            drainReady(slot)
        case let .clientStep(client):
            startOperation(client)
        case let .clientTimeout(client, operation):
            abandonOperation(client, operation)
        case .nemesis:
            injectFault()
        case let .healFault(id):
            healFault(id)
        case let .restart(slot):
            restart(slot)
        case let .leaderLost(slot, leader):
            guard nodes[slot].isUp, nodes[slot].raft.leader == leader else { return }
            nodes[slot].raft.reportLeaderUnreachable()
            drainReady(slot)
        case let .retire(slot, member):
            retire(slot, member)
        case let .crashLeader(slot, term):
            crashNewLeader(slot, term: term)
        case .healAll:
            healAll()
        case .livenessProbe:
            break
        }
    }

    // MARK: - The shell: carrying out Ready batches

    func drainReady(_ slot: Int) {
        while nodes[slot].isUp && nodes[slot].raft.hasReady && checker.violation == nil {
            let ready = nodes[slot].raft.ready()
            if crashesMidWrite(slot, ready) { return }
            nodes[slot].disk.persist(ready)
            checker.observeAppended(ready.entries, on: nodes[slot].id)
            for message in ready.messages { transmit(message, from: slot) }
            if let snapshot = ready.snapshot {
                nodes[slot].stateMachine = KVStateMachine(snapshot: snapshot)
                nodes[slot].lastSnapshotIndex = snapshot.metadata.index
                report.snapshotsInstalled += 1
            }
            for entry in ready.committedEntries { apply(entry, on: slot) }
            for readState in ready.readStates { readIsServable(readState, on: slot) }
            nodes[slot].raft.advance(ready)
            if let soft = ready.softState { observe(soft, on: slot) }
            serveWaitingReads(slot)
            maybeSnapshot(slot)
        }
    }

    /// With the crash fault on, a node occasionally dies while writing a batch: part of the
    /// entries reach the disk, the hard state and every message of the batch are lost. During a
    /// leader-crash storm a node that just won often dies after its write but before sending.
    private func crashesMidWrite(_ slot: Int, _ ready: Ready) -> Bool {
        guard faultsActive else { return false }
        if ready.softState?.role == .leader { leaderSince[slot] = now }
        if leaderCrashStorm, !ready.messages.isEmpty, nodes[slot].raft.role == .leader, now - (leaderSince[slot] ?? 0) < 300, chance(50) {
            nodes[slot].disk.persist(ready)
            checker.observeAppended(ready.entries, on: nodes[slot].id)
            crashSlot(slot)
            report.faultsInjected[.leaderCrash, default: 0] += 1
            queue.schedule(.restart(slot: slot), at: now + 100 + pick(1_500))
            return true
        }
        guard options.faults.contains(.crash), !ready.entries.isEmpty, chance(1), downCount() < (nodes.count - 1) / 2 else { return false }
        // 0...all entries reach the disk; the last one written may be damaged (torn or flipped).
        nodes[slot].disk.persist(ready, tornAfter: pick(ready.entries.count + 1), damageLast: chance(50))
        crashSlot(slot)
        report.faultsInjected[.crash, default: 0] += 1
        queue.schedule(.restart(slot: slot), at: now + 200 + pick(3_000))
        return true
    }

    private func apply(_ entry: Entry, on slot: Int) {
        let member = nodes[slot].id
        let version = nodes[slot].stateMachine.apply(entry)
        if checker.observeApplied(entry, on: member) {
            if entry.kind == .confChange && entry.term > 1 { report.membershipChanges += 1 }
        }
        if entry.kind == .confChange, let change = try? ConfChange(wireBytes: entry.data),
           change.kind == .removeNode, let removedSlot = slotOfMember[change.nodeID] {
            queue.schedule(.retire(slot: removedSlot, member: change.nodeID), at: now + 300)
        }
        guard let pending = nodes[slot].pendingWrites.removeValue(forKey: entry.index) else { return }
        guard case let .write(operation, _, key, _) = clients[pending.client], operation == pending.operation else { return }
        if entry.term == pending.term, let version {
            checker.acknowledgeWrite(key: key, version: version)
            report.writesAcknowledged += 1
            if healedAt != nil { livenessSatisfied = true }
        }
        finishOperation(pending.client)
    }

    private func readIsServable(_ readState: ReadState, on slot: Int) {
        guard let operation = decodeOperation(readState.context),
              let client = clients.firstIndex(where: { if case let .read(op, s, _, _) = $0 { op == operation && s == slot } else { false } })
        else { return }
        nodes[slot].waitingReads.append((readState.index, client, operation))
    }

    private func serveWaitingReads(_ slot: Int) {
        let applied = nodes[slot].stateMachine.appliedIndex
        var still: [(index: UInt64, client: Int, operation: UInt64)] = []
        for waiting in nodes[slot].waitingReads {
            guard waiting.index <= applied else {
                still.append(waiting)
                continue
            }
            guard case let .read(operation, _, key, lowerBound) = clients[waiting.client], operation == waiting.operation else { continue }
            let register = nodes[slot].stateMachine.read(key)
            checker.checkRead(key: key, version: register.version, lowerBound: lowerBound, node: nodes[slot].id, index: waiting.index)
            report.readsChecked += 1
            finishOperation(waiting.client)
        }
        nodes[slot].waitingReads = still
    }

    private func observe(_ soft: SoftState, on slot: Int) {
        let raft = nodes[slot].raft
        switch soft.role {
        case .candidate:
            report.elections += 1
        case .leader where raft.role == .leader:
            checker.observeLeader(raft.id, term: raft.term)
            checker.checkLeaderCompleteness(raft)
            if seenLeaders.insert(raft.term).inserted { report.leaderChanges += 1 }
            if leaderCrashStorm && chance(50) {
                queue.schedule(.crashLeader(slot: slot, term: raft.term), at: now + pick(20))
            }
        default:
            break
        }
    }

    private func maybeSnapshot(_ slot: Int) {
        let applied = nodes[slot].raft.appliedIndex
        guard applied >= nodes[slot].lastSnapshotIndex + options.snapshotInterval,
              nodes[slot].stateMachine.appliedIndex == applied else { return }
        let snapshot = nodes[slot].raft.takeSnapshot(data: nodes[slot].stateMachine.snapshotData(), retainEntries: options.retainEntries)
        nodes[slot].disk.installSnapshot(snapshot, keepEntries: true)
        nodes[slot].lastSnapshotIndex = applied
    }

    // MARK: - Network

    private func transmit(_ message: Message, from slot: Int) {
        guard let target = slotOfMember[message.to] else { return }
        let link = Link(from: slot, to: target)
        if faults.values.contains(where: { $0.blocked.contains(link) }) { return }
        if lossPercent > 0 && chance(lossPercent) { return }
        let copies = duplicatePercent > 0 && chance(duplicatePercent) ? 2 : 1
        for _ in 0..<copies {
            let jitter = slowSlot == nil || slowSlot == slot || slowSlot == target ? jitterMillis : 2
            queue.schedule(.deliver(message, fromSlot: slot, sentAt: now), at: now + 1 + pick(jitter))
        }
    }

    // MARK: - Crashes and restarts

    func downCount() -> Int { nodes.filter { !$0.isUp && !$0.isRetired }.count }

    func crashSlot(_ slot: Int) {
        let member = nodes[slot].id
        nodes[slot].isUp = false
        if chance(50) { lostInFlight[slot] = now }
        nodes[slot].pendingWrites = [:]
        nodes[slot].waitingReads = []
        // A crashed process closes its sockets: peers that followed it learn at once.
        for other in nodes.indices where other != slot && nodes[other].isUp && nodes[other].raft.leader == member {
            queue.schedule(.leaderLost(slot: other, leader: member), at: now + 1 + pick(3))
        }
    }

    private func restart(_ slot: Int) {
        guard !nodes[slot].isUp, !nodes[slot].isRetired else { return }
        let member = nodes[slot].id
        var disk = nodes[slot].disk
        let recovered = disk.recover()
        report.tornTailsRepaired += disk.repairedTails - nodes[slot].disk.repairedTails
        var restarted = makeNode(member, state: recovered)
        restarted.disk = disk
        restarted.isJoining = nodes[slot].isJoining
        nodes[slot] = restarted
        drainReady(slot)
    }

    private func crashNewLeader(_ slot: Int, term: UInt64) {
        let active = nodes.indices.filter { !nodes[$0].isRetired }.count
        guard leaderCrashStorm, nodes[slot].isUp, nodes[slot].raft.role == .leader, nodes[slot].raft.term == term,
              downCount() < active - 1 else { return }
        crashSlot(slot)
        report.faultsInjected[.leaderCrash, default: 0] += 1
        queue.schedule(.restart(slot: slot), at: now + 100 + pick(1_500))
    }

    private func retire(_ slot: Int, _ member: NodeID) {
        guard nodes[slot].id == member, !nodes[slot].isRetired else { return }
        nodes[slot].isUp = false
        nodes[slot].isRetired = true
    }
}
