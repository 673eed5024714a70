import ClusterState

/// What the leader's dispatcher sends a node about the tasks assigned to it: either the full set
/// (`full`), which replaces whatever the node had, or one versioned change on top of the version
/// the node has (`incremental`).
///
/// It exists so a node can tell a complete stream from one with a hole: every message names its
/// stream (`session`) and version, and an incremental one names the version it applies to
/// (`base`). A node that sees a hole ignores the change and asks for the full set, instead of
/// silently acknowledging a version whose predecessors it never got (issue 19).
public struct AssignmentMessage: Codable, Equatable, Sendable {
    public typealias Kind = StreamMessageKind

    public var kind: Kind
    /// The stream: `StreamSessionID.make(term:counter:)`, so a newer leader's streams order
    /// after an older leader's and a late message from a deposed leader is recognised as stale.
    public var session: UInt64
    /// Counts the messages of one stream from 1.
    public var version: UInt64
    /// For `incremental`: the version this change applies to (`version - 1`); 0 for `full`.
    public var base: UInt64
    /// `full`: every task assigned to the node; `incremental`: the new and changed ones.
    public var tasks: [SwarmTask]
    /// `incremental`: ids of tasks no longer assigned to the node.
    public var removed: [String]
    /// Secrets and configs the node's tasks reference: `full`, all of them (the node forgets any
    /// other); `incremental`, the ones the node does not have yet. Sent only with a task that
    /// references them, kept in memory only by the node.
    public var payloads: [TaskPayload]
    /// `incremental`: payloads no unfinished task of the node references any more; the node
    /// forgets them.
    public var forget: [PayloadKey]
    /// A message too large for one frame travels as `parts` messages with the same session and
    /// version (`split(maxPayloadBytes:)`); this is one of them, counted from 1. Only the last
    /// carries tasks, removals and forgets; the others carry payloads only. 1 of 1 when whole.
    public var part: UInt32 = 1
    public var parts: UInt32 = 1

    public init(kind: Kind, session: UInt64, version: UInt64, base: UInt64, tasks: [SwarmTask], removed: [String] = [],
                payloads: [TaskPayload] = [], forget: [PayloadKey] = []) {
        precondition(kind == .full || base + 1 == version, "an incremental assignment message applies to the version just before it")
        precondition(kind == .incremental || removed.isEmpty && forget.isEmpty, "a full assignment set lists no removals")
        self.kind = kind
        self.session = session
        self.version = version
        self.base = base
        self.tasks = tasks
        self.removed = removed
        self.payloads = payloads
        self.forget = forget
    }
}
