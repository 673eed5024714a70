/// New inbound connections per source address per second, as a token bucket per source.
///
/// It exists because every accepted connection costs the node a TLS handshake (an ECDHE and a
/// signature, about a millisecond of CPU), and the pre-auth table only bounds how many are
/// pending at once, not how fast one address can start new ones: without a rate, a single host
/// reconnecting in a loop keeps a core busy and delays everyone's handshakes. Each source gets
/// `perSecond` handshakes per second with bursts of `burst` (a testbed's nodes all on one
/// loopback address reconnect together after a certificate renewal); the connections beyond
/// are closed at accept, before any TLS work. Other sources are unaffected. Pure bookkeeping
/// with the time passed in; the table forgets sources whose bucket is full again.
struct HandshakeRateLimiter {
    let perSecond: Int
    let burst: Int
    private var buckets: [UInt64: Bucket] = [:]
    /// Sources kept before idle ones are forgotten (bounds memory whatever the address spread).
    static let pruneThreshold = 4_096

    private struct Bucket {
        var tokens: Double
        var updatedMillis: UInt64
    }

    init(perSecond: Int, burst: Int) {
        precondition(perSecond > 0 && burst >= 1, "handshake rate must be positive with a burst of at least 1")
        self.perSecond = perSecond
        self.burst = burst
    }

    /// Sources tracked now (for tests).
    var trackedSources: Int { buckets.count }

    /// Takes one handshake from `source`'s bucket; false if it is empty (refuse the connection).
    mutating func admit(from source: UInt64, nowMillis: UInt64) -> Bool {
        if buckets.count >= Self.pruneThreshold { forgetRefilled(nowMillis: nowMillis) }
        var bucket = buckets[source] ?? Bucket(tokens: Double(burst), updatedMillis: nowMillis)
        bucket.tokens = refilled(bucket, nowMillis: nowMillis)
        bucket.updatedMillis = max(bucket.updatedMillis, nowMillis)
        let admitted = bucket.tokens >= 1
        if admitted { bucket.tokens -= 1 }
        buckets[source] = bucket
        return admitted
    }

    private func refilled(_ bucket: Bucket, nowMillis: UInt64) -> Double {
        let elapsed = Double(nowMillis - min(nowMillis, bucket.updatedMillis)) / 1000
        return min(Double(burst), bucket.tokens + elapsed * Double(perSecond))
    }

    private mutating func forgetRefilled(nowMillis: UInt64) {
        buckets = buckets.filter { refilled($0.value, nowMillis: nowMillis) < Double(burst) }
    }
}
