@testable import Raft
import XCTest

/// Seeded random schedules of partitions, message loss, crashes, restarts, proposals and
/// compactions. Every Ready is checked by `TestNetwork` (one leader per term, the same entry
/// applied at an index everywhere, in-order apply, durable votes and acknowledgements); after
/// the faults heal the cluster must elect a leader and converge. Deterministic: a failing seed
/// replays exactly. Half the runs also delay (reorder) and duplicate messages.
final class RandomizedNetworkTests: XCTestCase {
    func testRandomFaultSchedulesKeepSafetyAndRecover() {
        for seed in UInt64(1)...10 {
            for preVote in [false, true] {
                run(seed: seed, preVote: preVote)
                run(seed: seed, preVote: preVote, reorder: true)
            }
        }
    }

    private func run(seed: UInt64, preVote: Bool, reorder: Bool = false) {
        var random = SplitMix64(seed: seed &* 7919 &+ (preVote ? 1 : 0))
        func chance(_ percent: UInt64) -> Bool { random.next() % 100 < percent }
        let voters: [NodeID] = [1, 2, 3, 4, 5]
        let cluster = TestNetwork(voters: voters) { config in
            config.preVote = preVote
            config.checkQuorum = preVote
            config.snapshotChunkSize = 8
            config.maxInflightMessages = 4
        }
        cluster.intercept = { _ in random.next() % 100 >= 10 }
        if reorder { cluster.disorder = (SplitMix64(seed: seed), 20, 5) }
        var proposed = 0
        for _ in 0..<300 {
            let pick = voters[Int(random.next() % UInt64(voters.count))]
            switch random.next() % 100 {
            case 0..<4:
                cluster.partition([pick])
            case 4..<7:
                cluster.partition([pick, voters[Int(random.next() % UInt64(voters.count))]])
            case 7..<12:
                cluster.blocked = []
            case 12..<14 where cluster.down.count < 2:
                cluster.crash(pick)
            case 14..<18 where cluster.down.contains(pick):
                cluster.restart(pick)
            case 18..<22:
                if cluster.appliedIndex[pick]! > cluster[pick].snapshotIndex + 3 {
                    cluster.compact(pick, retain: random.next() % 3, data: Array(repeating: UInt8(truncatingIfNeeded: seed), count: 20))
                }
            default:
                break
            }
            if let leader = cluster.leader, chance(30) {
                if (try? cluster.propose(leader, "s\(seed)-\(proposed)")) != nil { proposed += 1 }
            }
            cluster.tickAll()
        }

        // Heal everything; a leader must emerge, take a proposal, and every log must converge.
        // (Without PreVote a returning node may still depose a leader once or twice: allow time.)
        cluster.recover()
        for id in cluster.down { cluster.restart(id) }
        let context = "seed \(seed), preVote \(preVote), reorder \(reorder)"
        var finalCommitted = false
        var ticks = 0
        while ticks < 300 {
            cluster.tickAll()
            ticks += 1
            guard let leader = cluster.leader else { continue }
            if !finalCommitted, let position = try? cluster.propose(leader, "final") {
                finalCommitted = cluster[leader].commitIndex >= position.index
            }
            if finalCommitted && converged(cluster, voters) { break }
        }
        guard let leader = cluster.leader else { return XCTFail("no leader after healing, \(context)") }
        XCTAssertTrue(finalCommitted, context)
        for id in voters {
            XCTAssertEqual(cluster[id].commitIndex, cluster[leader].commitIndex, "node \(id), \(context)")
            XCTAssertEqual(cluster[id].lastIndex, cluster[leader].lastIndex, "node \(id), \(context)")
            XCTAssertEqual(cluster.appliedIndex[id], cluster[leader].commitIndex, "node \(id), \(context)")
        }
        XCTAssertLessThan(ticks, preVote ? 60 : 300, "ticks to converge, \(context)")
        // Without PreVote/CheckQuorum the churn can keep the cluster leaderless most of the time.
        XCTAssertGreaterThan(proposed, preVote ? 10 : 0, context)
    }

    private func converged(_ cluster: TestNetwork, _ voters: [NodeID]) -> Bool {
        guard let leader = cluster.leader else { return false }
        let commit = cluster[leader].commitIndex
        return voters.allSatisfy { id in
            cluster[id].commitIndex == commit && cluster[id].lastIndex == cluster[leader].lastIndex
                && cluster.appliedIndex[id] == commit
        }
    }
}
