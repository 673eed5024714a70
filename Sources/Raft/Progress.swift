/// How the leader is currently feeding one follower.
enum ReplicationState: Sendable, Equatable {
    /// Unsure where the logs match: one append at a time, waiting for the answer.
    case probe
    /// Logs match up to `match`: appends are pipelined, bounded by the inflight window.
    case replicate
    /// The follower needs entries the leader compacted: a snapshot is being streamed.
    case snapshot(index: UInt64)
}

/// A bounded ring of the last index of each unacknowledged append message (flow control).
struct Inflights: Sendable {
    private var buffer: [UInt64]
    private var start = 0
    private(set) var count = 0

    init(capacity: Int) { buffer = [UInt64](repeating: 0, count: capacity) }

    var isFull: Bool { count == buffer.count }

    mutating func add(_ lastIndex: UInt64) {
        precondition(!isFull, "inflight window overflow")
        buffer[(start + count) % buffer.count] = lastIndex
        count += 1
    }

    /// Frees every message whose last index is ≤ `index`.
    mutating func free(through index: UInt64) {
        while count > 0 && buffer[start] <= index {
            start = (start + 1) % buffer.count
            count -= 1
        }
    }

    mutating func freeFirst() {
        guard count > 0 else { return }
        start = (start + 1) % buffer.count
        count -= 1
    }

    mutating func reset() {
        start = 0
        count = 0
    }
}

/// The leader's record of one member: how far its log matches and how to send it more.
public struct PeerProgress: Sendable {
    public internal(set) var match: UInt64 = 0
    public internal(set) var next: UInt64
    public internal(set) var isLearner: Bool
    var state: ReplicationState = .probe
    /// In probe state: an append is outstanding, wait for its answer or the next heartbeat.
    var probeSent = false
    var inflights: Inflights
    /// Heard from since the last CheckQuorum round.
    var recentActive = false
    /// Snapshot streaming: the follower's next expected byte.
    var snapshotOffset: UInt64 = 0
    /// Highest read round this member acknowledged in the current term.
    var ackedReadRound: UInt64 = 0

    init(next: UInt64, isLearner: Bool, maxInflight: Int) {
        self.next = next
        self.isLearner = isLearner
        inflights = Inflights(capacity: maxInflight)
    }

    var isPaused: Bool {
        switch state {
        case .probe: probeSent
        case .replicate: inflights.isFull
        case .snapshot: true
        }
    }

    public var isReplicating: Bool { state == .replicate }

    mutating func becomeProbe() {
        if case let .snapshot(index) = state {
            next = max(match + 1, index + 1)
        } else {
            next = match + 1
        }
        state = .probe
        probeSent = false
        inflights.reset()
    }

    mutating func becomeReplicate() {
        state = .replicate
        next = match + 1
        inflights.reset()
    }

    mutating func becomeSnapshot(_ index: UInt64) {
        state = .snapshot(index: index)
        snapshotOffset = 0
        inflights.reset()
    }

    /// An acknowledgement up to `index`; returns false when it tells nothing new.
    mutating func maybeUpdate(_ index: UInt64) -> Bool {
        var updated = false
        if match < index {
            match = index
            updated = true
            probeSent = false
        }
        next = max(next, index + 1)
        return updated
    }

    /// A rejection of the append whose previous index was `rejected`; returns false if stale.
    mutating func maybeDecrease(rejected: UInt64, matchHint: UInt64) -> Bool {
        if state == .replicate {
            guard rejected > match else { return false }
            next = match + 1
            return true
        }
        guard next - 1 == rejected else { return false }
        next = max(min(rejected, matchHint + 1), match + 1)
        probeSent = false
        return true
    }
}
