import API
import Foundation
import Glibc
import Platform

/// A container's processes read from /proc: its main process and every descendant.
///
/// It exists for `docker top` and `docker stats` on a node, and works the same for both
/// executors (an OCI container's processes and a process task's group are all descendants of
/// the main pid the executor reports).
enum ContainerProcessTree {
    /// The main process and its descendants, parents first.
    static func pids(under root: pid_t) -> [pid_t] {
        var children: [pid_t: [pid_t]] = [:]
        for pid in ProcessTable.allPIDs() {
            if let parent = ProcessTable.parent(of: pid) { children[parent, default: []].append(pid) }
        }
        var result: [pid_t] = []
        var queue = [root]
        while let next = queue.first {
            queue.removeFirst()
            guard FileSystem.exists("/proc/\(next)") else { continue }
            result.append(next)
            queue += (children[next] ?? []).sorted()
        }
        return result
    }

    static func processes(under root: pid_t) -> ContainerProcesses {
        let rows = pids(under: root).map { pid -> [String] in
            let uid = status(pid)["Uid"]?.split(whereSeparator: { $0 == "\t" || $0 == " " }).first.map(String.init) ?? "?"
            let parent = ProcessTable.parent(of: pid).map(String.init) ?? "0"
            let stat = statFields(pid)
            let ticks = stat.count > 14 ? (UInt64(stat[11]) ?? 0) + (UInt64(stat[12]) ?? 0) : 0
            return [uid, String(pid), parent, cpuTime(ticks), commandLine(pid)]
        }
        return ContainerProcesses(titles: ["UID", "PID", "PPID", "TIME", "CMD"], processes: rows)
    }

    static func usage(under root: pid_t) -> ContainerUsage {
        let pids = pids(under: root)
        let hertz = UInt64(max(sysconf(Int32(_SC_CLK_TCK)), 1))
        var ticks: UInt64 = 0
        var residentPages: UInt64 = 0
        for pid in pids {
            let stat = statFields(pid)
            // After "pid (comm)": state is field 0, utime 11, stime 12, rss 21.
            guard stat.count > 21 else { continue }
            ticks += (UInt64(stat[11]) ?? 0) + (UInt64(stat[12]) ?? 0)
            residentPages += UInt64(stat[21]) ?? 0
        }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return ContainerUsage(readNanos: Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec), cpuNanos: ticks * 1_000_000_000 / hertz,
                              systemCPUNanos: systemTicks() * 1_000_000_000 / hertz, onlineCPUs: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))),
                              memoryBytes: residentPages * UInt64(sysconf(Int32(_SC_PAGESIZE))), memoryLimitBytes: memoryTotal(), pids: pids.count)
    }

    /// The fields of /proc/PID/stat after the command name.
    private static func statFields(_ pid: pid_t) -> [Substring] {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = text.lastIndex(of: ")") else { return [] }
        return text[text.index(after: close)...].split(separator: " ")
    }

    private static func status(_ pid: pid_t) -> [String: String] {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return [:] }
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        return fields
    }

    private static func commandLine(_ pid: pid_t) -> String {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { return "" }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
    }

    private static func cpuTime(_ ticks: UInt64) -> String {
        let seconds = ticks / UInt64(max(sysconf(Int32(_SC_CLK_TCK)), 1))
        return String(format: "%02llu:%02llu:%02llu", seconds / 3600, seconds / 60 % 60, seconds % 60)
    }

    /// Every CPU's time since boot, in clock ticks (the first line of /proc/stat).
    private static func systemTicks() -> UInt64 {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8), let line = text.split(separator: "\n").first else { return 0 }
        return line.split(separator: " ").dropFirst().compactMap { UInt64($0) }.reduce(0, +)
    }

    private static func memoryTotal() -> UInt64 {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }),
              let kib = line.split(separator: " ").dropFirst().first.flatMap({ UInt64($0) }) else { return 0 }
        return kib * 1024
    }
}
