import ClusterState

/// The assignment stream as a `StreamContent`: the items are the node's tasks (a task changed
/// when its version index did), and beside them go the secrets and configs those tasks need
/// (`PayloadDelivery`): all of them in a full set, the new ones and those to forget in an increment.
public enum AssignmentContent: StreamContent {
    public typealias Message = AssignmentMessage

    public static func id(of task: SwarmTask) -> String { task.id }
    public static func stamp(of task: SwarmTask) -> UInt64 { task.version.index }
    public static var nothingHeld: Set<PayloadKey> { [] }
    public static func held(_ payloads: [TaskPayload]) -> Set<PayloadKey> { Set(payloads.map(\.key)) }
    public static func whole(_ payloads: [TaskPayload]) -> PayloadChange { PayloadChange(payloads: payloads, forget: []) }

    /// The payloads the node lacks, and those no task needs any more.
    public static func change(from held: Set<PayloadKey>, to payloads: [TaskPayload]) -> PayloadChange {
        PayloadChange(payloads: payloads.filter { !held.contains($0.key) }, forget: held.subtracting(payloads.map(\.key)).sorted())
    }

    public static func isEmpty(_ change: PayloadChange) -> Bool { change.payloads.isEmpty && change.forget.isEmpty }

    /// As the node's `AgentPayloads.apply` does: drop `forget`, then add what arrived.
    public static func applying(_ change: PayloadChange, to held: Set<PayloadKey>) -> Set<PayloadKey> {
        held.subtracting(change.forget).union(change.payloads.map(\.key))
    }

    /// 1 ms per KiB of payloads (1 MiB/s, a slow link or a debug build), so a full set of 20 MiB
    /// of secrets is not resent every heartbeat while it still travels (each resend queued
    /// 20 MiB more behind it: the node never caught up).
    public static func transferAllowanceMillis(_ change: PayloadChange) -> UInt64 {
        UInt64(change.payloads.reduce(0) { $0 + $1.data.count } / 1024)
    }
}

/// What an assignment message carries of the node's secrets and configs (`AssignmentMessage`'s
/// `payloads` and `forget`). Kept apart from the tasks so secrets travel only to nodes whose
/// tasks reference them, once, and are forgotten when no task needs them any more.
public struct PayloadChange: Equatable, Sendable {
    public var payloads: [TaskPayload]
    public var forget: [PayloadKey]

    public init(payloads: [TaskPayload], forget: [PayloadKey]) {
        self.payloads = payloads
        self.forget = forget
    }
}

public typealias AssignmentDispatcher = StreamDispatcher<AssignmentContent>
public typealias AssignmentReceiver = StreamReceiver<AssignmentContent>
public typealias AssignmentAck = StreamAck

extension AssignmentMessage: StreamMessage {
    public init(kind: Kind, session: UInt64, version: UInt64, base: UInt64, items: [SwarmTask], removed: [String], change: PayloadChange) {
        self.init(kind: kind, session: session, version: version, base: base, tasks: items, removed: removed,
                  payloads: change.payloads, forget: change.forget)
    }

    public var items: [SwarmTask] { tasks }
    public var change: PayloadChange { PayloadChange(payloads: payloads, forget: forget) }
}

extension StreamReceiver where Content == AssignmentContent {
    /// The tasks assigned to this node, by id, as of `version`.
    public var tasks: [String: SwarmTask] { items }
    /// The assigned tasks in id order.
    public var sortedTasks: [SwarmTask] { sortedItems }
    /// The secrets and configs this node holds as of `version` (the node shell keeps their data
    /// in `AgentPayloads`; the simulator checks delivery with these keys).
    public var payloadKeys: Set<PayloadKey> { held }
}
