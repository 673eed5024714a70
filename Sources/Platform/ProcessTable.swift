import Foundation
import Glibc

/// Facts about other processes read from /proc: their state, parent and environment.
///
/// It exists so the supervisors that must find and end what a node left behind (the orphan
/// reaper, `testbed`, the agent after a restart) read /proc one way, in one place.
public enum ProcessTable {
    /// Where a process is in its life, from the state letter of /proc/PID/stat.
    public enum State: String, Sendable {
        case running, stopped, zombie, gone
    }

    /// The fields of /proc/PID/stat after the parenthesised command name (which may hold spaces).
    static func statFields(_ pid: pid_t) -> [Substring]? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }

    public static func state(of pid: pid_t) -> State {
        guard let letter = statFields(pid)?.first?.first else { return .gone }
        switch letter {
        case "T", "t": return .stopped
        case "Z", "X": return .zombie
        default: return .running
        }
    }

    public static func parent(of pid: pid_t) -> pid_t? {
        guard let fields = statFields(pid), fields.count > 1 else { return nil }
        return pid_t(fields[1])
    }

    /// When the process started, in clock ticks since boot (field 22 of /proc/PID/stat): with the
    /// pid it names one process for good, as a recycled pid starts later.
    public static func startTime(of pid: pid_t) -> UInt64? {
        guard let fields = statFields(pid), fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    /// Every process id currently in /proc.
    public static func allPIDs() -> [pid_t] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid_t($0) }.sorted()
    }

    /// Whether the process's environment holds exactly `entry` (`NAME=value`).
    public static func environment(of pid: pid_t, contains entry: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return false }
        let wanted = Array(entry.utf8)
        return data.split(separator: 0).contains { Array($0) == wanted }
    }

    /// SIGKILLs `pid` and, when it leads one, its process group.
    public static func kill(processGroupOf pid: pid_t) {
        if getpgid(pid) == pid { _ = Glibc.kill(-pid, SIGKILL) }
        _ = Glibc.kill(pid, SIGKILL)
    }
}
