import ClusterState

/// The node's end of the assignment stream: applies full sets and in-order changes, refuses a
/// change that does not follow the version it has, and says what it has applied (the `ack` its
/// heartbeats carry). Pure: the node shell and the simulator's agents feed it messages.
///
/// It exists because the node must never acknowledge a version whose predecessors it missed:
/// that is how tasks assigned while a node's link was cut stayed `assigned` forever (issue 19).
public struct AssignmentReceiver: Sendable {
    /// What `receive` did with a message.
    public enum Outcome: Equatable, Sendable {
        /// The task set changed (or was confirmed by a full set): hand `tasks` to the agent.
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
    /// The tasks assigned to this node, by id, as of `version`.
    public private(set) var tasks: [String: SwarmTask] = [:]

    public init() {}

    /// What the node's heartbeats report.
    public var ack: AssignmentAck { AssignmentAck(session: session, version: version, needsFullSet: needsFullSet) }

    /// The assigned tasks in id order.
    public var sortedTasks: [SwarmTask] { tasks.keys.sorted().map { tasks[$0]! } }

    public mutating func receive(_ message: AssignmentMessage) -> Outcome {
        switch message.kind {
        case .full:
            guard message.session > session || (message.session == session && message.version > version) else { return .stale }
            session = message.session
            version = message.version
            needsFullSet = false
            tasks = Dictionary(message.tasks.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
            return .applied
        case .incremental:
            if message.session < session || (message.session == session && message.version <= version) { return .stale }
            guard message.session == session, message.base == version, !needsFullSet else {
                if needsFullSet { return .waitingForFullSet }
                needsFullSet = true
                return .needsFullSet
            }
            version = message.version
            for task in message.tasks { tasks[task.id] = task }
            for id in message.removed { tasks[id] = nil }
            return .applied
        }
    }
}
