/// How much work a check may do before it answers `.unknown` instead of running for ever: deciding
/// linearizability is NP-complete, and a history full of `unknown` outcomes can make the search
/// explode.
public struct CheckBudget: Sendable {
    /// The most (linearized set, register state) pairs one search may remember. Each search (one
    /// per key, and one per re-check while shrinking a window) gets this many. A pair costs about
    /// `operations on the key / 8 + 40` bytes.
    public var maxStates: Int
    /// The most memory one search's cache may use; on keys with very many operations (each pair
    /// stores a bitset of them) this binds before `maxStates` does.
    public var maxCacheBytes: Int
    /// Polled every few hundred steps; once it returns true the check stops and answers `.unknown`
    /// (or, while shrinking, returns the smallest window verified so far). The shell passes a
    /// deadline here; this module reads no clock.
    public var shouldStop: (@Sendable () -> Bool)?

    public init(maxStates: Int = 1_000_000, maxCacheBytes: Int = 1 << 30, shouldStop: (@Sendable () -> Bool)? = nil) {
        self.maxStates = maxStates
        self.maxCacheBytes = maxCacheBytes
        self.shouldStop = shouldStop
    }
}

/// Tracks one check's spending against its `CheckBudget`.
struct BudgetMeter {
    let budget: CheckBudget
    /// Set once `shouldStop` said so; every later search stops at once.
    private(set) var stopped = false
    private var polls = 0

    init(_ budget: CheckBudget) { self.budget = budget }

    /// Polls `shouldStop` every 256th call.
    mutating func shouldStop() -> Bool {
        if stopped { return true }
        polls &+= 1
        if polls & 255 == 0, let stop = budget.shouldStop, stop() { stopped = true }
        return stopped
    }
}

enum SearchResult: Equatable {
    case linearizable
    /// `frontier`: the latest completion time at which the search had to backtrack. Every
    /// subset holding at least the operations invoked by then fails the same way (the search
    /// never looked past it), so the shrinker can start from those.
    case notLinearizable(frontier: Int64)
    /// Ran out of states (`byStates`) or was told to stop.
    case budgetExhausted(byStates: Bool)
}

/// The Wing–Gong search with Lowe's improvements, as in Porcupine (Athalye), over one key's
/// operations.
///
/// The history is a doubly linked list of call and return entries sorted by time (calls before
/// returns at equal times, so operations that touch count as concurrent). The search walks from the
/// head: at a call it tries to linearize that operation now (apply the model; if it can run and the
/// resulting (linearized set, state) was never seen, it lifts the call and its return out of the
/// list, pushes an undo record and starts again from the head); reaching a return means the
/// operation it closes was not linearized before it, so the last choice is undone. The list empties
/// exactly when every operation is linearized. The cache of seen pairs is Lowe's improvement: two
/// paths that linearized the same set and reached the same state have the same future, so only one
/// is explored.
///
/// Entries live in arrays, not objects: node 0 is the head, the call of operation `i` is node
/// `2i + 1` and its return `2i + 2`. The linearized set is a bitset hashed incrementally (Zobrist),
/// so a step costs no allocation.
struct RegisterSearch {
    static func run(_ operations: [RegisterOperation], meter: inout BudgetMeter, maxStates: Int? = nil) -> SearchResult {
        let count = operations.count
        if count == 0 { return .linearizable }
        precondition(count < Int(Int32.max / 2) - 1, "too many operations on one key for 32-bit node indices")

        // Intern values: 0 is absent, every distinct string gets the next number.
        var interned: [String: Int32] = [:]
        func intern(_ value: String?) -> Int32 {
            guard let value else { return 0 }
            if let id = interned[value] { return id }
            let id = Int32(interned.count + 1)
            interned[value] = id
            return id
        }
        var compiled: [CompiledOperation] = []
        compiled.reserveCapacity(count)
        for operation in operations {
            let step: CompiledOperation.Step = switch operation.kind {
            case .read: .read
            case .write: .write
            case .cas: operation.outcome == .ok ? .casOK : .casUnknown
            }
            compiled.append(CompiledOperation(step: step, value: intern(operation.value), expected: intern(operation.expected)))
        }

        // Events sorted by time; at equal times calls come first; then by node for determinism.
        var events: [(time: Int64, node: Int32)] = []
        events.reserveCapacity(2 * count)
        for (index, operation) in operations.enumerated() {
            events.append((operation.invoke, Int32(2 * index + 1)))
            events.append((operation.effectiveComplete, Int32(2 * index + 2)))
        }
        events.sort { a, b in
            if a.time != b.time { return a.time < b.time }
            let aIsCall = a.node & 1 == 1, bIsCall = b.node & 1 == 1
            if aIsCall != bIsCall { return aIsCall }
            return a.node < b.node
        }

        let nodeCount = 2 * count + 1
        var next = [Int32](repeating: -1, count: nodeCount)
        var previous = [Int32](repeating: -1, count: nodeCount)
        var last: Int32 = 0
        for event in events {
            next[Int(last)] = event.node
            previous[Int(event.node)] = last
            last = event.node
        }

        // Lifts a call and its return out of the list; `unlift` undoes exactly that.
        func lift(_ call: Int32) {
            let ret = call + 1
            next[Int(previous[Int(call)])] = next[Int(call)]
            if next[Int(call)] >= 0 { previous[Int(next[Int(call)])] = previous[Int(call)] }
            next[Int(previous[Int(ret)])] = next[Int(ret)]
            if next[Int(ret)] >= 0 { previous[Int(next[Int(ret)])] = previous[Int(ret)] }
        }
        func unlift(_ call: Int32) {
            let ret = call + 1
            next[Int(previous[Int(ret)])] = ret
            if next[Int(ret)] >= 0 { previous[Int(next[Int(ret)])] = ret }
            next[Int(previous[Int(call)])] = call
            if next[Int(call)] >= 0 { previous[Int(next[Int(call)])] = call }
        }

        // The linearized set and its Zobrist hash.
        let words = (count + 63) / 64
        var linearized = [UInt64](repeating: 0, count: words)
        var setHash: UInt64 = 0
        var zobrist = [UInt64](repeating: 0, count: count)
        for index in 0..<count { zobrist[index] = mix(UInt64(index) &+ 0x5851_F42D_4C95_7F2D) }

        // The cache: a hash table of (set, state) pairs chained through `chain`, sets stored flat.
        var buckets: [UInt64: Int32] = [:]
        var chain: [Int32] = []
        var cachedStates: [Int32] = []
        var cachedSets: [UInt64] = []
        let maxStates = min(maxStates ?? meter.budget.maxStates, max(1, meter.budget.maxCacheBytes / (words * 8 + 24)))

        /// Inserts (linearized, state) unless present; true when it was new.
        func remember(_ state: Int32) -> Bool {
            let key = setHash ^ mix(UInt64(UInt32(bitPattern: state)) &+ 0x9E37_79B9_7F4A_7C15)
            let head = buckets[key] ?? -1
            var entry = head
            while entry >= 0 {
                if cachedStates[Int(entry)] == state {
                    let base = Int(entry) * words
                    var same = true
                    for word in 0..<words where cachedSets[base + word] != linearized[word] {
                        same = false
                        break
                    }
                    if same { return false }
                }
                entry = chain[Int(entry)]
            }
            buckets[key] = Int32(cachedStates.count)
            chain.append(head)
            cachedStates.append(state)
            cachedSets.append(contentsOf: linearized)
            return true
        }

        var undoCalls: [Int32] = []
        var undoStates: [Int32] = []
        var state: Int32 = 0
        var entry = next[0]
        var frontier = Int64.min
        while next[0] >= 0 {
            if meter.shouldStop() { return .budgetExhausted(byStates: false) }
            // The list always ends in a return, and the walk stops at the first return, so
            // `entry` is never -1 here.
            assert(entry >= 0)
            if entry & 1 == 1 {
                let operation = Int(entry >> 1)
                let newState = compiled[operation].apply(state)
                if newState >= 0 {
                    linearized[operation >> 6] |= 1 << UInt64(operation & 63)
                    setHash ^= zobrist[operation]
                    if remember(newState) {
                        if cachedStates.count > maxStates { return .budgetExhausted(byStates: true) }
                        undoCalls.append(entry)
                        undoStates.append(state)
                        state = newState
                        lift(entry)
                        entry = next[0]
                        continue
                    }
                    linearized[operation >> 6] &= ~(1 << UInt64(operation & 63))
                    setHash ^= zobrist[operation]
                }
                entry = next[Int(entry)]
            } else {
                // A return whose call is still in the list: that operation had to be linearized by
                // now. Undo the last choice and try the entry after it.
                frontier = max(frontier, operations[Int((entry - 1) >> 1)].effectiveComplete)
                guard let call = undoCalls.popLast(), let previousState = undoStates.popLast() else {
                    return .notLinearizable(frontier: frontier)
                }
                let operation = Int(call >> 1)
                state = previousState
                linearized[operation >> 6] &= ~(1 << UInt64(operation & 63))
                setHash ^= zobrist[operation]
                unlift(call)
                entry = next[Int(call)]
            }
        }
        return .linearizable
    }

    /// SplitMix64's finaliser: a cheap, well-spread 64-bit mix.
    @inline(__always)
    static func mix(_ input: UInt64) -> UInt64 {
        var z = input &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
