/// Ids in ascending order, kept in chunks of at most `maxChunk`, so adding or removing one id
/// moves at most a chunk instead of the whole order.
///
/// It exists because every service create inserted its id into one sorted array: with 50,000
/// services that moved about 800 KB per write, on every manager, and made writes slower the
/// more services there were. Equality is by content (chunk boundaries depend on history).
///
/// Searches compare `OrderKey`s (each id's first 8 bytes in one integer, kept in arrays beside
/// the ids) and read an id's own bytes only when two keys cannot decide: a binary search over
/// `String`s touched one heap object per step, and those cache misses made `insert` 2.4% of a
/// manager's CPU per write (perf, 64-client service creates).
public struct SortedIDs: Sendable, Equatable {
    static let maxChunk = 512

    private var chunks: [[String]] = []
    /// `OrderKey.of` each id, parallel to `chunks`.
    private var keyChunks: [[UInt64]] = []
    /// The key of each chunk's last id, parallel to `chunks` (the chunk search reads only this).
    private var lastKeys: [UInt64] = []
    public private(set) var count = 0

    public init() {}

    public init(sorted ids: [String]) {
        precondition(zip(ids, ids.dropFirst()).allSatisfy { $0 < $1 }, "ids must be strictly ascending")
        var start = 0
        while start < ids.count {
            let end = min(start + Self.maxChunk / 2, ids.count)
            appendChunk(Array(ids[start..<end]))
            start = end
        }
        count = ids.count
    }

    private mutating func appendChunk(_ ids: [String]) {
        chunks.append(ids)
        keyChunks.append(ids.map(OrderKey.of))
        lastKeys.append(OrderKey.of(ids.last!))
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
            let key = OrderKey.of(id)
            chunk = chunkIndex(for: id, key: key)
            guard chunk < chunks.count else { return [] }
            position = insertionPoint(of: id, key: key, inChunk: chunk)
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
        let key = OrderKey.of(id)
        let chunk = chunkIndex(for: id, key: key)
        guard chunk < chunks.count else { return false }
        let position = insertionPoint(of: id, key: key, inChunk: chunk)
        return position < chunks[chunk].count && chunks[chunk][position] == id
    }

    /// Adds `id`; false if it was there already.
    @discardableResult
    public mutating func insert(_ id: String) -> Bool {
        let key = OrderKey.of(id)
        guard !chunks.isEmpty else {
            appendChunk([id])
            count = 1
            return true
        }
        let chunk = min(chunkIndex(for: id, key: key), chunks.count - 1)
        let position = insertionPoint(of: id, key: key, inChunk: chunk)
        if position < chunks[chunk].count && chunks[chunk][position] == id { return false }
        chunks[chunk].insert(id, at: position)
        keyChunks[chunk].insert(key, at: position)
        lastKeys[chunk] = keyChunks[chunk].last!
        count += 1
        if chunks[chunk].count > Self.maxChunk {
            let half = Self.maxChunk / 2
            chunks.insert(Array(chunks[chunk][half...]), at: chunk + 1)
            keyChunks.insert(Array(keyChunks[chunk][half...]), at: chunk + 1)
            lastKeys.insert(lastKeys[chunk], at: chunk + 1)
            chunks[chunk].removeSubrange(half...)
            keyChunks[chunk].removeSubrange(half...)
            lastKeys[chunk] = keyChunks[chunk].last!
        }
        return true
    }

    /// Removes `id`; false if it was not there.
    @discardableResult
    public mutating func remove(_ id: String) -> Bool {
        let key = OrderKey.of(id)
        let chunk = chunkIndex(for: id, key: key)
        guard chunk < chunks.count else { return false }
        let position = insertionPoint(of: id, key: key, inChunk: chunk)
        guard position < chunks[chunk].count && chunks[chunk][position] == id else { return false }
        chunks[chunk].remove(at: position)
        keyChunks[chunk].remove(at: position)
        count -= 1
        if chunks[chunk].isEmpty {
            chunks.remove(at: chunk)
            keyChunks.remove(at: chunk)
            lastKeys.remove(at: chunk)
        } else {
            lastKeys[chunk] = keyChunks[chunk].last!
        }
        return true
    }

    public static func == (lhs: SortedIDs, rhs: SortedIDs) -> Bool { lhs.count == rhs.count && lhs.all == rhs.all }

    /// The first chunk whose last id is not below `id` (`chunks.count` if none).
    private func chunkIndex(for id: String, key: UInt64) -> Int {
        var low = 0, high = chunks.count
        while low < high {
            let middle = (low + high) / 2
            if OrderKey.isBelow(lastKeys[middle], key, { chunks[middle].last! < id }) { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The first position in chunk `chunk` whose id is not below `id` (binary search).
    private func insertionPoint(of id: String, key: UInt64, inChunk chunk: Int) -> Int {
        let ids = chunks[chunk], keys = keyChunks[chunk]
        var low = 0, high = ids.count
        while low < high {
            let middle = (low + high) / 2
            if OrderKey.isBelow(keys[middle], key, { ids[middle] < id }) { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// An id's first 8 UTF-8 bytes as one big-endian integer (zero-padded), when the whole id is
/// ASCII; `none` otherwise.
///
/// For two all-ASCII ids, different keys order the same way the ids do: `String` orders ASCII
/// text byte by byte, the first differing byte within 8 decides, and padding (0) sorts before
/// every byte, as a shorter prefix sorts first. Equal keys decide nothing (the ids may differ
/// later, or by a NUL against padding). Any non-ASCII byte disqualifies the whole id: `String`
/// compares canonical (NFC) forms, where a combining mark later on can change an earlier byte.
enum OrderKey {
    /// No key: an ASCII key never has the top bit set.
    static let none = UInt64.max

    static func of(_ id: String) -> UInt64 {
        var key: UInt64 = 0
        var shift: UInt64 = 56
        var position = 0
        for byte in id.utf8 {
            guard byte < 0x80 else { return none }
            if position < 8 {
                key |= UInt64(byte) << shift
                shift &-= 8
                position += 1
            }
        }
        return key
    }

    /// Whether the id with key `a` sorts before the id with key `b`; `compareIDs` (the ids' own
    /// `<`) answers when the keys cannot.
    @inline(__always)
    static func isBelow(_ a: UInt64, _ b: UInt64, _ compareIDs: () -> Bool) -> Bool {
        if a != b && a != none && b != none { return a < b }
        return compareIDs()
    }
}
