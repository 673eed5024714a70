import Foundation
import Glibc

/// One line per event on stderr: time, level, node, what happened. Safe from any thread
/// (a single write(2) per line).
public struct NodeLogger: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case debug, info, warn, error
        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    public var nodeID: String
    public var minimum: Level

    public init(nodeID: String, minimum: Level = .info) {
        self.nodeID = nodeID
        self.minimum = minimum
    }

    public init(nodeID: String, levelName: String) {
        let levels: [String: Level] = ["debug": .debug, "info": .info, "warn": .warn, "error": .error]
        self.init(nodeID: nodeID, minimum: levels[levelName] ?? .info)
    }

    public func log(_ level: Level, _ message: String) {
        guard level >= minimum else { return }
        let time = Date().timeIntervalSince1970
        let millis = UInt64(time * 1000)
        let stamp = RFC3339Clock.format(millis)
        let name = ["debug", "info", "warn", "error"][level.rawValue]
        let line = "\(stamp) \(name) node=\(nodeID.prefix(12)) \(message)\n"
        _ = line.utf8CString.withUnsafeBytes { write(2, $0.baseAddress, $0.count - 1) }
    }

    public func info(_ message: String) { log(.info, message) }
    public func warn(_ message: String) { log(.warn, message) }
    public func error(_ message: String) { log(.error, message) }
    public func debug(_ message: String) { log(.debug, message) }
}

import ClusterState
import Synchronization
typealias RFC3339Clock = RFC3339

/// The shell's clocks: monotonic for timeouts, wall for timestamps in commands.
enum Clock {
    /// Injected clock skew (chaos), added to the wall clock: the timestamps this node writes and
    /// the leader's time-based decisions (restart delays, update monitors). The monotonic clock
    /// that times out requests and heartbeats stays true, as a real NTP step would leave it.
    static let skewMillis = Atomic<Int64>(0)

    static func monotonicNanos() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    static func monotonicMillis() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1000 + UInt64(spec.tv_nsec) / 1_000_000
    }

    static func now() -> Timestamp {
        Timestamp(millisecondsSinceEpoch: skewed(UInt64(Date().timeIntervalSince1970 * 1000)))
    }

    private static func skewed(_ millis: UInt64) -> UInt64 {
        let skew = skewMillis.load(ordering: .relaxed)
        return skew >= 0 ? millis + UInt64(skew) : millis - min(millis, UInt64(-skew))
    }
}
