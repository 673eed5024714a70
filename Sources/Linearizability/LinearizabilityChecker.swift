/// What a check concluded.
public enum Verdict: Sendable, Equatable {
    /// Every key's operations have an order that respects real time and register semantics.
    case linearizable
    /// The operations on `key` have no such order. `window` is a small subset of them (sorted by
    /// invoke) that already has none: no operation can be dropped from it without it becoming
    /// linearizable, and it holds every operation that may have written a value it observed, so
    /// it reads on its own. `LinearizabilityChecker.explain(_:)` says why in one line.
    case notLinearizable(key: String, window: [RegisterOperation])
    /// The budget ran out before a verdict (and no key was found non-linearizable meanwhile).
    case unknown(String)
}

/// Checks register histories for linearizability (Herlihy & Wing): is there, for each key, a
/// total order of its operations that agrees with real time (an operation completed before
/// another was invoked comes first) in which every read sees the latest write before it?
///
/// The history format is described on `History`; the sequential specification on
/// `RegisterModel`. The check is:
/// 1. **Per key** (P-compositionality, Horn & Kroening): a history is linearizable iff each key's
///    sub-history is, so keys are searched independently, in sorted order. `fail` operations and
///    `unknown` reads are dropped first; other `unknown` operations complete at +∞.
/// 2. A quick scan for a read (or cas) that observed a value no operation on the key wrote: that
///    operation alone is the window.
/// 3. **`RegisterSearch`**: the Wing–Gong search with Lowe's cache, bounded by `CheckBudget`.
/// 4. On failure, **shrinking** to a small window: the shortest failing prefix (by invoke order)
///    found by doubling then bisection, then greedy removal of single operations, re-checking
///    each time, until none can go. A prefix or removal is only tried when the subset keeps every
///    writer of every value its operations observed: that makes a failing subset a true witness
///    (a linearization of the whole history, restricted to such a subset, would linearize it), and
///    stops the shrinker from "explaining" a violation as a read of a value nobody wrote.
///    The result is minimal in that no single operation can be removed, not necessarily the
///    smallest of all (finding that is as hard as the check).
///
/// The module is pure: no clock, no I/O; the caller supplies time limits through `CheckBudget`.
public enum LinearizabilityChecker {
    public static func check(_ history: History, budget: CheckBudget = CheckBudget()) -> Verdict {
        var meter = BudgetMeter(budget)
        var byKey: [String: [RegisterOperation]] = [:]
        for operation in history.operations where operation.isRelevant {
            byKey[operation.key, default: []].append(operation)
        }
        var undecided: [String] = []
        var ranOutOfStates = false
        for key in byKey.keys.sorted() {
            switch checkKey(byKey[key]!, meter: &meter) {
            case .linearizable:
                continue
            case let .notLinearizable(window):
                return .notLinearizable(key: key, window: window)
            case let .budgetExhausted(byStates):
                undecided.append(key)
                ranOutOfStates = ranOutOfStates || byStates
            }
        }
        if undecided.isEmpty { return .linearizable }
        let keys = undecided.prefix(5).map { "\"\($0)\"" }.joined(separator: ", ") + (undecided.count > 5 ? ", …" : "")
        let why = meter.stopped
            ? "the time budget ran out" + (ranOutOfStates ? " (and the state budget of \(budget.maxStates) for some keys)" : "")
            : "the search exceeded \(budget.maxStates) states"
        return .unknown("could not decide \(undecided.count) key\(undecided.count == 1 ? "" : "s") (\(keys)): \(why); other keys are linearizable")
    }

    enum KeyResult {
        case linearizable
        case notLinearizable([RegisterOperation])
        case budgetExhausted(byStates: Bool)
    }

    /// Checks one key's relevant operations and, when they fail, shrinks them to a window.
    static func checkKey(_ operations: [RegisterOperation], meter: inout BudgetMeter) -> KeyResult {
        let witnesses = Witnesses(operations)
        if let unwritten = witnesses.firstObservationOfUnwrittenValue() {
            return .notLinearizable([operations[unwritten]])
        }
        switch RegisterSearch.run(operations, meter: &meter) {
        case .linearizable: return .linearizable
        case let .budgetExhausted(byStates): return .budgetExhausted(byStates: byStates)
        case .notLinearizable:
            let window = shrink(operations, witnesses: witnesses, meter: &meter)
            return .notLinearizable(window.map { operations[$0] })
        }
    }

    /// Shrinks a failing key history to a window: indices into `operations`, sorted by invoke.
    static func shrink(_ operations: [RegisterOperation], witnesses: Witnesses, meter: inout BudgetMeter) -> [Int] {
        let order = witnesses.invokeOrder
        let count = operations.count
        func fails(_ subset: [Int]) -> Bool {
            RegisterSearch.run(subset.map { operations[$0] }, meter: &meter) == .notLinearizable
        }
        func prefix(_ length: Int) -> [Int] { witnesses.closure(of: order.prefix(length)) }

        // The shortest failing prefix: double until one fails, then bisect. Only subsets verified to
        // fail are kept, so the result fails even where failure is not monotone in the length.
        var passing = 0
        var failing = count
        var failingSet = Array(0..<count)
        var length = 1
        while length < count {
            let candidate = prefix(length)
            if candidate.count < failingSet.count, fails(candidate) {
                failing = length
                failingSet = candidate
                break
            }
            if meter.stopped { return witnesses.sortedByInvoke(failingSet) }
            passing = length
            length *= 2
        }
        while failing - passing > 1 {
            let middle = passing + (failing - passing) / 2
            let candidate = prefix(middle)
            if candidate.count < failingSet.count, fails(candidate) {
                failing = middle
                failingSet = candidate
            } else {
                if meter.stopped { break }
                passing = middle
            }
        }

        // Greedy removal, latest-invoked first, until a full pass removes nothing.
        var window = witnesses.sortedByInvoke(failingSet)
        var removedAny = true
        while removedAny && !meter.stopped {
            removedAny = false
            var position = window.count - 1
            while position >= 0 && !meter.stopped {
                var candidate = window
                candidate.remove(at: position)
                if witnesses.isClosed(candidate, without: window[position]), fails(candidate) {
                    window = candidate
                    removedAny = true
                }
                position -= 1
            }
        }
        return window
    }

    /// One line saying why `window` (of one key) cannot be linearized, naming the operations by
    /// process and file line.
    public static func explain(_ window: [RegisterOperation]) -> String {
        let relevant = window.filter(\.isRelevant)
        func name(_ operation: RegisterOperation) -> String {
            let what: String = switch operation.kind {
            case .read: "read"
            case .write: "write of \(quoted(operation.value))"
            case .cas: "cas \(quoted(operation.expected)) → \(quoted(operation.value))"
            }
            return "process \(operation.process)'s \(what)" + (operation.line > 0 ? " (line \(operation.line))" : "")
        }
        func observes(_ operation: RegisterOperation) -> String {
            operation.kind == .read
                ? (operation.value == nil ? "found the key absent" : "observed \(quoted(operation.value))")
                : "succeeded, so found \(quoted(operation.expected))"
        }
        // A value nobody wrote.
        for operation in relevant where operation.outcome == .ok {
            guard case let .some(.some(value)) = operation.observedValue else { continue }
            if !relevant.contains(where: { $0.mayWrite && $0.value == value }) {
                return "\(name(operation)) \(observes(operation)), but no operation on this key wrote \(quoted(value))"
            }
        }
        // A stale read: an acknowledged write of another value finished after every write of the
        // observed value and before the observer began.
        for observer in relevant where observer.outcome == .ok {
            guard case let .some(observed) = observer.observedValue else { continue }
            let writersOfObserved = relevant.filter { $0.mayWrite && $0.value == observed }
            let overwriter = relevant.first { writer in
                writer.outcome == .ok && writer.mayWrite && writer.value != observed
                    && writer.effectiveComplete < observer.invoke
                    && writersOfObserved.allSatisfy { $0.effectiveComplete < writer.invoke }
            }
            if let overwriter {
                let before = observed == nil ? "" : " and after every write of \(quoted(observed)) had"
                return "\(name(observer)) \(observes(observer)), but \(name(overwriter)) had completed before it began\(before): "
                    + (observed == nil ? "an acknowledged write was lost" : "a stale read")
            }
        }
        return "no order of these \(relevant.count) operations respects both real time (each takes effect between its invoke "
            + "and its completion) and the register's semantics"
    }

    static func quoted(_ value: String?) -> String {
        value.map { JSONLine.quote($0) } ?? "absent"
    }
}

/// Which operations may have written the values others observed, for one key: the basis of the
/// shrinker's rule that a subset must keep every possible writer of every value it observed.
struct Witnesses {
    private let operations: [RegisterOperation]
    /// Indices of operations that may store each value.
    private var writers: [String?: [Int]] = [:]
    /// Indices sorted by invoke time (then by position, for determinism).
    let invokeOrder: [Int]
    private let rank: [Int]

    init(_ operations: [RegisterOperation]) {
        self.operations = operations
        for (index, operation) in operations.enumerated() where operation.mayWrite {
            writers[operation.value, default: []].append(index)
        }
        invokeOrder = operations.indices.sorted { (operations[$0].invoke, $0) < (operations[$1].invoke, $1) }
        var rank = [Int](repeating: 0, count: operations.count)
        for (position, index) in invokeOrder.enumerated() { rank[index] = position }
        self.rank = rank
    }

    /// The first `ok` operation (by invoke) that observed a value no operation on the key may have
    /// written. Absent needs no writer: it is the initial value. (An `unknown` cas may expect a
    /// value nobody wrote: it then simply never swapped.)
    func firstObservationOfUnwrittenValue() -> Int? {
        invokeOrder.first { index in
            guard operations[index].outcome == .ok,
                  case let .some(.some(value)) = operations[index].observedValue else { return false }
            return writers[value] == nil
        }
    }

    func sortedByInvoke(_ indices: [Int]) -> [Int] {
        indices.sorted { rank[$0] < rank[$1] }
    }

    /// `indices` plus every operation that may have written a value observed by one of them,
    /// repeatedly; sorted by invoke.
    func closure<S: Sequence>(of indices: S) -> [Int] where S.Element == Int {
        var included = [Bool](repeating: false, count: operations.count)
        var pending: [Int] = []
        for index in indices where !included[index] {
            included[index] = true
            pending.append(index)
        }
        var result: [Int] = []
        while let index = pending.popLast() {
            result.append(index)
            guard let observed = operations[index].observedValue else { continue }
            for writer in writers[observed] ?? [] where !included[writer] {
                included[writer] = true
                pending.append(writer)
            }
        }
        return sortedByInvoke(result)
    }

    /// Whether `subset` (which no longer holds `removed`) still holds every writer of what it
    /// observes, given it did with `removed`: true unless `removed` may have written a value
    /// some operation of `subset` observed.
    func isClosed(_ subset: [Int], without removed: Int) -> Bool {
        let removedOperation = operations[removed]
        guard removedOperation.mayWrite else { return true }
        return !subset.contains { operations[$0].observedValue == .some(removedOperation.value) }
    }
}
