import Glibc
import Platform

/// `DATA/containers/ID/task.pid`: the process backend's record of the leader of a task's process
/// group (its shim, `TaskShim`), its pid and start time, so what a node that died left running can be found and ended later (by the
/// restarted agent, or `swarmctl testbed down`) without marking the task's environment and without
/// ever touching a process that merely reuses the pid.
public enum TaskProcessRecord {
    static let fileName = "task.pid"

    /// Writes the record of `pid` into a container's directory.
    static func write(pid: pid_t, directory: String, name: String = fileName) throws {
        guard let started = ProcessTable.startTime(of: pid) else { return }
        let file = try File.open("\(directory)/\(name)", flags: O_WRONLY | O_CREAT | O_TRUNC)
        try file.write(Array("\(pid) \(started)\n".utf8), at: 0)
    }

    /// The pid in a record whose process is still the one recorded (same pid, same start time).
    static func livePID(directory: String, name: String = fileName) -> pid_t? {
        guard let (pid, started) = recorded(directory: directory, name: name), ProcessTable.startTime(of: pid) == started else { return nil }
        return pid
    }

    /// The pid and start time a record holds, whether or not that process still runs.
    static func recorded(directory: String, name: String = fileName) -> (pid: pid_t, started: UInt64)? {
        guard let bytes = try? File.openForReading("\(directory)/\(name)").readAll() else { return nil }
        let fields = String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count == 2, let pid = pid_t(fields[0]), pid > 0, let started = UInt64(fields[1]) else { return nil }
        return (pid, started)
    }

    /// The shims (process group leaders) of tasks the process backend started under `nodeDirectory` that still run.
    public static func livePIDs(nodeDirectory: String) -> [pid_t] {
        let containers = nodeDirectory + "/containers"
        return ((try? FileSystem.list(containers)) ?? []).compactMap { livePID(directory: "\(containers)/\($0)") }
    }

    /// Whether `pid` is the shim of a task the process backend started under `nodeDirectory`.
    public static func isTask(_ pid: pid_t, nodeDirectory: String) -> Bool {
        livePIDs(nodeDirectory: nodeDirectory).contains(pid)
    }

    /// Kills every recorded task process still running under `nodeDirectory`, with its process group.
    public static func endAll(nodeDirectory: String) {
        for pid in livePIDs(nodeDirectory: nodeDirectory) { ProcessTable.kill(processGroupOf: pid) }
    }
}
