import ClusterState

/// The node's end of one stream (`AssignmentReceiver`, `NetworkTableReceiver`): applies full sets
/// and in-order changes, refuses a change that does not follow the version it has, and says
/// what it has applied (the `ack` its heartbeats carry). Pure: the node shell and the
/// simulator's agents feed it messages.
///
/// It exists because a node must never acknowledge a version whose predecessors it missed:
/// that is how tasks assigned while a node's link was cut stayed `assigned` forever (issue 19).
public struct StreamReceiver<Content: StreamContent>: Sendable {
    public typealias Item = Content.Message.Item

    /// What `receive` did with a message.
    public enum Outcome: Equatable, Sendable {
        /// The items changed (or were confirmed by a full set): hand them to the node.
        case applied
        /// From an older stream, or already applied: nothing to do.
        case stale
        /// A hole: the change does not follow what this node has. Ask for the full set now
        /// (send a heartbeat); `ack.needsFullSet` stays set until one arrives.
        case needsFullSet
        /// Another change after a hole: the full set was already asked for.
        case waitingForFullSet
    }

    public private(set) var session: UInt64 = 0
    public private(set) var version: UInt64 = 0
    public private(set) var needsFullSet = false
    /// The items as of `version`, by id.
    public private(set) var items: [String: Item] = [:]
    /// What the node holds beside the items as of `version`.
    public private(set) var held: Content.Held = Content.nothingHeld

    public init() {}

    /// What the node's heartbeats report.
    public var ack: StreamAck { StreamAck(session: session, version: version, needsFullSet: needsFullSet) }

    /// The items in id order.
    public var sortedItems: [Item] { items.keys.sorted().map { items[$0]! } }

    public mutating func receive(_ message: Content.Message) -> Outcome {
        switch message.kind {
        case .full:
            guard message.session > session || (message.session == session && message.version > version) else { return .stale }
            session = message.session
            version = message.version
            needsFullSet = false
            items = Dictionary(message.items.map { (Content.id(of: $0), $0) }, uniquingKeysWith: { _, last in last })
            held = Content.applying(message.change, to: Content.nothingHeld)
            return .applied
        case .incremental:
            if message.session < session || (message.session == session && message.version <= version) { return .stale }
            guard message.session == session, message.base == version, !needsFullSet else {
                if needsFullSet { return .waitingForFullSet }
                needsFullSet = true
                return .needsFullSet
            }
            version = message.version
            for item in message.items { items[Content.id(of: item)] = item }
            for id in message.removed { items[id] = nil }
            held = Content.applying(message.change, to: held)
            return .applied
        }
    }
}
