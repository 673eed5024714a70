/// Every kind of message Raft nodes exchange. Names follow the Raft paper where it has one.
public enum MessageKind: UInt8, Sendable, Equatable, CaseIterable {
    /// AppendEntries (§5.3), also the empty "commit index moved" notice.
    case append = 0
    case appendResponse = 1
    /// RequestVote (§5.2); `isTransfer` marks a vote a leader asked for with TimeoutNow.
    case vote = 2
    case voteResponse = 3
    /// PreVote (thesis §9.6): "would you vote for me at term+1?"; changes nobody's term.
    case preVote = 4
    case preVoteResponse = 5
    case heartbeat = 6
    case heartbeatResponse = 7
    /// One chunk of a snapshot; `chunkOffset` is where `chunkData` starts.
    case snapshotChunk = 8
    /// The follower's next expected offset for the snapshot at `index`.
    case snapshotChunkResponse = 9
    /// Leadership transfer (thesis §3.10): campaign now, skipping PreVote.
    case timeoutNow = 10
    /// A follower asks the leader to confirm a read; `context` identifies it.
    case readIndex = 11
    case readIndexResponse = 12
}

/// A Raft message. One flat value type so the transport can frame any of them the same way;
/// the fields a kind does not use stay at their defaults and cost a byte each on the wire.
public struct Message: Sendable, Equatable {
    public var kind: MessageKind
    public var from: NodeID
    public var to: NodeID
    public var term: UInt64
    /// append: term of the entry before `entries`; vote: candidate's last log term;
    /// rejected appendResponse: term of the follower's entry at `rejectHint`.
    public var logTerm: UInt64 = 0
    /// append: index of the entry before `entries`; vote: candidate's last index;
    /// appendResponse: highest index now matching; read messages: the read index.
    public var index: UInt64 = 0
    public var entries: [Entry] = []
    public var commit: UInt64 = 0
    public var reject: Bool = false
    /// On a rejected append: the follower's guess of where the logs may match.
    public var rejectHint: UInt64 = 0
    /// Read requests' opaque identity.
    public var context: [UInt8] = []
    /// Heartbeats carry the leader's read round; responses echo it.
    public var readRound: UInt64 = 0
    public var isTransfer: Bool = false
    public var snapshotMetadata: SnapshotMetadata? = nil
    public var chunkOffset: UInt64 = 0
    public var chunkTotal: UInt64 = 0
    public var chunkData: [UInt8] = []

    public init(kind: MessageKind, from: NodeID, to: NodeID, term: UInt64) {
        self.kind = kind
        self.from = from
        self.to = to
        self.term = term
    }

    /// Vote-type messages a node may answer without the sender being in its term.
    var isVoteRequest: Bool { kind == .vote || kind == .preVote }

    /// Approximate encoded size, for message size limits and benchmarks.
    public var byteSize: Int {
        entries.reduce(64) { $0 + $1.byteSize } + chunkData.count + context.count
    }
}
