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
        return ProcessTable.allPIDs().filter { ProcessTable.parent(of: $0) == me }
    }

    /// SIGKILLs every child of this process not in `keep` (and its process group when it leads
    /// one), then reaps them. Returns how many it ended.
    @discardableResult
    public static func endAdoptedChildren(keep: Set<pid_t> = []) -> Int {
        let orphans = children().filter { !keep.contains($0) }
        for pid in orphans { ProcessTable.kill(processGroupOf: pid) }
        for pid in orphans {
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
        }
        return orphans.count
    }
}
