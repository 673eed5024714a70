import ClusterState
import Executor
import Foundation

/// The secrets and configs the managers delivered to this node, in memory only (never written
/// under the data directory), and the files each task gets from them.
///
/// It exists so delivery and use are separate: the node shell applies each assignment message's
/// payloads here (before the tasks that need them reach the agent), and the agent asks for one
/// task's files when it prepares it; a task sees only the payloads its own spec references.
/// Counts what arrived and what was forgotten, per payload, so a test can show that a node
/// without a task referencing a secret never received it. Thread-safe.
public final class AgentPayloads: @unchecked Sendable {
    private let lock = NSLock()
    private var held: [PayloadKey: TaskPayload] = [:]
    private var received: [PayloadKey: Int] = [:]
    private var forgotten: [PayloadKey: Int] = [:]

    public init() {}

    /// Applies one message of the assignment stream: a full set replaces what is held (anything
    /// not in it is forgotten), an incremental one adds `payloads` and drops `forget`.
    public func apply(full: Bool, payloads: [TaskPayload], forget: [PayloadKey]) {
        lock.withLock {
            let incoming = Set(payloads.map(\.key))
            let dropped = full ? held.keys.filter { !incoming.contains($0) } : forget.filter { held[$0] != nil }
            for key in dropped {
                held[key] = nil
                forgotten[key, default: 0] += 1
            }
            for payload in payloads {
                held[payload.key] = payload
                received[payload.key, default: 0] += 1
            }
        }
    }

    /// Keys held now, in order.
    public var heldKeys: [PayloadKey] { lock.withLock { held.keys.sorted() } }

    /// How many times `key` arrived (0: this node never had it).
    public func deliveries(of key: PayloadKey) -> Int { lock.withLock { received[key] ?? 0 } }

    /// How many times `key` was forgotten.
    public func forgets(of key: PayloadKey) -> Int { lock.withLock { forgotten[key] ?? 0 } }

    /// Totals over every payload: (deliveries, forgets), for the node's metrics.
    public var totals: (deliveries: Int, forgets: Int) {
        lock.withLock { (received.values.reduce(0, +), forgotten.values.reduce(0, +)) }
    }

    /// The files `task` references, each at its target with its owner and mode. Throws when one
    /// has not arrived (the task is then rejected and replaced, never started without it).
    public func files(for task: SwarmTask) throws -> [TaskFile] {
        let references = task.spec.containerSpec.payloadReferences
        guard !references.isEmpty else { return [] }
        return try lock.withLock {
            try references.map { reference in
                guard let payload = held[reference.key] else {
                    throw AgentPayloadError.missing(reference.kind.noun, reference.name, reference.id)
                }
                let file = reference.file
                return TaskFile(kind: reference.kind == .secret ? .secret : .config, target: reference.target, data: payload.data,
                                uid: file.flatMap { UInt32($0.uid) } ?? 0, gid: file.flatMap { UInt32($0.gid) } ?? 0,
                                mode: file.map { $0.mode & 0o777 } ?? 0o444)
            }
        }
    }
}

/// A task references a secret or config that did not reach this node.
public enum AgentPayloadError: Error, CustomStringConvertible {
    case missing(String, String, String)

    public var description: String {
        switch self {
        case let .missing(kind, name, id):
            "\(kind) \(name) (\(id)) has not been delivered to this node: the task is rejected and the orchestrator replaces it"
        }
    }
}
