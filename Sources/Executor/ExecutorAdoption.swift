/// What a restarted node found of a container a previous run started.
public enum Adoption: Sendable, Equatable {
    /// Still running, re-attached (logs, exit, health check).
    case running(pid: Int32?)
    /// It ended while the node was down, with this status.
    case exited(ExitStatus)
    /// Nothing of it runs and its end is unknown (its shim was killed, or the machine rebooted).
    case gone
}

/// Defaults for executors whose containers do not outlive the node process (test and simulator
/// fakes; both real backends run their tasks under a `TaskShim` and override these): nothing can
/// be re-adopted, so a restarted node ends what the previous run left.
extension Executor {
    public var canAdopt: Bool { false }

    public func adopt(_ id: ContainerID, spec: TaskSpec, onExit: @escaping @Sendable (ExitStatus) -> Void) throws -> Adoption {
        .gone
    }

    public func removeLeftovers(keeping: Set<ContainerID>) throws -> [String] { [] }
}
