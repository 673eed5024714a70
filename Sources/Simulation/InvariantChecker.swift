import Raft

/// Raft's safety properties (Figure 3 of the paper) plus read linearizability, checked against
/// everything the simulated nodes do. The first violation is kept and ends the run.
struct InvariantChecker {
    private(set) var violation: String?
    /// Election safety: at most one leader per term.
    private var leaderOfTerm: [UInt64: NodeID] = [:]
    /// Log matching: an (index, term) pair always names the same entry.
    private var entryAt: [UInt64: [UInt64: Int]] = [:]
    /// State machine safety: what was applied at each index.
    private(set) var appliedAt: [UInt64: (term: UInt64, digest: Int)] = [:]
    /// Highest register version acknowledged to a client, per key.
    private var acknowledgedVersion: [UInt8: UInt64] = [:]

    private mutating func fail(_ message: String) {
        if violation == nil { violation = message }
    }

    static func digest(_ entry: Entry) -> Int {
        var hasher = Hasher()
        hasher.combine(entry.kind.rawValue)
        hasher.combine(entry.data)
        return hasher.finalize()
    }

    mutating func observeLeader(_ node: NodeID, term: UInt64) {
        if let existing = leaderOfTerm[term], existing != node {
            fail("election safety: nodes \(existing) and \(node) both led term \(term)")
        }
        leaderOfTerm[term] = node
    }

    mutating func observeAppended(_ entries: [Entry], on node: NodeID) {
        for entry in entries {
            let digest = Self.digest(entry)
            if let known = entryAt[entry.index]?[entry.term], known != digest {
                fail("log matching: node \(node) holds a different entry at index \(entry.index) term \(entry.term)")
            }
            entryAt[entry.index, default: [:]][entry.term] = digest
        }
    }

    /// Returns true when this is the first time anyone applied `entry.index`.
    mutating func observeApplied(_ entry: Entry, on node: NodeID) -> Bool {
        let digest = Self.digest(entry)
        if let known = appliedAt[entry.index] {
            if known.term != entry.term || known.digest != digest {
                fail("state machine safety: node \(node) applied term \(entry.term) at index \(entry.index), another node applied term \(known.term)")
            }
            return false
        }
        appliedAt[entry.index] = (entry.term, digest)
        return true
    }

    /// Leader completeness: a new leader holds every entry anyone has applied.
    mutating func checkLeaderCompleteness(_ raft: RaftNode) {
        for (index, applied) in appliedAt where index >= raft.firstIndex {
            guard let term = raft.term(at: index) else {
                fail("leader completeness: leader \(raft.id) of term \(raft.term) lacks applied index \(index)")
                return
            }
            if term != applied.term {
                fail("leader completeness: leader \(raft.id) of term \(raft.term) has term \(term) at applied index \(index), applied was term \(applied.term)")
                return
            }
        }
    }

    mutating func acknowledgeWrite(key: UInt8, version: UInt64) {
        acknowledgedVersion[key] = max(acknowledgedVersion[key] ?? 0, version)
    }

    /// The version a read starting now must at least return.
    func readLowerBound(key: UInt8) -> UInt64 { acknowledgedVersion[key] ?? 0 }

    mutating func checkRead(key: UInt8, version: UInt64, lowerBound: UInt64, node: NodeID, index: UInt64) {
        if version < lowerBound {
            fail("linearizability: read of key \(key) on node \(node) at index \(index) returned version \(version), but version \(lowerBound) was acknowledged before the read began")
        }
    }

    mutating func failLiveness(_ message: String) { fail("liveness: " + message) }
}
