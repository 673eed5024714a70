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
///    sub-history is, so keys are searched independently, in sorted order. `fail` operations,
///    `unknown` reads and `unknown` writes whose value nobody observed are dropped first; other
///    `unknown` operations complete at +∞.
/// 2. A quick scan for a read (or cas) that observed a value no operation on the key wrote: that
///    operation alone is the window.
/// 3. **`RegisterSearch`**: the Wing–Gong search with Lowe's cache, bounded by `CheckBudget`.
/// 4. On failure, **shrinking** to a small window: the operations up to where the search got
///    stuck, then the shortest failing suffix of those (by invoke order, doubling then
///    bisection), then greedy removal of single operations, re-checking each time, until none
///    can go (`shrink`). A subset or removal is only tried when the subset keeps every
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
            : "the search exceeded \(budget.maxStates) states (or \(budget.maxCacheBytes >> 20) MiB of cache)"
        let others = byKey.count - undecided.count
        let rest = others == 0 ? "" : "; the other \(others) key\(others == 1 ? " is" : "s are") linearizable"
        return .unknown("could not decide \(undecided.count) key\(undecided.count == 1 ? "" : "s") (\(keys)): \(why)\(rest)")
    }

    enum KeyResult {
        case linearizable
        case notLinearizable([RegisterOperation])
        case budgetExhausted(byStates: Bool)
    }

    /// Checks one key's relevant operations and, when they fail, shrinks them to a window.
    static func checkKey(_ relevant: [RegisterOperation], meter: inout BudgetMeter) -> KeyResult {
        let operations = withoutUnobservedUnknownWrites(relevant)
        let witnesses = Witnesses(operations)
        if let unwritten = witnesses.firstObservationOfUnwrittenValue() {
            return .notLinearizable([operations[unwritten]])
        }
        switch RegisterSearch.run(operations, meter: &meter) {
        case .linearizable: return .linearizable
        case let .budgetExhausted(byStates): return .budgetExhausted(byStates: byStates)
        case let .notLinearizable(frontier):
            let window = shrink(operations, frontier: frontier, witnesses: witnesses, meter: &meter)
            return .notLinearizable(window.map { operations[$0] })
        }
    }

    /// Drops `unknown` writes and cas whose value no operation observes, repeatedly. Such an
    /// operation can always be placed after everything else instead, where it harms nothing, and
    /// leaving it in multiplies the states the search must visit (it could take effect anywhere
    /// after its invoke), which is what makes histories full of timeouts slow to refute.
    static func withoutUnobservedUnknownWrites(_ operations: [RegisterOperation]) -> [RegisterOperation] {
        var kept = operations
        while true {
            var observed = Set<String?>()
            for operation in kept {
                if let value = operation.observedValue { observed.insert(value) }
            }
            let before = kept.count
            kept.removeAll { $0.outcome == .unknown && $0.mayWrite && !observed.contains($0.value) }
            if kept.count == before { return kept }
        }
    }

    /// The most states one re-check may use while shrinking: a re-check that needs more is
    /// treated as "not shown to fail", which only makes the window larger, never wrong.
    static let shrinkStates = 200_000

    /// Shrinks a failing key history to a window: indices into `operations`, sorted by invoke.
    ///
    /// 1. The search reports the latest completion it had to backtrack at (its frontier); the
    ///    operations invoked by then, with the writers of what they observed, fail the same way.
    /// 2. The shortest failing suffix of those (by invoke order): doubling, then bisection.
    /// 3. Greedy removal of single operations, latest-invoked first, until a pass removes none.
    /// Only subsets verified to fail replace the current one, and every subset tried keeps the
    /// writers of every value it observes (see `Witnesses`).
    static func shrink(_ operations: [RegisterOperation], frontier: Int64, witnesses: Witnesses,
                       meter: inout BudgetMeter) -> [Int] {
        func fails(_ subset: [Int]) -> Bool {
            let result = RegisterSearch.run(subset.map { operations[$0] }, meter: &meter,
                                            maxStates: min(meter.budget.maxStates, shrinkStates))
            if case .notLinearizable = result { return true }
            return false
        }
        let prefix = witnesses.invokeOrder.filter { operations[$0].invoke <= frontier }
        var failingSet = witnesses.closure(of: prefix)
        func suffix(_ length: Int) -> [Int] { witnesses.closure(of: prefix.suffix(length)) }

        var passing = 0
        var failing = prefix.count
        var length = 1
        while length < prefix.count && !meter.stopped {
            let candidate = suffix(length)
            if candidate.count < failingSet.count, fails(candidate) {
                failing = length
                failingSet = candidate
                break
            }
            passing = length
            length *= 2
        }
        while failing - passing > 1 && !meter.stopped {
            let middle = passing + (failing - passing) / 2
            let candidate = suffix(middle)
            if candidate.count < failingSet.count, fails(candidate) {
                failing = middle
                failingSet = candidate
            } else {
                passing = middle
            }
        }

        var window = failingSet
        var removedAny = true
        while removedAny && !meter.stopped {
            removedAny = false
            var position = window.count - 1
            while position >= 0 && !meter.stopped {
                if position < window.count {
                    var candidate = window
                    candidate.remove(at: position)
                    if witnesses.isClosed(candidate, without: window[position]), fails(candidate) {
                        window = candidate
                        removedAny = true
                    }
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
                let after = observed == nil ? "" : " began after every write of \(quoted(observed)) had completed, and"
                return "\(name(observer)) \(observes(observer)), but \(name(overwriter))\(after) completed before the "
                    + "\(observer.kind.rawValue) began: " + (observed == nil ? "an acknowledged write was lost" : "a stale read")
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
/// shrinker's rule that a subset must keep, for each operation in it that observes a value, every
/// operation that may have been the source of that value.
///
/// A writer `w` of `v` may be the source of observer `o` unless `w` was invoked after `o`
/// completed, or `w` was certainly overwritten before `o` began: some acknowledged write of
/// another value was invoked after `w` completed and completed before `o` was invoked. Why this
/// is enough: in any linearization of the whole history, `o`'s source is one of these; a subset
/// holding them all is linearized by the same order restricted to it (moving `unknown` cas that
/// did nothing to the end). So a subset closed this way that fails proves the whole history
/// fails. When every writer of `v` was certainly overwritten, the latest of them and the write
/// that overwrote it are kept instead, so the window shows the stale read rather than a read of
/// a value nobody wrote.
struct Witnesses {
    private let operations: [RegisterOperation]
    /// Indices of operations that may store each value.
    private var writers: [String?: [Int]] = [:]
    /// For each operation, the operations a subset holding it must also hold.
    private var protected: [[Int]]
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

        // Acknowledged writers by completion; for each prefix, the latest-invoked one (`best`) and
        // the latest-invoked one of a different value (`second`): enough to find, for an observer
        // of `v`, the latest-invoked acknowledged write of another value that completed before it.
        let acknowledged = operations.indices
            .filter { operations[$0].outcome == .ok && operations[$0].mayWrite }
            .sorted { (operations[$0].effectiveComplete, $0) < (operations[$1].effectiveComplete, $1) }
        var best: [Int] = [], second: [Int] = []
        var currentBest = -1, currentSecond = -1
        for index in acknowledged {
            let operation = operations[index]
            if currentBest < 0 || operation.invoke > operations[currentBest].invoke {
                if currentBest >= 0 && operations[currentBest].value != operation.value { currentSecond = currentBest }
                currentBest = index
            } else if operation.value != operations[currentBest].value
                        && (currentSecond < 0 || operation.invoke > operations[currentSecond].invoke) {
                currentSecond = index
            }
            best.append(currentBest)
            second.append(currentSecond)
        }
        let completions = acknowledged.map { operations[$0].effectiveComplete }

        var protected = [[Int]](repeating: [], count: operations.count)
        for (index, observer) in operations.enumerated() {
            guard let observed = observer.observedValue else { continue }
            // How many acknowledged writers completed before the observer was invoked.
            var low = 0, high = completions.count
            while low < high {
                let middle = (low + high) / 2
                if completions[middle] < observer.invoke { low = middle + 1 } else { high = middle }
            }
            var overwriter: Int? = nil
            if low > 0 {
                let candidate = operations[best[low - 1]].value != observed ? best[low - 1] : second[low - 1]
                if candidate >= 0 { overwriter = candidate }
            }
            let bound = overwriter.map { operations[$0].invoke } ?? .min
            let all = writers[observed] ?? []
            let sources = all.filter {
                operations[$0].invoke <= observer.effectiveComplete && operations[$0].effectiveComplete >= bound
            }
            if sources.isEmpty, let overwriter, !all.isEmpty {
                let earlier = all.filter { operations[$0].invoke <= observer.effectiveComplete }
                let latest = earlier.max { operations[$0].effectiveComplete < operations[$1].effectiveComplete } ?? all[0]
                protected[index] = [latest, overwriter]
            } else {
                protected[index] = sources
            }
        }
        self.protected = protected
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

    /// `indices` plus every operation they protect, repeatedly; sorted by invoke.
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
            for other in protected[index] where !included[other] {
                included[other] = true
                pending.append(other)
            }
        }
        return sortedByInvoke(result)
    }

    /// Whether a subset holding `holder` must hold `other` too.
    func protects(_ holder: Int, _ other: Int) -> Bool { protected[holder].contains(other) }

    /// Whether `subset` (which no longer holds `removed`) is still closed, given it was with
    /// `removed`: true unless an operation of `subset` protects `removed`.
    func isClosed(_ subset: [Int], without removed: Int) -> Bool {
        !subset.contains { protected[$0].contains(removed) }
    }
}
