import ClusterState

/// The backstop behind the assignment stream: a task that stays `assigned` or `accepted` on a
/// `Ready` node for `timeoutMillis` has its node's full set resent once; if it is still there
/// after another `timeoutMillis`, it is marked failed ("not acknowledged by node X") so the
/// orchestrator replaces it at once.
///
/// It exists because whatever else might lose an assignment (a bug not found yet, an agent that
/// hangs) must not leave a service silently below its replica count. Pure: the leader feeds it
/// the state and the time; one value lives for one leadership, so after a leader change every
/// task gets the full bound again.
public struct AcknowledgementGuard: Sendable {
    /// What the leader should do this round.
    public struct Decision: Equatable, Sendable {
        /// Nodes whose full assignment set to send again, in id order.
        public var resendTo: [String] = []
        /// Status reports to propose, in task id order.
        public var fail: [TaskStatusUpdate] = []

        public var isEmpty: Bool { resendTo.isEmpty && fail.isEmpty }
    }

    struct Watch: Sendable {
        var state: TaskState
        var nodeID: String
        var since: UInt64
        var resentAt: UInt64?
        var failedAt: UInt64?
    }

    public let timeoutMillis: UInt64
    private var watches: [String: Watch] = [:]
    /// Tasks whose node got its assignments again because one of them was not acknowledged.
    public private(set) var resends: UInt64 = 0
    /// Tasks marked failed because their node never acknowledged them.
    public private(set) var failures: UInt64 = 0

    public init(timeoutMillis: UInt64) {
        precondition(timeoutMillis > 0, "the acknowledgement timeout must be positive")
        self.timeoutMillis = timeoutMillis
    }

    public mutating func evaluate(_ state: ClusterState, now: Timestamp) -> Decision {
        let millis = now.millisecondsSinceEpoch
        var next: [String: Watch] = [:]
        var resendTo: Set<String> = []
        var fail: [TaskStatusUpdate] = []
        for (id, task) in state.tasks {
            guard let nodeID = task.nodeID, Self.awaitsAcknowledgement(task),
                  state.nodes[nodeID]?.status.state == .ready else { continue }
            var watch = watches[id].flatMap { $0.state == task.status.state && $0.nodeID == nodeID ? $0 : nil }
                ?? Watch(state: task.status.state, nodeID: nodeID, since: millis)
            if watch.resentAt == nil, millis >= watch.since + timeoutMillis {
                watch.resentAt = millis
                resends += 1
                resendTo.insert(nodeID)
            } else if let resent = watch.resentAt, millis >= resent + timeoutMillis,
                      watch.failedAt.map({ millis >= $0 + timeoutMillis }) ?? true {
                // Proposed again after another bound if the first proposal got lost.
                if watch.failedAt == nil { failures += 1 }
                watch.failedAt = millis
                fail.append(TaskStatusUpdate(taskID: id, status: Self.notAcknowledged(task, nodeID: nodeID, now: now,
                                                                                        waitedMillis: millis - watch.since)))
            }
            next[id] = watch
        }
        watches = next
        return Decision(resendTo: resendTo.sorted(), fail: fail.sorted { $0.taskID < $1.taskID })
    }

    /// A task the node should acknowledge by moving it past `accepted`.
    static func awaitsAcknowledgement(_ task: SwarmTask) -> Bool {
        (task.status.state == .assigned || task.status.state == .accepted) && task.desiredState <= .running
    }

    static func notAcknowledged(_ task: SwarmTask, nodeID: String, now: Timestamp, waitedMillis: UInt64) -> TaskStatus {
        TaskStatus(timestamp: now, state: .failed, message: TaskStatus.notAcknowledgedMessage,
                   err: "not acknowledged by node \(nodeID): still \(task.status.state.rawValue) after \(waitedMillis / 1000)s and one resend")
    }
}
