/// Delays between attempts to reach a peer: exponential from `initialMillis` up to `maxMillis`,
/// with "equal jitter" (half fixed, half random) so a restarted cluster does not reconnect in
/// lock-step. Pure: the caller supplies the random number.
struct ReconnectBackoff {
    let initialMillis: Int
    let maxMillis: Int
    private(set) var failures = 0

    init(initialMillis: Int, maxMillis: Int) {
        precondition(initialMillis > 0 && maxMillis >= initialMillis, "backoff needs 0 < initial <= max")
        self.initialMillis = initialMillis
        self.maxMillis = maxMillis
    }

    /// The ceiling for the next attempt (before jitter).
    var currentCeiling: Int {
        let shift = min(failures, 30)
        return min(maxMillis, initialMillis << shift)
    }

    /// The next delay, with `random(range)` returning a value in the range; records a failure.
    mutating func nextDelay(random: (ClosedRange<Int>) -> Int) -> Int {
        let ceiling = currentCeiling
        failures += 1
        let half = ceiling / 2
        let delay = half + random(0...(ceiling - half))
        precondition(delay >= 0 && delay <= maxMillis, "backoff delay \(delay) outside 0...\(maxMillis)")
        return delay
    }

    /// A connection succeeded: start from the initial delay next time.
    mutating func reset() { failures = 0 }
}
