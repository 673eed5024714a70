import ClusterState

/// What one kind of versioned stream carries (a node's tasks, a node's network tables): the
/// per-kind part of `StreamDispatcher` and `StreamReceiver`, which hold the protocol itself.
///
/// It exists because the assignment stream and the network table stream follow one protocol (a
/// full set per session, versioned increments, hole detection, an in-flight bound) and differ
/// only in what they carry: a set of items keyed by id, and one value beside it (the payloads a
/// node holds; its host ports) that goes whole in a full set and as a `Change` in an increment.
public protocol StreamContent {
    associatedtype Message: StreamMessage
    /// What the leader remembers of an item it sent, to tell whether the item changed since.
    associatedtype Stamp: Equatable & Sendable
    /// The value beside the items, as the leader has it now (`[TaskPayload]`, `[HostPortBinding]`).
    associatedtype Extra
    /// What a node holds of `Extra` once it applied a message (`Set<PayloadKey>`, `[HostPortBinding]`).
    associatedtype Held: Equatable & Sendable

    static func id(of item: Message.Item) -> String
    static func stamp(of item: Message.Item) -> Stamp
    /// What a node holds before any message.
    static var nothingHeld: Held { get }
    static func held(_ extra: Extra) -> Held
    /// What a full set carries of `extra`: all of it.
    static func whole(_ extra: Extra) -> Message.Change
    /// What an increment carries to turn `held` into `extra`.
    static func change(from held: Held, to extra: Extra) -> Message.Change
    static func isEmpty(_ change: Message.Change) -> Bool
    /// What a node holds after applying `change` to `held` (for a full set, to `nothingHeld`).
    static func applying(_ change: Message.Change, to held: Held) -> Held
    /// Extra time a message carrying `change` may be on its way before it counts as lost.
    static func transferAllowanceMillis(_ change: Message.Change) -> UInt64
}

/// A message of a versioned stream, as the generic dispatcher builds it and the receiver reads
/// it. The concrete types (`AssignmentMessage`, `NetworkTableMessage`) keep their own wire form.
public protocol StreamMessage: Sendable {
    associatedtype Item: Sendable
    associatedtype Change
    init(kind: StreamMessageKind, session: UInt64, version: UInt64, base: UInt64, items: [Item], removed: [String], change: Change)
    var kind: StreamMessageKind { get }
    /// The stream: `StreamSessionID.make(term:counter:)`.
    var session: UInt64 { get }
    /// Counts the messages of one stream from 1.
    var version: UInt64 { get }
    /// For `incremental`: the version this change applies to (`version - 1`); 0 for `full`.
    var base: UInt64 { get }
    /// `full`: every item; `incremental`: the new and changed ones.
    var items: [Item] { get }
    /// `incremental`: ids of items the node no longer has.
    var removed: [String] { get }
    /// What the message carries of the value beside the items.
    var change: Change { get }
}

/// Whether a stream message replaces what the node has (`full`) or is one versioned change on
/// top of the version the node has (`incremental`). One enum for every stream, so the wire
/// values stay the same for assignments and network tables.
public enum StreamMessageKind: String, Codable, Sendable {
    case full, incremental
}

/// What a node has applied of one stream, carried by each of its heartbeats: the dispatcher
/// compares it with what it sent and resends the full set when they differ for longer than a
/// message takes.
public struct StreamAck: Codable, Equatable, Sendable {
    /// 0: no stream yet (a node that just started).
    public var session: UInt64
    public var version: UInt64
    /// The node saw a hole in the stream and waits for the full set.
    public var needsFullSet: Bool

    public static let none = StreamAck(session: 0, version: 0)

    public init(session: UInt64, version: UInt64, needsFullSet: Bool = false) {
        self.session = session
        self.version = version
        self.needsFullSet = needsFullSet
    }
}

/// Stream ids: the leader's Raft term in the high 32 bits, a per-leadership counter in the low
/// ones, so ids grow across leaders (terms only grow) and within one leadership.
public enum StreamSessionID {
    public static func make(term: UInt64, counter: UInt32) -> UInt64 {
        precondition(term < 1 << 32, "Raft term \(term) does not fit a stream session id")
        return term << 32 | UInt64(counter)
    }
}
