/// Defaults for executors whose containers do not outlive the node process (the process
/// backend): nothing can be re-adopted, so a restarted node ends what the previous run left.
extension Executor {
    public var canAdopt: Bool { false }

    public func adopt(_ id: ContainerID, spec: TaskSpec, onExit: @escaping @Sendable (ExitStatus) -> Void) throws -> Adoption {
        .gone
    }

    public func removeLeftovers(keeping: Set<ContainerID>) throws -> [String] { [] }
}
