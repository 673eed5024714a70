import ClusterState

/// The node's end of split assignment messages (`AssignmentMessage.split(maxPayloadBytes:)`),
/// so a node whose tasks need more secrets and configs than fit one transport frame still gets
/// them all in one atomic step of its stream.
public typealias AssignmentAssembler = PartAssembler<AssignmentMessage>

extension PartAssembler where Message == AssignmentMessage {
    /// Payloads held in incomplete messages (memory the node still has), in key order.
    public var bufferedPayloadKeys: [PayloadKey] {
        Set(pendingParts.flatMap { $0.payloads.map(\.key) }).sorted()
    }
}

extension AssignmentMessage: SplitMessage {
    public var partNumber: UInt32 { part }
    public var partCount: UInt32 { parts }
    public var asWhole: AssignmentMessage { self }

    /// The parts in order as one message: the last part's tasks, removals and forgets, every
    /// part's payloads; nil if they do not fit together (only the last may carry tasks).
    public static func joinParts(_ ordered: [AssignmentMessage]) -> AssignmentMessage? {
        var whole = ordered.last!
        guard ordered.dropLast().allSatisfy({ $0.tasks.isEmpty && $0.removed.isEmpty && $0.forget.isEmpty }),
              ordered.allSatisfy({ $0.kind == whole.kind && $0.base == whole.base }) else { return nil }
        whole.payloads = ordered.flatMap(\.payloads)
        whole.part = 1
        whole.parts = 1
        return whole
    }
}
