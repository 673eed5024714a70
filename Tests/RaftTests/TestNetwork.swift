@testable import Raft
import Wire
import XCTest

// Test support for the Raft conformance suite: builders for single nodes driven by hand
// (the paper tests), and `TestNetwork`, a synchronous in-memory cluster that delivers messages
// until nothing moves, with partition controls and safety invariants checked on every Ready.

// MARK: - Builders

/// A config with the paper's numbers (election timeout 10 ticks, heartbeat every tick) and both
/// PreVote and CheckQuorum off unless a test turns them on.
func testConfig(
    _ id: NodeID, electionTicks: Int = 10, heartbeatTicks: Int = 1, preVote: Bool = false, checkQuorum: Bool = false
) -> RaftConfig {
    var config = RaftConfig(id: id)
    config.electionTicks = electionTicks
    config.heartbeatTicks = heartbeatTicks
    config.preVote = preVote
    config.checkQuorum = checkQuorum
    return config
}

/// Entries with the given terms at indexes `first`, `first + 1`, ...
func entries(terms: [UInt64], from first: UInt64 = 1) -> [Entry] {
    terms.enumerated().map { offset, term in Entry(term: term, index: first + UInt64(offset)) }
}

/// The durable state of a node whose membership is known from the start (an empty snapshot at
/// index 0 that carries the configuration) and whose log is exactly `log`. This is the shape the
/// paper tests want: indexes start at 1 with no bootstrap entries in the way.
func memberState(
    voters: [NodeID] = [1, 2, 3], learners: [NodeID] = [], log: [Entry] = [],
    term: UInt64 = 0, vote: NodeID = noNode, commit: UInt64 = 0
) -> PersistentState {
    let membership = SnapshotMetadata(index: 0, term: 0, confState: ConfState(voters: voters, learners: learners))
    return PersistentState(
        hardState: HardState(term: term, vote: vote, commit: commit),
        snapshot: Snapshot(metadata: membership), entries: log)
}

func makeRaft(
    _ id: NodeID, voters: [NodeID] = [1, 2, 3], learners: [NodeID] = [], log: [Entry] = [],
    term: UInt64 = 0, vote: NodeID = noNode, commit: UInt64 = 0, config: RaftConfig? = nil
) -> RaftNode {
    let state = memberState(voters: voters, learners: learners, log: log, term: term, vote: vote, commit: commit)
    return RaftNode(config: config ?? testConfig(id), state: state)
}

func message(
    _ kind: MessageKind, from: NodeID, to: NodeID, term: UInt64, index: UInt64 = 0, logTerm: UInt64 = 0,
    entries: [Entry] = [], commit: UInt64 = 0, reject: Bool = false
) -> Message {
    var message = Message(kind: kind, from: from, to: to, term: term)
    message.index = index
    message.logTerm = logTerm
    message.entries = entries
    message.commit = commit
    message.reject = reject
    return message
}

extension RaftNode {
    /// Takes the messages the node queued (what the next Ready would carry), like etcd's
    /// `readMessages`.
    mutating func takeMessages() -> [Message] {
        defer { messages = [] }
        return messages
    }

    /// Hands out one Ready and acknowledges it at once: "persisted", sent and applied.
    @discardableResult
    mutating func persistAndAdvance() -> Ready {
        let batch = ready()
        advance(batch)
        return batch
    }

    /// Makes this node leader of the next term without a vote round (unit tests only).
    mutating func forceLeader() {
        becomeCandidate()
        becomeLeader()
    }

    /// For a leader: makes its no-op durable and acknowledged by every voter, so it is committed,
    /// then discards the resulting messages. Leaves a leader that can take conf changes and reads.
    mutating func commitNoop() {
        precondition(role == .leader)
        persistAndAdvance()
        for voter in confState.voters where voter != id {
            step(message(.appendResponse, from: voter, to: id, term: term, index: lastIndex))
        }
        persistAndAdvance()
        messages = []
    }

    /// The whole in-memory log (entries after the compaction point).
    var logEntries: [Entry] { log.entries }
}

// MARK: - A durable store, as the shell would keep it

/// What a node "wrote to disk": enough to restart it and to check the persistence contract.
struct MemoryStorage {
    var hardState = HardState()
    var snapshot = Snapshot()
    var entries: [Entry] = []

    init(_ state: PersistentState) {
        hardState = state.hardState
        snapshot = state.snapshot
        entries = state.entries
    }

    var lastIndex: UInt64 { entries.last?.index ?? snapshot.metadata.index }

    mutating func persist(_ batch: Ready) {
        if let incoming = batch.snapshot {
            snapshot = incoming
            entries = []
        }
        if let first = batch.entries.first {
            entries.removeAll { $0.index >= first.index }
            entries.append(contentsOf: batch.entries)
        }
        if let hard = batch.hardState { hardState = hard }
    }

    var state: PersistentState { PersistentState(hardState: hardState, snapshot: snapshot, entries: entries) }
}

// MARK: - The network

/// A cluster of `RaftNode`s wired together in memory. Messages go into one FIFO queue and are
/// delivered one at a time; after every input the receiving node's Ready is drained (persisted
/// into its `MemoryStorage`, its messages queued, its committed entries applied) until the
/// whole cluster is quiet. Nothing here reads a clock: time moves only when a test ticks.
///
/// Every Ready is checked against the safety properties and the persistence contract:
/// at most one leader per term, the same entry applied at an index everywhere, entries applied
/// in order, vote grants and append acknowledgements only after the state they promise is durable.
final class TestNetwork {
    struct Link: Hashable {
        var from: NodeID
        var to: NodeID
    }

    private(set) var configs: [NodeID: RaftConfig] = [:]
    var nodes: [NodeID: RaftNode] = [:]
    var storage: [NodeID: MemoryStorage] = [:]

    // Partition controls, consulted at delivery time.
    /// Crashed nodes: they neither send nor receive, and are not ticked.
    var down: Set<NodeID> = []
    /// Directed links that drop everything.
    var blocked: Set<Link> = []
    /// Message kinds dropped everywhere.
    var ignored: Set<MessageKind> = []
    /// Last say over every message: may rewrite it; returning false drops it.
    var intercept: ((inout Message) -> Bool)?
    /// Seeded disorder: each message is delayed (sent to the back of the queue) with
    /// `delayPercent` chance and delivered twice with `duplicatePercent` chance.
    var disorder: (random: SplitMix64, delayPercent: UInt64, duplicatePercent: UInt64)?

    // What happened, for assertions.
    /// Every message any node emitted, in emission order.
    private(set) var sent: [Message] = []
    /// Every message that reached its destination.
    private(set) var delivered: [Message] = []
    private(set) var appliedIndex: [NodeID: UInt64] = [:]
    /// Normal (application) entries applied by each node, in order.
    private(set) var appliedData: [NodeID: [[UInt8]]] = [:]
    private(set) var readStates: [NodeID: [ReadState]] = [:]
    private(set) var installedSnapshots: [NodeID: [Snapshot]] = [:]
    private(set) var leaderOfTerm: [UInt64: NodeID] = [:]
    /// The first entry any node applied at each index (state machine safety).
    private var appliedAt: [UInt64: Entry] = [:]

    private var queue: [Message] = []
    private var queueHead = 0

    /// A cluster bootstrapped the production way (`PersistentState.bootstrap`): the founders'
    /// membership entries occupy indexes 1...voters.count and are applied at once.
    init(voters: [NodeID], configure: @escaping (inout RaftConfig) -> Void = { _ in }) {
        self.configure = configure
        for id in voters { add(config: config(for: id), state: .bootstrap(voters: voters)) }
    }

    /// An empty network; add nodes with `add`.
    init() { configure = { _ in } }

    /// Applies the network's tweaks (PreVote, CheckQuorum, chunk size...) to every node's config.
    private let configure: (inout RaftConfig) -> Void

    func config(for id: NodeID) -> RaftConfig {
        var config = testConfig(id)
        configure(&config)
        return config
    }

    /// Starts a node that joins an existing cluster (empty log; the leader will feed it once a
    /// membership change names it).
    func addJoining(_ id: NodeID) {
        add(config: config(for: id), state: .joining)
    }

    /// Adds a node (a founder, a joiner or a hand-built one) and drains its first Ready.
    func add(config: RaftConfig, state: PersistentState) {
        add(RaftNode(config: config, state: state), config: config, state: state)
    }

    func add(_ node: RaftNode, config: RaftConfig, state: PersistentState) {
        let id = node.id
        configs[id] = config
        nodes[id] = node
        storage[id] = MemoryStorage(state)
        appliedIndex[id] = state.snapshot.metadata.index
        appliedData[id] = appliedData[id] ?? []
        readStates[id] = readStates[id] ?? []
        drain(id)
    }

    var ids: [NodeID] { nodes.keys.sorted() }

    subscript(id: NodeID) -> RaftNode {
        get { nodes[id]! }
        set { nodes[id] = newValue }
    }

    /// The live leader with the highest term, if any.
    var leader: NodeID? {
        ids.filter { !down.contains($0) && nodes[$0]!.role == .leader }.max { nodes[$0]!.term < nodes[$1]!.term }
    }

    // MARK: Partitions

    func cut(_ a: NodeID, _ b: NodeID) {
        blocked.insert(Link(from: a, to: b))
        blocked.insert(Link(from: b, to: a))
    }

    /// Cuts `id` off from every other node (it keeps running and ticking).
    func isolate(_ id: NodeID) {
        for other in ids where other != id { cut(id, other) }
    }

    /// Splits the cluster: no traffic between `side` and the rest.
    func partition(_ side: [NodeID]) {
        for a in side { for b in ids where !side.contains(b) { cut(a, b) } }
    }

    func ignore(_ kind: MessageKind) { ignored.insert(kind) }

    /// Heals every partition and stops ignoring message kinds (crashed nodes stay down).
    func recover() {
        blocked = []
        ignored = []
        intercept = nil
        disorder = nil
    }

    func crash(_ id: NodeID) { down.insert(id) }

    /// Restarts a node from what it persisted, like a process restart.
    func restart(_ id: NodeID) {
        down.remove(id)
        let state = storage[id]!.state
        nodes[id] = RaftNode(config: configs[id]!, state: state)
        appliedIndex[id] = state.snapshot.metadata.index
        drain(id)
    }

    // MARK: Driving

    /// Drains every Ready `id` has: persist, queue the messages, apply, advance.
    func drain(_ id: NodeID, file: StaticString = #filePath, line: UInt = #line) {
        var rounds = 0
        while nodes[id]!.hasReady {
            rounds += 1
            guard rounds < 1000 else {
                XCTFail("node \(id) never runs out of Ready", file: file, line: line)
                return
            }
            let batch = nodes[id]!.ready()
            check(batch, of: id, file: file, line: line)
            storage[id]!.persist(batch)
            if !down.contains(id) {
                sent.append(contentsOf: batch.messages)
                queue.append(contentsOf: batch.messages)
            }
            apply(batch, on: id, file: file, line: line)
            nodes[id]!.advance(batch)
        }
    }

    private func check(_ batch: Ready, of id: NodeID, file: StaticString, line: UInt) {
        let previous = storage[id]!.hardState
        let hard = batch.hardState ?? previous
        if hard.term != previous.term || hard.vote != previous.vote || !batch.entries.isEmpty || batch.snapshot != nil {
            XCTAssertTrue(batch.mustSync, "node \(id): term, vote or log changed but mustSync is false", file: file, line: line)
        }
        XCTAssertGreaterThanOrEqual(hard.term, previous.term, "node \(id): term went backwards", file: file, line: line)
        var durableLast = storage[id]!.lastIndex
        if let snapshot = batch.snapshot { durableLast = snapshot.metadata.index }
        if let last = batch.entries.last { durableLast = last.index }
        for sent in batch.messages {
            XCTAssertEqual(sent.from, id, file: file, line: line)
            switch sent.kind {
            case .voteResponse where !sent.reject:
                // A vote may only be granted once it is on disk (etcd's MustSync rule).
                XCTAssertEqual(hard.vote, sent.to, "node \(id) granted a vote it has not persisted", file: file, line: line)
                XCTAssertEqual(hard.term, sent.term, "node \(id) granted a vote in an unpersisted term", file: file, line: line)
            case .appendResponse where !sent.reject:
                XCTAssertLessThanOrEqual(sent.index, durableLast, "node \(id) acknowledged entries it has not persisted", file: file, line: line)
            default:
                break
            }
        }
        let role = nodes[id]!.role
        if role == .leader {
            let term = nodes[id]!.term
            if let other = leaderOfTerm[term] {
                XCTAssertEqual(other, id, "two leaders in term \(term)", file: file, line: line)
            } else {
                leaderOfTerm[term] = id
            }
        }
    }

    private func apply(_ batch: Ready, on id: NodeID, file: StaticString, line: UInt) {
        if let snapshot = batch.snapshot {
            XCTAssertGreaterThan(snapshot.metadata.index, appliedIndex[id]!, "node \(id): snapshot behind its state machine", file: file, line: line)
            appliedIndex[id] = snapshot.metadata.index
            installedSnapshots[id, default: []].append(snapshot)
        }
        for entry in batch.committedEntries {
            XCTAssertEqual(entry.index, appliedIndex[id]! + 1, "node \(id) applied out of order", file: file, line: line)
            appliedIndex[id] = entry.index
            if let first = appliedAt[entry.index] {
                XCTAssertEqual(first, entry, "node \(id) applied a different entry at \(entry.index)", file: file, line: line)
            } else {
                appliedAt[entry.index] = entry
            }
            if entry.kind == .normal { appliedData[id]!.append(entry.data) }
        }
        readStates[id]!.append(contentsOf: batch.readStates)
    }

    /// Delivers queued messages (and everything they cause) until the cluster is quiet.
    func stabilize(file: StaticString = #filePath, line: UInt = #line) {
        for id in ids { drain(id, file: file, line: line) }
        var deliveries = 0
        while queueHead < queue.count {
            deliveries += 1
            guard deliveries < 200_000 else {
                XCTFail("the network never went quiet", file: file, line: line)
                return
            }
            var next = queue[queueHead]
            queueHead += 1
            if var chaos = disorder {
                let delay = chaos.random.next() % 100 < chaos.delayPercent
                let duplicate = chaos.random.next() % 100 < chaos.duplicatePercent
                disorder = chaos
                if delay && queueHead < queue.count {
                    queue.append(next)
                    continue
                }
                if duplicate { queue.append(next) }
            }
            guard shouldDeliver(&next) else { continue }
            delivered.append(next)
            nodes[next.to]!.step(next)
            drain(next.to, file: file, line: line)
        }
        queue = []
        queueHead = 0
    }

    /// Drops everything still queued (messages "lost in flight").
    func dropQueued() {
        queue = []
        queueHead = 0
    }

    private func shouldDeliver(_ message: inout Message) -> Bool {
        guard nodes[message.to] != nil, !down.contains(message.to), !down.contains(message.from) else { return false }
        guard !blocked.contains(Link(from: message.from, to: message.to)), !ignored.contains(message.kind) else { return false }
        if let intercept { return intercept(&message) }
        return true
    }

    /// Injects a message as if it came off the wire, then stabilizes.
    func send(_ message: Message) {
        queue.append(message)
        stabilize()
    }

    func tick(_ id: NodeID, times: Int = 1) {
        for _ in 0..<times {
            nodes[id]!.tick()
            drain(id)
        }
    }

    /// Ticks every live node once per round and lets the network settle after each round.
    func tickAll(times: Int = 1) {
        for _ in 0..<times {
            for id in ids where !down.contains(id) {
                nodes[id]!.tick()
                drain(id)
            }
            stabilize()
        }
    }

    /// Starts an election at `id` the way its election timer would (PreVote first when
    /// configured) and lets it run to the end.
    func campaign(_ id: NodeID) {
        nodes[id]!.campaign(configs[id]!.preVote ? .preVote : .election)
        drain(id)
        stabilize()
    }

    @discardableResult
    func propose(_ id: NodeID, _ text: String) throws -> LogPosition {
        let position = try nodes[id]!.propose(Array(text.utf8))
        drain(id)
        stabilize()
        return position
    }

    @discardableResult
    func proposeConfChange(_ id: NodeID, _ change: ConfChange) throws -> LogPosition {
        let position = try nodes[id]!.proposeConfChange(change)
        drain(id)
        stabilize()
        return position
    }

    func readIndex(_ id: NodeID, _ context: String) -> Bool {
        let accepted = nodes[id]!.readIndex(context: Array(context.utf8))
        drain(id)
        stabilize()
        return accepted
    }

    /// The application snapshots its state at the applied index; the shell makes it durable
    /// and the core compacts its log.
    @discardableResult
    func compact(_ id: NodeID, retain: UInt64 = 0, data: [UInt8] = Array(repeating: 0xAB, count: 100)) -> Snapshot {
        let snapshot = nodes[id]!.takeSnapshot(data: data, retainEntries: retain)
        storage[id]!.snapshot = snapshot
        storage[id]!.entries.removeAll { $0.index <= snapshot.metadata.index }
        return snapshot
    }

    /// Application data each node applied, as strings.
    func applied(_ id: NodeID) -> [String] {
        appliedData[id]!.map { String(decoding: $0, as: UTF8.self) }
    }

    /// Every message of `kind` sent so far (optionally only from/to a node).
    func sent(_ kind: MessageKind, from: NodeID? = nil, to: NodeID? = nil) -> [Message] {
        sent.filter { $0.kind == kind && (from == nil || $0.from == from) && (to == nil || $0.to == to) }
    }

    func clearHistory() {
        sent = []
        delivered = []
    }

    /// The in-memory logs of two nodes hold the same entries at the same indexes.
    func assertSameLog(_ a: NodeID, _ b: NodeID, file: StaticString = #filePath, line: UInt = #line) {
        let left = nodes[a]!, right = nodes[b]!
        XCTAssertEqual(left.lastIndex, right.lastIndex, "last index of \(a) vs \(b)", file: file, line: line)
        XCTAssertEqual(left.commitIndex, right.commitIndex, "commit index of \(a) vs \(b)", file: file, line: line)
        let low = max(left.firstIndex, right.firstIndex)
        guard low <= min(left.lastIndex, right.lastIndex) else { return }
        for index in low...min(left.lastIndex, right.lastIndex) {
            XCTAssertEqual(left.entry(at: index), right.entry(at: index), "entry \(index) of \(a) vs \(b)", file: file, line: line)
        }
    }
}
