/// Ids in ascending order, kept in chunks of at most `maxChunk`, so adding or removing one id
/// moves at most a chunk instead of the whole order.
///
/// It exists because every service create inserted its id into one sorted array: with 50,000
/// services that moved about 800 KB per write, on every manager, and made writes slower the
/// more services there were. Equality is by content (chunk boundaries depend on history).
public struct SortedIDs: Sendable, Equatable {
    static let maxChunk = 512

    private var chunks: [[String]] = []
    public private(set) var count = 0

    public init() {}

    public init(sorted ids: [String]) {
        precondition(zip(ids, ids.dropFirst()).allSatisfy { $0 < $1 }, "ids must be strictly ascending")
        var start = 0
        while start < ids.count {
            let end = min(start + Self.maxChunk / 2, ids.count)
            chunks.append(Array(ids[start..<end]))
            start = end
        }
        count = ids.count
    }

    /// Every id in ascending order.
    public var all: [String] {
        var result: [String] = []
        result.reserveCapacity(count)
        for chunk in chunks { result.append(contentsOf: chunk) }
        return result
    }

    /// Up to `limit` ids in order after `id` (from the first when nil), without copying the rest.
    public func ids(after id: String?, limit: Int) -> [String] {
        guard limit > 0, !chunks.isEmpty else { return [] }
        var chunk = 0, position = 0
        if let id {
            chunk = chunkIndex(for: id)
            guard chunk < chunks.count else { return [] }
            position = Self.insertionPoint(of: id, in: chunks[chunk])
            if position < chunks[chunk].count && chunks[chunk][position] == id { position += 1 }
        }
        var result: [String] = []
        result.reserveCapacity(min(limit, count))
        while chunk < chunks.count && result.count < limit {
            let take = min(limit - result.count, chunks[chunk].count - position)
            result.append(contentsOf: chunks[chunk][position..<position + take])
            chunk += 1
            position = 0
        }
        return result
    }

    public func contains(_ id: String) -> Bool {
        let chunk = chunkIndex(for: id)
        guard chunk < chunks.count else { return false }
        let position = Self.insertionPoint(of: id, in: chunks[chunk])
        return position < chunks[chunk].count && chunks[chunk][position] == id
    }

    /// Adds `id`; false if it was there already.
    @discardableResult
    public mutating func insert(_ id: String) -> Bool {
        guard !chunks.isEmpty else {
            chunks = [[id]]
            count = 1
            return true
        }
        let chunk = min(chunkIndex(for: id), chunks.count - 1)
        let position = Self.insertionPoint(of: id, in: chunks[chunk])
        if position < chunks[chunk].count && chunks[chunk][position] == id { return false }
        chunks[chunk].insert(id, at: position)
        count += 1
        if chunks[chunk].count > Self.maxChunk {
            let upper = Array(chunks[chunk][(Self.maxChunk / 2)...])
            chunks[chunk].removeSubrange((Self.maxChunk / 2)...)
            chunks.insert(upper, at: chunk + 1)
        }
        return true
    }

    /// Removes `id`; false if it was not there.
    @discardableResult
    public mutating func remove(_ id: String) -> Bool {
        let chunk = chunkIndex(for: id)
        guard chunk < chunks.count else { return false }
        let position = Self.insertionPoint(of: id, in: chunks[chunk])
        guard position < chunks[chunk].count && chunks[chunk][position] == id else { return false }
        chunks[chunk].remove(at: position)
        count -= 1
        if chunks[chunk].isEmpty { chunks.remove(at: chunk) }
        return true
    }

    public static func == (lhs: SortedIDs, rhs: SortedIDs) -> Bool { lhs.count == rhs.count && lhs.all == rhs.all }

    /// The first chunk whose last id is not below `id` (`chunks.count` if none).
    private func chunkIndex(for id: String) -> Int {
        var low = 0, high = chunks.count
        while low < high {
            let middle = (low + high) / 2
            if chunks[middle].last! < id { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The first position in ascending `ids` whose element is not below `id` (binary search).
    static func insertionPoint(of id: String, in ids: [String]) -> Int {
        var low = 0, high = ids.count
        while low < high {
            let middle = (low + high) / 2
            if ids[middle] < id { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
