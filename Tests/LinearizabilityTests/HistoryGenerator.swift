@testable import Linearizability
import SeededRandom

/// Histories recorded from a real sequential register: every operation picks a linearization
/// point between its invoke and its completion, and the register is driven in that order, so
/// the result is linearizable by construction.
struct RegisterHistoryGenerator {
    var processes = 4
    var keys = 2
    var operations = 40
    /// Chance an operation ends `unknown`; half of those never take effect.
    var unknownRate = 0.0
    /// Draw written values from this many per key (repeats allowed) instead of unique ones.
    var valuePool: Int? = nil

    func generate(seed: UInt64) -> History {
        var random = SplitMix64(seed: seed)
        struct Pending {
            var operation: RegisterOperation
            var point: Int64
            var takesEffect: Bool
        }
        var clocks = [Int64](repeating: 0, count: processes)
        var processIDs = Array(0..<processes)
        var nextProcessID = processes
        var pending: [Pending] = []
        var written: [String: [String]] = [:]
        var counter = 0
        for _ in 0..<operations {
            let slot = Int.random(in: 0..<processes, using: &random)
            let key = "k\(Int.random(in: 0..<keys, using: &random))"
            let invoke = clocks[slot] + Int64.random(in: 0...5, using: &random)
            let point = invoke + Int64.random(in: 0...10, using: &random)
            let complete = point + Int64.random(in: 0...10, using: &random)
            clocks[slot] = complete + 1
            counter += 1
            let value: String = valuePool.map { "v\(Int.random(in: 0..<$0, using: &random))" } ?? "v\(counter)"
            var operation: RegisterOperation
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<45:
                operation = .read(process: processIDs[slot], key: key, observed: nil, invoke: invoke, complete: complete)
            case 45..<80:
                operation = .write(process: processIDs[slot], key: key, value: value, invoke: invoke, complete: complete)
                written[key, default: []].append(value)
            default:
                let candidates = [nil] + (written[key] ?? []).suffix(3).map { Optional($0) }
                let expected = candidates.randomElement(using: &random)!
                operation = .cas(process: processIDs[slot], key: key, expected: expected, value: value,
                                 invoke: invoke, complete: complete)
                written[key, default: []].append(value)
            }
            var takesEffect = true
            if Double.random(in: 0..<1, using: &random) < unknownRate {
                operation.outcome = .unknown
                operation.complete = Bool.random(using: &random) ? nil : complete
                takesEffect = Bool.random(using: &random)
                processIDs[slot] = nextProcessID
                nextProcessID += 1
            }
            pending.append(Pending(operation: operation, point: point, takesEffect: takesEffect))
        }
        // Drive the register in linearization order to fill in what each operation saw.
        let order = pending.indices.sorted { (pending[$0].point, $0) < (pending[$1].point, $1) }
        var registers: [String: String] = [:]
        for index in order where pending[index].takesEffect {
            var operation = pending[index].operation
            let current = registers[operation.key]
            switch operation.kind {
            case .read:
                operation.value = current
            case .write:
                registers[operation.key] = operation.value
            case .cas:
                if current == operation.expected {
                    registers[operation.key] = operation.value
                } else if operation.outcome == .ok {
                    operation.outcome = .fail
                }
            }
            pending[index].operation = operation
        }
        return History(pending.map(\.operation))
    }
}

/// A checker by exhaustion for tiny histories: tries every subset of the `unknown` operations
/// to leave out and every order of the rest that respects real time. The reference the search
/// is compared with.
enum BruteForceChecker {
    static func isLinearizable(_ operations: [RegisterOperation]) -> Bool {
        let relevant = operations.filter(\.isRelevant)
        let keys = Set(relevant.map(\.key))
        return keys.allSatisfy { key in keyIsLinearizable(relevant.filter { $0.key == key }) }
    }

    private static func keyIsLinearizable(_ operations: [RegisterOperation]) -> Bool {
        let optional = operations.indices.filter { operations[$0].outcome == .unknown }
        for mask in 0..<(1 << optional.count) {
            var included = Array(operations.indices)
            for (bit, index) in optional.enumerated() where mask & (1 << bit) != 0 {
                included.removeAll { $0 == index }
            }
            if orderExists(operations, remaining: included, state: nil) { return true }
        }
        return false
    }

    private static func orderExists(_ operations: [RegisterOperation], remaining: [Int], state: String?) -> Bool {
        if remaining.isEmpty { return true }
        for candidate in remaining {
            // It may go first only if nothing else remaining completed before it was invoked.
            let blocked = remaining.contains { other in
                other != candidate && operations[other].effectiveComplete < operations[candidate].invoke
            }
            if blocked { continue }
            guard case let .some(next) = RegisterModel.step(state, operations[candidate]) else { continue }
            if orderExists(operations, remaining: remaining.filter { $0 != candidate }, state: next) { return true }
        }
        return false
    }
}
