import Wire

/// A Raft member's identity: stable for the life of a node, never reused, never 0.
public typealias NodeID = UInt64

/// The sentinel for "no node" (no leader known, no vote cast).
public let noNode: NodeID = 0

/// What an entry carries: an application command, a membership change, or the no-op a new
/// leader appends so it can commit an entry of its own term.
public enum EntryKind: UInt8, Sendable, Equatable {
    case normal = 0
    case confChange = 1
    case leaderNoop = 2
}

/// One slot of the replicated log.
public struct Entry: Sendable, Equatable {
    public var term: UInt64
    public var index: UInt64
    public var kind: EntryKind
    public var data: [UInt8]

    public init(term: UInt64, index: UInt64, kind: EntryKind = .normal, data: [UInt8] = []) {
        self.term = term
        self.index = index
        self.kind = kind
        self.data = data
    }

    /// Bytes counted against message and batch limits.
    public var byteSize: Int { data.count + 24 }
}

/// What must be durable before a node answers anyone: its term, the vote it cast in that term,
/// and the highest index it knows to be committed.
public struct HardState: Sendable, Equatable {
    public var term: UInt64
    public var vote: NodeID
    public var commit: UInt64

    public init(term: UInt64 = 0, vote: NodeID = noNode, commit: UInt64 = 0) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }
}

/// Cluster membership: who votes and who only replicates.
public struct ConfState: Sendable, Equatable {
    public var voters: [NodeID]
    public var learners: [NodeID]

    public init(voters: [NodeID] = [], learners: [NodeID] = []) {
        self.voters = voters.sorted()
        self.learners = learners.sorted()
    }

    public func contains(_ id: NodeID) -> Bool { voters.contains(id) || learners.contains(id) }
    public var quorum: Int { voters.count / 2 + 1 }

    /// The membership after `change`, keeping both lists sorted and disjoint.
    public func applying(_ change: ConfChange) -> ConfState {
        var voters = self.voters.filter { $0 != change.nodeID }
        var learners = self.learners.filter { $0 != change.nodeID }
        switch change.kind {
        case .addVoter: voters.append(change.nodeID)
        case .addLearner: learners.append(change.nodeID)
        case .removeNode: break
        }
        return ConfState(voters: voters, learners: learners)
    }
}

/// A one-server membership change (Raft thesis §4.1), proposed through the log.
public struct ConfChange: Sendable, Equatable {
    public enum Kind: UInt8, Sendable {
        case addVoter = 0
        case addLearner = 1
        case removeNode = 2
    }

    public var kind: Kind
    public var nodeID: NodeID
    /// Opaque to Raft: the shell puts the new member's address here.
    public var context: [UInt8]

    public init(kind: Kind, nodeID: NodeID, context: [UInt8] = []) {
        self.kind = kind
        self.nodeID = nodeID
        self.context = context
    }
}

/// Where a snapshot sits in the log and the membership at that point.
public struct SnapshotMetadata: Sendable, Equatable {
    public var index: UInt64
    public var term: UInt64
    public var confState: ConfState

    public init(index: UInt64 = 0, term: UInt64 = 0, confState: ConfState = ConfState()) {
        self.index = index
        self.term = term
        self.confState = confState
    }
}

/// The state machine's image at `metadata.index`, replacing every entry up to it.
public struct Snapshot: Sendable, Equatable {
    public var metadata: SnapshotMetadata
    public var data: [UInt8]

    public init(metadata: SnapshotMetadata = SnapshotMetadata(), data: [UInt8] = []) {
        self.metadata = metadata
        self.data = data
    }

    public var isEmpty: Bool { metadata.index == 0 }
}

/// What a node recovered from its disk at start-up; the core resumes from exactly this.
public struct PersistentState: Sendable, Equatable {
    public var hardState: HardState
    public var snapshot: Snapshot
    /// Entries after `snapshot.metadata.index`, contiguous.
    public var entries: [Entry]

    public init(hardState: HardState = HardState(), snapshot: Snapshot = Snapshot(), entries: [Entry] = []) {
        self.hardState = hardState
        self.snapshot = snapshot
        self.entries = entries
    }

    /// A founding member of a cluster whose first voters are `voters`. The initial membership is
    /// written as committed membership entries at indexes 1...n (term 1), identical on every
    /// founder, so a node that joins later learns it by replaying the log from index 1.
    public static func bootstrap(voters: [NodeID]) -> PersistentState
    {
        let entries = voters.sorted().enumerated().map { position, voter in
            Entry(term: 1, index: UInt64(position + 1), kind: .confChange,
                  data: ConfChange(kind: .addVoter, nodeID: voter).wireBytes())
        }
        return PersistentState(hardState: HardState(term: 1, vote: noNode, commit: UInt64(entries.count)), entries: entries)
    }

    /// A node joining an existing cluster: an empty log; the leader sends it everything.
    public static let joining = PersistentState()
}

/// A node's role in its current term.
public enum RaftRole: UInt8, Sendable, Equatable, CustomStringConvertible {
    case follower, preCandidate, candidate, leader

    public var description: String {
        switch self {
        case .follower: "follower"
        case .preCandidate: "pre-candidate"
        case .candidate: "candidate"
        case .leader: "leader"
        }
    }
}

/// Volatile facts the shell may want to show or react to; nothing here needs persisting.
public struct SoftState: Sendable, Equatable {
    public var leader: NodeID
    public var role: RaftRole
}

/// A linearizable read became servable: once the state machine has applied `index`, the read
/// identified by `context` may be answered from local state.
public struct ReadState: Sendable, Equatable {
    public var index: UInt64
    public var context: [UInt8]
}
