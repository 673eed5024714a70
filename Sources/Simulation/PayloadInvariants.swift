import ClusterState

/// The secret and config delivery invariants, checked by the control-plane simulator on every
/// agent (and usable on any node's view):
/// 1. a task the agent prepares (where the node shell reads the task's files) has every secret
///    and config it references delivered to its node;
/// 2. once a node applied a message of its assignment stream, it holds exactly the payloads
///    its unfinished tasks reference: none missing, and none that no such task needs (a secret
///    goes only where a task needs it and is forgotten when the last one finishes).
public enum PayloadInvariants {
    /// Problems with what `node` holds (`held`) given the tasks its assignment stream gave it.
    public static func problems(node: String, held: Set<PayloadKey>, tasks: [SwarmTask]) -> [String] {
        let needed = neededKeys(tasks)
        var problems: [String] = []
        for key in needed.subtracting(held).sorted() {
            let users = tasks.filter { needs($0, key) }.map(\.id)
            problems.append("\(node) has task \(users.joined(separator: ", ")) referencing \(key) but that was not delivered")
        }
        for key in held.subtracting(needed).sorted() {
            problems.append("\(node) holds \(key), which none of its unfinished tasks references")
        }
        return problems
    }

    /// The payloads `task` references that `held` lacks, in key order.
    public static func missing(for task: SwarmTask, held: Set<PayloadKey>) -> [PayloadKey] {
        Set(task.spec.containerSpec.payloadReferences.map(\.key)).subtracting(held).sorted()
    }

    /// What the node should hold for `tasks` (the rule of `PayloadDelivery`).
    static func neededKeys(_ tasks: [SwarmTask]) -> Set<PayloadKey> {
        Set(tasks.filter { !$0.status.state.isTerminal }.flatMap { $0.spec.containerSpec.payloadReferences.map(\.key) })
    }

    private static func needs(_ task: SwarmTask, _ key: PayloadKey) -> Bool {
        !task.status.state.isTerminal && task.spec.containerSpec.payloadReferences.contains { $0.key == key }
    }
}
