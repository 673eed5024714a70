import ClusterState
import Dispatch
import Foundation
import Platform
import Raft
import Storage

/// What the replicated log asks of the node it runs in, all on the node's loop: the state
/// machine its committed entries are applied to, the peers its messages go to, the clients its
/// completions answer. `SwarmNode` is the only host; the protocol names the seam.
protocol ReplicatedLogHost: AnyObject {
    /// The node stopped: no Ready is taken or finished any more.
    var isStopped: Bool { get }
    /// Proposes the writes queued during this loop iteration (called before Readys are taken).
    func proposeQueuedWrites()
    func send(_ messages: [Message])
    /// Applies one committed entry: `command` is its decoded command (normal entries) or why it
    /// could not be decoded; nil for membership changes and a leader's no-op.
    func apply(_ entry: Entry, command: Result<ClusterCommand, any Error>?)
    /// Replaces the state with the snapshot's (from the leader); throws if it is undecodable.
    func installState(from snapshot: Snapshot) throws
    /// The state a snapshot is captured from (a copy-on-write value).
    func stateForSnapshot() -> ClusterState
    func readIsReady(_ readState: ReadState)
    /// Runs what applying produced: answers to reads and writes that completed.
    func answerClients()
    /// A Ready was advanced; `softState` is Raft's new role and leader when they changed.
    func readyAdvanced(softState: SoftState?)
    /// Work that follows applied batches (role, assignments, orchestration, peers).
    func afterReadyBatches()
    /// A save failed: nothing unpersisted may be acknowledged, so the node stops.
    func storageFailed(_ error: any Error)
    /// One save (or group of saves, counted once) finished: its duration, the entries it made
    /// durable, and how long its completion waited for the loop (nil when saved on the loop).
    func observeSave(nanoseconds: UInt64, entries: Int, completionDelayNanos: UInt64?)
}

/// One manager's replicated log: the Raft core, its storage and the writer thread that persists
/// it, the Ready pipeline (persist, send, apply, advance), the decoding of committed commands
/// (kept from this node's proposals, decoded ahead on a follower, or decoded on apply) and the
/// snapshot policy.
///
/// It exists because `SwarmNode` held all of this beside every other concern of the node (issue
/// 15: one type with 48 stored properties); here the Ready discipline and its in-flight counters
/// sit in one place with one host interface. A log is made by `SwarmNode.startRaft` and closed
/// when the node stops being a manager: a completion of a closed log is dropped (a demotion
/// replaced the log it belonged to). Confined to the node's loop, like the node.
final class ReplicatedLog: @unchecked Sendable {
    /// The Raft core. Mutated in place on the loop (step, tick, propose); the effects are taken
    /// by the next `processReady`.
    var raft: RaftNode
    /// The WAL and snapshots. While a Ready is in flight only `writer` may touch it: go through
    /// `writer.perform`/`enqueueStorageJob` for anything else.
    private let storage: RaftStorage
    private let writer: StorageWriter
    private unowned let host: any ReplicatedLogHost
    private let loop: EventLoop
    private let logger: NodeLogger
    private let snapshotEvery: UInt64
    private let snapshotRetainEntries: UInt64

    /// Readys handed to the writer thread whose completion has not run on the loop yet.
    private var readiesInFlight = 0
    /// Other work handed to the writer thread that has not finished (`enqueueStorageJob`).
    private var storageJobsInFlight = 0
    private(set) var lastSnapshotIndex: UInt64
    /// A captured state is being encoded off the loop (`maybeTakeSnapshot`).
    private var snapshotInFlight = false
    /// When the next snapshot is due (entry count, and bytes once the state is large).
    private var snapshotPolicy = SnapshotPolicy()
    /// Set by `close`: this log was replaced (demotion); late completions are dropped.
    private(set) var isClosed = false
    private var isProcessingReady = false
    private var readyScheduled = false
    /// The commands this leader proposed in their decoded form, by log index (with the term
    /// they were proposed in): the apply takes them from here instead of decoding the bytes
    /// again. An index and term name one entry (Raft's log matching), so an entry replaced by
    /// another leader's never uses this; emptied when leadership ends.
    private var proposedCommands: [UInt64: (term: UInt64, command: ClusterCommand)] = [:]
    /// The commands this follower forwarded to the leader, by their log bytes: when the entry
    /// comes back committed, the apply takes the command from here instead of decoding it (the
    /// bytes are the encoding of exactly this command, so any entry with these bytes decodes to
    /// it). Bounded by `maxForwardedCommands`: emptied when full (a write forwarded and never
    /// committed would otherwise stay).
    private var forwardedCommands: [EncodedCommandKey: ClusterCommand] = [:]
    private let maxForwardedCommands: Int
    /// A follower's received commands (and a leader's forwarded writes), decoded off the loop
    /// while they are persisted.
    private let entryPredecoder = EntryPredecoder()

    /// Opens the WAL and snapshots in `dataDirectory` (writing `bootstrap` into an empty one)
    /// and returns them with what they hold, for the node to rebuild its state from before it
    /// makes the log.
    static func openStorage(dataDirectory: String, configuration: NodeConfiguration, encryption: RaftStorage.Encryption,
                            bootstrap: PersistentState?, logger: NodeLogger) throws -> (RaftStorage, PersistentState) {
        var options = RaftStorage.Options()
        options.segmentSize = configuration.walSegmentSize
        options.retainedEntries = configuration.snapshotRetainEntries
        options.encryption = encryption
        let (opened, recovered) = try RaftStorage.open(
            dataDirectory: dataDirectory, options: options,
            logger: StorageLogger(warn: { logger.warn("storage: \($0)") }))
        var persistent = recovered
        if let bootstrap, recovered.entries.isEmpty, recovered.snapshot.isEmpty, recovered.hardState == HardState() {
            try opened.append(entries: bootstrap.entries, hardState: bootstrap.hardState, sync: true)
            persistent = bootstrap
        }
        return (opened, persistent)
    }

    /// A log over `storage` whose Raft core starts from `persistent` (what the storage holds).
    init(host: any ReplicatedLogHost, loop: EventLoop, logger: NodeLogger, configuration: NodeConfiguration,
         storage: RaftStorage, persistent: PersistentState, raftID: NodeID, maxForwardedCommands: Int) throws {
        self.host = host
        self.loop = loop
        self.logger = logger
        self.storage = storage
        writer = StorageWriter(storage: storage)
        snapshotEvery = configuration.snapshotEvery
        snapshotRetainEntries = configuration.snapshotRetainEntries
        self.maxForwardedCommands = maxForwardedCommands
        lastSnapshotIndex = persistent.snapshot.isEmpty ? 0 : persistent.snapshot.metadata.index
        snapshotPolicy.sized(persistent.snapshot.data.count)
        var raftConfiguration = RaftConfig(id: raftID, randomSeed: try RandomID.transportID())
        raftConfiguration.electionTicks = configuration.electionTicks
        raftConfiguration.heartbeatTicks = configuration.heartbeatTicks
        raftConfiguration.maxInflightMessages = configuration.maxInflightMessages
        raftConfiguration.maxBytesPerMessage = configuration.maxBytesPerMessage
        raftConfiguration.snapshotChunkSize = configuration.snapshotChunkSize
        raft = RaftNode(config: raftConfiguration, state: persistent)
    }

    /// Stops using this log (the node is no longer a manager): waits for a batch in flight so
    /// the log can be removed, and drops every completion that arrives later.
    func close() {
        isClosed = true
        // Let a batch in flight finish before the log is removed under it.
        writer.perform { _ in }
    }

    /// Makes everything written so far durable (the node is stopping).
    func sync() throws {
        try writer.perform { try $0.sync() }
    }

    // MARK: - The Ready pipeline

    func tick() {
        raft.tick()
        processReady()
    }

    /// Carries out the pending Ready: persist (on the writer thread), send, apply, advance.
    /// Several Readys may be in flight (`RaftNode.acceptsAnotherReady`): the writer persists them
    /// in order and makes every batch waiting for it durable with one fsync (group commit), so a
    /// batch taken while another is being written does not wait for that one's completion to
    /// reach the loop first.
    func processReady() {
        // Completions run inside this loop may propose or read again; the outer loop picks
        // that work up, so a nested call returns at once instead of re-entering `ready()`.
        host.proposeQueuedWrites()
        guard !isProcessingReady else { return }
        isProcessingReady = true
        var worked = false
        while !isClosed, raft.hasReady, !host.isStopped, raft.acceptsAnotherReady {
            startReady()
            worked = true
        }
        isProcessingReady = false
        if readiesInFlight > 0, !isClosed, !host.isStopped {
            // No further batch can be taken now: a leader's appends go out anyway, so followers
            // write in parallel with its own fsync, and what committed meanwhile is applied.
            host.send(raft.takeLeaderMessages())
            if applyCommittedInFlight() { worked = true }
        }
        if worked { host.afterReadyBatches() }
    }

    /// Processes Ready at the end of this loop iteration, so every proposal made during the
    /// iteration shares one append and one fsync (group commit).
    func scheduleProcessReady() {
        guard !readyScheduled else { return }
        readyScheduled = true
        loop.afterCurrentIteration { [self] in
            readyScheduled = false
            processReady()
        }
    }

    /// Takes one Ready. A leader sends its messages before its own write (its followers'
    /// appends run in parallel with its fsync, as Raft allows: its own entries count toward a
    /// commit only once `advance` reports them durable). Other roles send after the write (a
    /// vote or an acknowledgement must not outrun the disk). A batch with nothing to make
    /// durable is finished at once on the loop when no other is in flight; otherwise it queues
    /// behind them, so batches are always advanced in order.
    private func startReady() {
        let ready = raft.ready()
        let sendFirst = raft.role == .leader
        if sendFirst { host.send(ready.messages) }
        if !sendFirst { decodeAhead(ready.entries) }
        applyCommitted(ready)
        guard ready.mustSync || ready.snapshot != nil || readiesInFlight > 0 || storageJobsInFlight > 0 else {
            do {
                let started = Clock.monotonicNanos()
                try storage.save(ready)
                host.observeSave(nanoseconds: Clock.monotonicNanos() &- started, entries: ready.entries.count, completionDelayNanos: nil)
            } catch {
                return host.storageFailed(error)
            }
            finishReady(ready, messagesSent: sendFirst)
            return
        }
        readiesInFlight += 1
        writer.save(ready, on: loop) { [self] report in
            readiesInFlight -= 1
            if report.groupSaves > 0 {
                host.observeSave(nanoseconds: report.nanoseconds, entries: report.groupEntries,
                                 completionDelayNanos: Clock.monotonicNanos() &- report.finishedAt)
            }
            // A demotion meanwhile replaced the log this batch belonged to.
            guard !isClosed, !host.isStopped else { return }
            if let failure = report.failure { return host.storageFailed(failure) }
            isProcessingReady = true
            finishReady(ready, messagesSent: sendFirst)
            isProcessingReady = false
            processReady()
        }
        // The entries applied above answer their clients now, not after the write.
        host.answerClients()
    }

    /// A follower's new entries: those it did not forward itself (their commands are kept) are
    /// decoded on `entryPredecoder`'s thread while the batch is written.
    private func decodeAhead(_ entries: [Entry]) {
        let unknown = entries.filter { $0.kind == .normal && (forwardedCommands.isEmpty || forwardedCommands[EncodedCommandKey($0.data)] == nil) }
        entryPredecoder.decodeAhead(unknown)
    }

    /// Applies a Ready's snapshot and committed entries before its write: committed means a
    /// quorum holds them durably already (this node's own entries count only once persisted),
    /// so neither applying nor answering clients waits for this node's fsync.
    private func applyCommitted(_ ready: Ready) {
        if let snapshot = ready.snapshot { installSnapshot(snapshot) }
        for entry in ready.committedEntries { apply(entry) }
        for readState in ready.readStates { host.readIsReady(readState) }
        raft.advanceApplied(ready)
    }

    /// While a batch is being persisted: applies what committed meanwhile (acknowledgements from
    /// followers) and answers its clients, instead of waiting for this node's write to finish.
    private func applyCommittedInFlight() -> Bool {
        guard !isClosed, !host.isStopped, !isProcessingReady else { return false }
        let entries = raft.takeCommittedEntries()
        guard !entries.isEmpty else { return false }
        isProcessingReady = true
        for entry in entries { apply(entry) }
        host.answerClients()
        isProcessingReady = false
        return true
    }

    /// The rest of a persisted Ready: send (unless sent already), apply, advance, then run the
    /// completions it produced. Completions run only once the Ready is gone: a proposal made
    /// while it still shared the log's storage would copy the whole log (copy-on-write).
    private func finishReady(_ ready: Ready, messagesSent: Bool) {
        if !messagesSent { host.send(ready.messages) }
        raft.advance(ready)
        host.readyAdvanced(softState: ready.softState)
        if let soft = ready.softState, soft.role != .leader { proposedCommands = [:] }
        maybeTakeSnapshot()
        host.answerClients()
    }

    private func installSnapshot(_ snapshot: Snapshot) {
        do {
            try host.installState(from: snapshot)
            lastSnapshotIndex = snapshot.metadata.index
            entryPredecoder.skip(through: snapshot.metadata.index)
            snapshotPolicy.captured()
            snapshotPolicy.sized(snapshot.data.count)
            logger.info("installed snapshot at index \(snapshot.metadata.index) from the leader")
        } catch {
            logger.error("leader sent an undecodable snapshot: \(error)")
        }
    }

    private func apply(_ entry: Entry) {
        snapshotPolicy.applied(byteCount: entry.data.count)
        switch entry.kind {
        case .normal:
            host.apply(entry, command: Result { try decodedCommand(entry) })
        case .confChange:
            if let change = try? ConfChange(wireBytes: entry.data) {
                logger.info("membership: \(change.kind) \(change.nodeID) applied at index \(entry.index)")
            }
            host.apply(entry, command: nil)
        case .leaderNoop:
            host.apply(entry, command: nil)
        }
    }

    // MARK: - Decoded commands

    /// The command of a committed entry: the one this leader proposed at that index and term,
    /// or else decoded from the entry's bytes.
    private func decodedCommand(_ entry: Entry) throws -> ClusterCommand {
        if let proposed = proposedCommands.removeValue(forKey: entry.index), proposed.term == entry.term { return proposed.command }
        if let predecoded = entryPredecoder.take(entry) { return predecoded }
        if !forwardedCommands.isEmpty, let forwarded = forwardedCommands.removeValue(forKey: EncodedCommandKey(entry.data)) { return forwarded }
        return try CommandCodec.decode(entry.data)
    }

    /// Keeps the decoded form of a command this leader proposed at `index` in `term`.
    func rememberProposed(_ command: ClusterCommand, index: UInt64, term: UInt64) {
        proposedCommands[index] = (term, command)
    }

    /// Keeps the decoded form of a command this follower forwards as `encoded`.
    func rememberForwarded(_ command: ClusterCommand, encoded: [UInt8]) {
        if forwardedCommands.count >= maxForwardedCommands { forwardedCommands = [:] }
        forwardedCommands[EncodedCommandKey(encoded)] = command
    }

    /// Forwarded writes arrive at the leader as log bytes: decoded on the predecoder's thread
    /// while they commit, instead of on the loop when they are applied.
    func decodeAhead(proposed entries: [Entry]) {
        entryPredecoder.decodeAhead(entries)
    }

    /// Every request in flight failed: their proposed commands will not be asked for.
    func forgetProposedCommands() {
        proposedCommands = [:]
    }

    // MARK: - Snapshots and storage jobs

    /// Every `snapshotEvery` applied entries (and, for a large state, once the log since the last
    /// snapshot is twice as large as it: `SnapshotPolicy`): captures the state (a copy-on-write value),
    /// encodes it on a background queue, so a large state does not stall the loop, and back on
    /// the loop records and persists it at the captured index (one snapshot in flight).
    private func maybeTakeSnapshot() {
        guard !snapshotInFlight, raft.appliedIndex >= lastSnapshotIndex,
              snapshotPolicy.isDue(appliedEntries: raft.appliedIndex - lastSnapshotIndex, every: snapshotEvery) else { return }
        let captured = host.stateForSnapshot()
        guard captured.appliedIndex <= raft.appliedIndex else { return }
        snapshotInFlight = true
        snapshotPolicy.captured()
        let (index, membership) = (raft.appliedIndex, raft.confState)
        // Holds the log only weakly: a demotion during a long encode must release the old
        // storage on the loop, not on this thread later (its WAL cleanup would then run beside
        // the next log's files in the same directory).
        let loop = self.loop
        DispatchQueue.global().async { [weak self] in
            let data = CommandCodec.encodeState(captured)
            _ = loop.execute { [weak self] in
                guard let self else { return }
                snapshotInFlight = false
                snapshotPolicy.sized(data.count)
                // A demotion (and promotion) meanwhile replaced the Raft log: the capture is stale.
                guard !isClosed else { return }
                persistSnapshot(data: data, index: index, confState: membership)
            }
        }
    }

    private func persistSnapshot(data: [UInt8], index: UInt64, confState: ConfState) {
        // A snapshot installed from the leader meanwhile is newer: the capture is dropped.
        guard !host.isStopped, index > raft.snapshotIndex, index > lastSnapshotIndex,
              index <= raft.appliedIndex else { return }
        let snapshot = raft.takeSnapshot(data: data, index: index, confState: confState,
                                         retainEntries: snapshotRetainEntries)
        lastSnapshotIndex = snapshot.metadata.index
        // On the writer thread, after the batches before it (the entries up to `index` are
        // applied, so they are already durable).
        enqueueStorageJob { [logger] storage in
            do {
                try storage.saveSnapshot(snapshot)
                try storage.compact()
                logger.info("snapshot taken at index \(snapshot.metadata.index)")
            } catch {
                logger.error("snapshot failed: \(error)")
            }
        }
    }

    /// Runs `body` on the storage writer after what was submitted before, without waiting.
    /// Counted until it has run (`storageJobsInFlight`): meanwhile the loop never touches the
    /// storage itself, since the writer thread may be using it.
    func enqueueStorageJob(_ body: @escaping @Sendable (RaftStorage) -> Void) {
        storageJobsInFlight += 1
        writer.enqueue { [self] storage in
            body(storage)
            _ = loop.execute { [self] in storageJobsInFlight -= 1 }
        }
    }
}
