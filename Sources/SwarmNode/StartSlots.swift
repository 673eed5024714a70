import Foundation

/// How many containers this node's agent starts at once (`AgentCore.maxConcurrentStarts`).
///
/// It exists because a container start is mostly the runtime's CPU (runc and its init: 80% of
/// the CPU of a 50-replica converge here, a quarter of that libseccomp compiling the seccomp filter): a
/// service of 500 replicas must not fork 500 runtimes at once. The bound is generous on purpose:
/// on the shared 2-core VM (load 6–40 from other work) 50 replicas converged with runc in 3.05 s
/// with a bound of 4, 2.53 s with 16, 2.83 s unbounded; with crun in 2.13 s with 8, 1.94 s with
/// 16, 1.51 s with 32, 1.67 s unbounded (medians of 3, interleaved): a runtime also waits (forks,
/// mounts, its init's handshake), and a tight bound leaves the cores to other processes then.
/// `SWARMCTL_MAX_CONCURRENT_STARTS=N` overrides it (a tuning knob for benchmarks; a value that
/// is not a positive number stops the node at start).
enum StartSlots {
    static let variable = "SWARMCTL_MAX_CONCURRENT_STARTS"

    /// Starts per core.
    static let perCore = 16

    /// The bound for this machine, or the environment's; throws `NodeError` for a bad value.
    static func count(environment: [String: String] = ProcessInfo.processInfo.environment,
                      cores: Int = ProcessInfo.processInfo.activeProcessorCount) throws -> Int {
        guard let text = environment[variable] else { return max(2, perCore * cores) }
        guard let value = Int(text), value > 0 else {
            throw NodeError("\(variable)=\(text) is not a positive number of concurrent container starts: set e.g. 4, or unset it")
        }
        return value
    }
}
