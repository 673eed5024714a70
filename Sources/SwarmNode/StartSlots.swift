import Foundation

/// How many containers this node's agent starts at once (`AgentCore.maxConcurrentStarts`).
///
/// It exists because a container start is mostly CPU (the runtime binary, namespaces, cgroups,
/// mounts): starting all 50 replicas of a service at once on 2 cores makes every start slow and
/// the first running late, and polls for 50 pid files at once; a few at a time keeps the cores
/// busy with the same total work. `SWARMCTL_MAX_CONCURRENT_STARTS=N` overrides the default (a
/// tuning knob for benchmarks; a value that is not a positive number is refused at start).
enum StartSlots {
    static let variable = "SWARMCTL_MAX_CONCURRENT_STARTS"

    /// Starts per core: one runs while the other waits for the runtime's children.
    static let perCore = 2

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
