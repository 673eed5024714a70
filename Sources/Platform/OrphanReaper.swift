import CPlatform
import Glibc

/// Adopts the orphans of this process's descendants and ends them on request.
///
/// It exists because a node killed with SIGKILL leaves its tasks' processes behind (each runs
/// in its own process group, on purpose). A supervisor that started the node — the end-to-end
/// test harness, `swarmctl dev` — becomes their reaper, and can then end exactly what its own
/// descendants left, by pid, and nothing else.
public enum OrphanReaper {
    /// Makes this process the reaper of its descendants' orphans (PR_SET_CHILD_SUBREAPER).
    public static func adoptOrphans() throws {
        guard cplatform_set_child_subreaper() == 0 else { throw SystemError("prctl", "PR_SET_CHILD_SUBREAPER") }
    }

    /// The pids whose parent is this process, read from /proc.
    public static func children() -> [pid_t] {
        let me = getpid()
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        var found: [pid_t] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let pid = pid_t(name), parent(of: pid) == me else { continue }
            found.append(pid)
        }
        return found.sorted()
    }

    /// SIGKILLs every child of this process not in `keep` (and its process group when it leads
    /// one), then reaps them. Returns how many it ended.
    @discardableResult
    public static func endAdoptedChildren(keep: Set<pid_t> = []) -> Int {
        let orphans = children().filter { !keep.contains($0) }
        for pid in orphans {
            if getpgid(pid) == pid { _ = kill(-pid, SIGKILL) }
            _ = kill(pid, SIGKILL)
        }
        for pid in orphans {
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
        }
        return orphans.count
    }

    /// The parent pid from /proc/PID/stat (the field after the parenthesised command name).
    static func parent(of pid: pid_t) -> pid_t? {
        guard let file = fopen("/proc/\(pid)/stat", "r") else { return nil }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 512)
        guard fgets(&buffer, Int32(buffer.count), file) != nil else { return nil }
        let line = String(cString: buffer)
        guard let close = line.lastIndex(of: ")") else { return nil }
        let fields = line[line.index(after: close)...].split(separator: " ")
        guard fields.count > 1 else { return nil }
        return pid_t(fields[1])
    }
}
