/// A binary min-heap of packed node keys: recent-failure flag, this service's task count, total
/// task count, node position — so the best node for the next replica is found in O(log nodes)
/// instead of rescanning every node for every task.
struct NodeHeap {
    private var keys: [UInt64] = []

    static let positionBits: UInt64 = 21
    static let totalBits: UInt64 = 21
    static let serviceBits: UInt64 = 20

    static func key(position: Int, serviceCount: Int, totalCount: Int, failing: Bool) -> UInt64 {
        precondition(position >= 0 && UInt64(position) < 1 << positionBits, "node position \(position) out of range")
        let service = min(UInt64(max(serviceCount, 0)), (1 << serviceBits) - 1)
        let total = min(UInt64(max(totalCount, 0)), (1 << totalBits) - 1)
        return (failing ? 1 << 62 : 0) | service << (totalBits + positionBits) | total << positionBits | UInt64(position)
    }

    static func position(of key: UInt64) -> Int { Int(key & ((1 << positionBits) - 1)) }

    var isEmpty: Bool { keys.isEmpty }
    var peek: UInt64? { keys.first }

    init(_ initial: [UInt64]) {
        keys = initial.sorted()   // a sorted array is a valid heap
    }

    mutating func push(_ key: UInt64) {
        keys.append(key)
        var child = keys.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard keys[child] < keys[parent] else { break }
            keys.swapAt(child, parent)
            child = parent
        }
    }

    @discardableResult
    mutating func pop() -> UInt64? {
        guard !keys.isEmpty else { return nil }
        let top = keys[0]
        let last = keys.removeLast()
        if !keys.isEmpty {
            keys[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                guard left < keys.count else { break }
                var smallest = left
                if left + 1 < keys.count && keys[left + 1] < keys[left] { smallest = left + 1 }
                guard keys[smallest] < keys[parent] else { break }
                keys.swapAt(smallest, parent)
                parent = smallest
            }
        }
        return top
    }
}

/// Placement preferences (`spread=node.labels.zone`): a tree with one level per preference and
/// one branch per label value; each placement goes down the branch with the fewest tasks of the
/// service (ties by value), so replicas spread over values first and over nodes within a value.
final class SpreadBranch {
    var count = 0
    var exhausted = false
    var children: [String: SpreadBranch] = [:]
    var childOrder: [String] = []
    var heap: NodeHeap?

    init() {}

    func child(_ value: String) -> SpreadBranch {
        if let existing = children[value] { return existing }
        let branch = SpreadBranch()
        children[value] = branch
        childOrder.append(value)
        return branch
    }

    /// The branch to descend into: not exhausted, fewest tasks, smallest value.
    func bestChild() -> SpreadBranch? {
        var best: (count: Int, value: String, branch: SpreadBranch)?
        for value in childOrder {
            let branch = children[value]!
            guard !branch.exhausted else { continue }
            if best == nil || branch.count < best!.count || (branch.count == best!.count && value < best!.value) {
                best = (branch.count, value, branch)
            }
        }
        return best?.branch
    }
}
