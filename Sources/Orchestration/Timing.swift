import ClusterState

/// Durations in the specs are nanoseconds (as Docker writes them); the state's clock is in
/// milliseconds. These helpers keep the conversion in one place.
extension Timestamp {
    func adding(nanoseconds: Int64) -> Timestamp {
        let millis = nanoseconds / 1_000_000
        if millis >= 0 { return Timestamp(millisecondsSinceEpoch: millisecondsSinceEpoch &+ UInt64(millis)) }
        let back = UInt64(-millis)
        return Timestamp(millisecondsSinceEpoch: millisecondsSinceEpoch > back ? millisecondsSinceEpoch - back : 0)
    }

    func adding(milliseconds: UInt64) -> Timestamp {
        Timestamp(millisecondsSinceEpoch: millisecondsSinceEpoch &+ milliseconds)
    }
}

extension SwarmTask {
    /// Reservations this task holds on its node while it is not terminal.
    var reservedCPU: Int64 { spec.resources?.reservations?.nanoCPUs ?? 0 }
    var reservedMemory: Int64 { spec.resources?.reservations?.memoryBytes ?? 0 }

    /// The task stopped by itself (exit, failure, refusal), not because the manager asked.
    var endedOnItsOwn: Bool {
        switch status.state {
        case .failed where status.message == TaskStatus.notAcknowledgedMessage: false
        case .complete, .failed, .rejected: true
        default: false
        }
    }

    /// Oldest first: creation time, then id.
    static func creationOrder(_ a: SwarmTask, _ b: SwarmTask) -> Bool {
        a.createdAt != b.createdAt ? a.createdAt < b.createdAt : a.id < b.id
    }
}
