import XCTest
@testable import Linearizability
import SeededRandom

/// Shorthands: times are plain integers (nanoseconds), process numbers are small.
private func r(_ process: Int, _ observed: String?, _ invoke: Int64, _ complete: Int64?, _ outcome: RegisterOperation.Outcome = .ok,
               key: String = "k") -> RegisterOperation {
    .read(process: process, key: key, observed: observed, invoke: invoke, complete: complete, outcome: outcome)
}
private func w(_ process: Int, _ value: String, _ invoke: Int64, _ complete: Int64?, _ outcome: RegisterOperation.Outcome = .ok,
               key: String = "k") -> RegisterOperation {
    .write(process: process, key: key, value: value, invoke: invoke, complete: complete, outcome: outcome)
}
private func cas(_ process: Int, _ expected: String?, _ value: String, _ invoke: Int64, _ complete: Int64?,
                 _ outcome: RegisterOperation.Outcome = .ok, key: String = "k") -> RegisterOperation {
    .cas(process: process, key: key, expected: expected, value: value, invoke: invoke, complete: complete, outcome: outcome)
}

private func check(_ operations: [RegisterOperation], budget: CheckBudget = CheckBudget()) -> Verdict {
    LinearizabilityChecker.check(History(operations), budget: budget)
}

final class LinearizabilityCheckerTests: XCTestCase {
    // MARK: Classic cases

    func testEmptyHistoryIsLinearizable() {
        XCTAssertEqual(check([]), .linearizable)
    }

    func testSequentialHistoryIsLinearizable() {
        XCTAssertEqual(check([
            r(1, nil, 0, 10), w(1, "a", 20, 30), r(2, "a", 40, 50), w(2, "b", 60, 70),
            r(1, "b", 80, 90), cas(3, "b", "c", 100, 110), r(1, "c", 120, 130),
        ]), .linearizable)
    }

    func testReadConcurrentWithWriteMaySeeEitherValue() {
        // The read overlaps the write of "b": both the old and the new value are fine.
        let before = [w(1, "a", 0, 10), w(1, "b", 20, 40)]
        XCTAssertEqual(check(before + [r(2, "a", 25, 35)]), .linearizable)
        XCTAssertEqual(check(before + [r(2, "b", 25, 35)]), .linearizable)
        // Once a read saw "b" and completed, a read invoked afterwards must not see "a".
        XCTAssertEqual(check(before + [r(2, "b", 21, 25), r(3, "a", 26, 30)]).isLinearizable, false)
        // But two reads overlapping each other and the write may see old and new in either order.
        XCTAssertEqual(check(before + [r(2, "b", 21, 30), r(3, "a", 22, 30)]), .linearizable)
    }

    func testOperationsThatTouchCountAsConcurrent() {
        // The write completes at the very nanosecond the read is invoked: either order is allowed.
        XCTAssertEqual(check([w(1, "a", 0, 10), r(2, nil, 10, 20)]), .linearizable)
        XCTAssertEqual(check([w(1, "a", 0, 10), r(2, nil, 11, 20)]).isLinearizable, false)
    }

    func testStaleReadAfterCompletedWriteIsNotLinearizable() {
        let first = w(1, "a", 0, 10), second = w(2, "b", 20, 30), stale = r(3, "a", 40, 50)
        guard case let .notLinearizable(key, window) = check([first, second, stale]) else {
            return XCTFail("a read of \"a\" after \"b\" overwrote it must not linearize")
        }
        XCTAssertEqual(key, "k")
        XCTAssertEqual(window, [first, second, stale])
        let why = LinearizabilityChecker.explain(window)
        XCTAssertTrue(why.contains("stale read"), why)
        XCTAssertTrue(why.contains("process 3"), why)
    }

    func testStaleReadWindowLeavesOutTheRestOfALongHistory() {
        // 40 good operations, the violation, 40 more good ones: the window is just the violation.
        var operations: [RegisterOperation] = []
        var time: Int64 = 0
        for round in 0..<20 {
            operations.append(w(1, "x\(round)", time, time + 5))
            operations.append(r(2, "x\(round)", time + 6, time + 9))
            time += 10
        }
        let first = w(1, "a", time, time + 5), second = w(2, "b", time + 6, time + 8), stale = r(3, "a", time + 9, time + 12)
        operations += [first, second, stale]
        time += 20
        for round in 20..<40 {
            operations.append(w(1, "x\(round)", time, time + 5))
            operations.append(r(2, "x\(round)", time + 3, time + 9))
            time += 10
        }
        guard case let .notLinearizable(_, window) = check(operations) else { return XCTFail("stale read not found") }
        XCTAssertEqual(window, [first, second, stale])
    }

    func testLostAcknowledgedWriteIsNotLinearizable() {
        // An acknowledged write, no concurrent writer, and every later read finds the key absent.
        let write = w(1, "a", 0, 10)
        let reads = [r(2, nil, 20, 30), r(3, nil, 40, 50), r(1, nil, 60, 70)]
        guard case let .notLinearizable(_, window) = check([write] + reads) else {
            return XCTFail("a lost acknowledged write must not linearize")
        }
        XCTAssertEqual(window.count, 2, "one read suffices to show the loss: \(window)")
        XCTAssertEqual(window.first, write)
        XCTAssertTrue(LinearizabilityChecker.explain(window).contains("lost"), LinearizabilityChecker.explain(window))
    }

    func testReadOfAValueNobodyWroteIsAWindowOfOne() {
        let bogus = r(2, "ghost", 20, 30)
        XCTAssertEqual(check([w(1, "a", 0, 10), bogus, r(3, "a", 40, 50)]), .notLinearizable(key: "k", window: [bogus]))
        XCTAssertTrue(LinearizabilityChecker.explain([bogus]).contains("no operation on this key wrote \"ghost\""))
    }

    func testValueReappearingWithoutAWriteIsNotLinearizable() {
        // a, then b, then a again with no second write of a.
        let operations = [w(1, "a", 0, 10), r(2, "a", 11, 12), w(1, "b", 20, 30), r(2, "b", 31, 32), r(3, "a", 40, 50)]
        XCTAssertEqual(check(operations).isLinearizable, false)
        // With a second, concurrent write of "a" it is fine.
        XCTAssertEqual(check(operations + [w(4, "a", 35, 45)]).isLinearizable, true)
    }

    // MARK: Compare-and-set

    func testCompareAndSetSemantics() {
        // A successful cas needs the expected value at its linearization point.
        XCTAssertEqual(check([cas(1, nil, "a", 0, 10), r(2, "a", 20, 30)]), .linearizable)
        XCTAssertEqual(check([w(1, "a", 0, 10), cas(2, "a", "b", 20, 30), r(3, "b", 40, 50)]), .linearizable)
        // It cannot succeed when the register holds something else.
        XCTAssertEqual(check([w(1, "a", 0, 10), cas(2, "z", "b", 20, 30)]).isLinearizable, false)
        XCTAssertEqual(check([w(1, "a", 0, 10), cas(2, nil, "b", 20, 30)]).isLinearizable, false)
        // Two successful cas from the same value cannot both win...
        XCTAssertEqual(check([w(1, "a", 0, 10), cas(2, "a", "b", 20, 30), cas(3, "a", "c", 20, 30)]).isLinearizable, false)
        // ...unless one restores it.
        XCTAssertEqual(check([w(1, "a", 0, 10), cas(2, "a", "b", 20, 30), cas(3, "a", "c", 20, 30),
                             cas(4, "b", "a", 20, 30)]).isLinearizable, true)
        // A cas's new value is what reads see next.
        XCTAssertEqual(check([w(1, "a", 0, 10), cas(2, "a", "b", 20, 30), r(3, "a", 40, 50)]).isLinearizable, false)
    }

    func testFailedCompareAndSetIsIgnored() {
        // A failed cas did nothing, whatever it expected.
        XCTAssertEqual(check([w(1, "a", 0, 10), cas(2, "a", "b", 20, 30, .fail), r(3, "a", 40, 50)]), .linearizable)
    }

    func testUnknownCompareAndSetMayOrMayNotSwap() {
        let base = [w(1, "a", 0, 10), cas(2, "a", "b", 20, nil, .unknown)]
        XCTAssertEqual(check(base + [r(3, "a", 40, 50), r(3, "b", 60, 70)]).isLinearizable, true)
        XCTAssertEqual(check(base + [r(3, "a", 40, 50), r(3, "a", 60, 70)]).isLinearizable, true)
        // It can only swap from "a": once "c" is there it cannot produce "b".
        XCTAssertEqual(check(base + [w(3, "c", 30, 35), r(3, "c", 40, 50), r(3, "b", 60, 70)]).isLinearizable, false)
    }

    // MARK: Unknown and failed outcomes

    func testUnknownWriteThatAppearsLaterIsLinearizable() {
        XCTAssertEqual(check([w(1, "a", 0, nil, .unknown), r(2, nil, 10, 20), r(2, nil, 100, 110), r(3, "a", 1000, 1010)]),
                       .linearizable)
        // Even with a completion time recorded: an unknown outcome's completion is ignored.
        XCTAssertEqual(check([w(1, "a", 0, 5, .unknown), r(2, nil, 10, 20), r(3, "a", 1000, 1010)]), .linearizable)
    }

    func testUnknownWriteThatNeverAppearsIsLinearizable() {
        XCTAssertEqual(check([w(1, "a", 0, nil, .unknown), r(2, nil, 10, 20), r(2, nil, 100, 110)]), .linearizable)
    }

    func testUnknownWriteCannotTakeEffectBeforeItsInvoke() {
        XCTAssertEqual(check([r(2, "a", 0, 10), w(1, "a", 20, nil, .unknown)]).isLinearizable, false)
    }

    func testUnknownWriteTakesEffectAtMostOnce() {
        // Seen, overwritten, then seen again: it cannot take effect twice.
        XCTAssertEqual(check([w(1, "a", 0, nil, .unknown), r(2, "a", 10, 20), w(2, "b", 30, 40),
                              r(2, "a", 50, 60)]).isLinearizable, false)
    }

    func testFailedOperationsAreIgnored() {
        XCTAssertEqual(check([w(1, "a", 0, 10, .fail), r(2, nil, 20, 30)]), .linearizable)
        XCTAssertEqual(check([w(1, "a", 0, 10), r(2, "zzz", 5, 8, .fail), r(2, "a", 20, 30)]), .linearizable)
        // A failed write is no excuse for a read of its value.
        let read = r(2, "a", 20, 30)
        XCTAssertEqual(check([w(1, "a", 0, 10, .fail), read]), .notLinearizable(key: "k", window: [read]))
    }

    func testUnknownReadsAreIgnored() {
        XCTAssertEqual(check([w(1, "a", 0, 10), r(2, "nonsense", 20, nil, .unknown), r(3, "a", 40, 50)]), .linearizable)
    }

    // MARK: Keys

    func testKeysAreIndependentRegisters() {
        // "a" written to k1 is not visible on k2.
        XCTAssertEqual(check([w(1, "a", 0, 10, key: "k1"), r(2, nil, 20, 30, key: "k2"), r(2, "a", 40, 50, key: "k1")]),
                       .linearizable)
        let crossRead = r(2, "a", 20, 30, key: "k2")
        XCTAssertEqual(check([w(1, "a", 0, 10, key: "k1"), crossRead]), .notLinearizable(key: "k2", window: [crossRead]))
    }

    func testViolationIsReportedOnItsKeyAmongGoodKeys() {
        var operations: [RegisterOperation] = []
        for key in ["a", "b", "d"] {
            operations += [w(1, "1", 0, 10, key: key), r(2, "1", 20, 30, key: key)]
        }
        let write = w(1, "1", 0, 10, key: "c"), lost = r(2, nil, 20, 30, key: "c")
        operations += [write, lost]
        XCTAssertEqual(check(operations), .notLinearizable(key: "c", window: [write, lost]))
    }

    // MARK: Budget

    func testStateBudgetReturnsUnknown() {
        // Many concurrent writers and readers: more states than a budget of 5 allows.
        var operations: [RegisterOperation] = []
        for process in 0..<8 {
            operations.append(w(process, "v\(process)", 0, 100))
            operations.append(r(process + 8, "v\(7 - process)", 0, 100))
        }
        guard case let .unknown(reason) = check(operations, budget: CheckBudget(maxStates: 5)) else {
            return XCTFail("a budget of 5 states cannot decide 16 concurrent operations")
        }
        XCTAssertTrue(reason.contains("5 states"), reason)
        XCTAssertTrue(reason.contains("\"k\""), reason)
        // A memory budget of 200 bytes holds a handful of states only.
        XCTAssertEqual(check(operations, budget: CheckBudget(maxCacheBytes: 200)).isLinearizable, nil)
        // With the default budget it decides.
        XCTAssertEqual(check(operations), .linearizable)
    }

    func testStopRequestReturnsUnknown() {
        let operations = RegisterHistoryGenerator(processes: 4, keys: 1, operations: 2000).generate(seed: 1).operations
        guard case let .unknown(reason) = check(operations, budget: CheckBudget(shouldStop: { true })) else {
            return XCTFail("a stop request must end the check with unknown")
        }
        XCTAssertTrue(reason.contains("time budget"), reason)
    }

    func testUndecidedKeyDoesNotHideAViolationOnAnother() {
        var operations: [RegisterOperation] = []
        for process in 0..<8 {
            operations.append(w(process, "v\(process)", 0, 100, key: "a"))
            operations.append(r(process + 8, "v\(7 - process)", 0, 100, key: "a"))
        }
        let write = w(1, "1", 0, 10, key: "b"), lost = r(2, nil, 20, 30, key: "b")
        XCTAssertEqual(check(operations + [write, lost], budget: CheckBudget(maxStates: 5)),
                       .notLinearizable(key: "b", window: [write, lost]))
    }

    // MARK: Against a reference

    func testSearchAgreesWithBruteForceOnSmallRandomHistories() {
        var random = SplitMix64(seed: 42)
        var violations = 0
        for round in 0..<2000 {
            let count = Int.random(in: 1...6, using: &random)
            var operations: [RegisterOperation] = []
            for index in 0..<count {
                let invoke = Int64.random(in: 0...20, using: &random)
                let complete = invoke + Int64.random(in: 0...10, using: &random)
                let value = ["a", "b", "c"].randomElement(using: &random)!
                let observed: String? = [nil, "a", "b", "c"].randomElement(using: &random)!
                let outcome: RegisterOperation.Outcome = Int.random(in: 0..<10, using: &random) < 2 ? .unknown : .ok
                var operation: RegisterOperation = switch Int.random(in: 0..<3, using: &random) {
                case 0: r(index, observed, invoke, complete, outcome)
                case 1: w(index, value, invoke, complete, outcome)
                default: cas(index, observed, value, invoke, complete, outcome)
                }
                if outcome == .unknown && Bool.random(using: &random) { operation.complete = nil }
                operations.append(operation)
            }
            let expected = BruteForceChecker.isLinearizable(operations)
            let verdict = check(operations)
            XCTAssertEqual(verdict.isLinearizable, expected, "round \(round): \(History(operations).jsonLines)")
            if case let .notLinearizable(_, window) = verdict {
                violations += 1
                XCTAssertFalse(BruteForceChecker.isLinearizable(window), "round \(round): the window must not linearize")
                assertOneMinimal(window, of: operations, round: round)
            }
        }
        XCTAssertGreaterThan(violations, 300, "the generator should produce plenty of violations")
    }

    /// No single operation can leave the window and leave it non-linearizable, unless another
    /// operation of the window protects it (may have been the source of what it observed).
    private func assertOneMinimal(_ window: [RegisterOperation], of history: [RegisterOperation], round: Int) {
        let operations = LinearizabilityChecker.withoutUnobservedUnknownWrites(history.filter(\.isRelevant))
        let witnesses = Witnesses(operations)
        let indices = window.map { operation in operations.firstIndex(of: operation)! }
        for (position, index) in indices.enumerated() {
            var smaller = window
            let removed = smaller.remove(at: position)
            if indices.contains(where: { $0 != index && witnesses.protects($0, index) }) { continue }
            XCTAssertTrue(BruteForceChecker.isLinearizable(smaller),
                          "round \(round): window not minimal, \(removed) could go: \(History(window).jsonLines)")
        }
    }

    func testRandomRegisterHistoriesLinearizeAndMutatedOnesDoNot() {
        var staleMutations = 0
        for seed in UInt64(1)...60 {
            let generator = RegisterHistoryGenerator(processes: 5, keys: 3, operations: 150,
                                                     unknownRate: seed % 3 == 0 ? 0.05 : 0)
            let history = generator.generate(seed: seed)
            XCTAssertEqual(LinearizabilityChecker.check(history), .linearizable, "seed \(seed)")

            // One ok read mutated to a value nobody wrote.
            let reads = history.operations.indices.filter {
                history.operations[$0].kind == .read && history.operations[$0].outcome == .ok
            }
            guard let victim = reads.dropFirst(reads.count / 2).first else { continue }
            var mutated = history
            mutated.operations[victim].value = "never-written"
            XCTAssertEqual(LinearizabilityChecker.check(mutated),
                           .notLinearizable(key: mutated.operations[victim].key, window: [mutated.operations[victim]]),
                           "seed \(seed)")
            // The search alone (without the quick scan for unwritten values) catches it too.
            var meter = BudgetMeter(CheckBudget())
            let sameKey = mutated.operations.filter { $0.key == mutated.operations[victim].key && $0.isRelevant }
            guard case .notLinearizable = RegisterSearch.run(sameKey, meter: &meter) else {
                return XCTFail("seed \(seed): the search alone missed the unwritten value")
            }

            // One ok read mutated to a value that was certainly overwritten before it began.
            if let (index, staleValue) = staleCandidate(history) {
                var stale = history
                stale.operations[index].value = staleValue
                guard case let .notLinearizable(key, window) = LinearizabilityChecker.check(stale) else {
                    XCTFail("seed \(seed): stale read of \(staleValue) not detected")
                    continue
                }
                staleMutations += 1
                XCTAssertEqual(key, stale.operations[index].key)
                XCTAssertTrue(window.contains(stale.operations[index]), "seed \(seed): the stale read is in the window")
                XCTAssertLessThanOrEqual(window.count, 6, "seed \(seed): window \(window)")
                XCTAssertFalse(BruteForceChecker.isLinearizable(window), "seed \(seed)")
            }
        }
        XCTAssertGreaterThan(staleMutations, 30)
    }

    /// An ok read, and a value whose only writer (ok) finished before another ok write began that
    /// itself finished before the read began.
    private func staleCandidate(_ history: History) -> (Int, String)? {
        let operations = history.operations
        for (index, read) in operations.enumerated() where read.kind == .read && read.outcome == .ok {
            let sameKey = operations.filter { $0.key == read.key && $0.mayWrite }
            for old in sameKey where old.outcome == .ok && old.value != read.value {
                guard sameKey.filter({ $0.value == old.value }).count == 1 else { continue }
                let overwritten = sameKey.contains { newer in
                    newer.outcome == .ok && newer.value != old.value
                        && old.effectiveComplete < newer.invoke && newer.effectiveComplete < read.invoke
                }
                if overwritten { return (index, old.value!) }
            }
        }
        return nil
    }

    func testRepeatedValuesStillLinearize() {
        for seed in UInt64(100)...130 {
            let history = RegisterHistoryGenerator(processes: 4, keys: 1, operations: 120, unknownRate: 0.03, valuePool: 3)
                .generate(seed: seed)
            XCTAssertEqual(LinearizabilityChecker.check(history), .linearizable, "seed \(seed)")
        }
    }

    // MARK: Performance

    func testTenThousandOperationsOnTenKeysWithEightProcessesCheckQuickly() {
        let history = RegisterHistoryGenerator(processes: 8, keys: 10, operations: 10_000, unknownRate: 0.002)
            .generate(seed: 7)
        let clock = ContinuousClock()
        let start = clock.now
        let verdict = LinearizabilityChecker.check(history)
        let elapsed = clock.now - start
        XCTAssertEqual(verdict, .linearizable)
        print("10,000 operations, 10 keys, 8 processes: \(elapsed)")
        // Generous: the machine is shared; the point is "seconds, not minutes".
        XCTAssertLessThan(elapsed, .seconds(30))
    }
}

extension Verdict {
    /// nil when undecided, so `XCTAssertEqual(v.isLinearizable, false)` fails on `.unknown`.
    var isLinearizable: Bool? {
        switch self {
        case .linearizable: true
        case .notLinearizable: false
        case .unknown: nil
        }
    }
}
