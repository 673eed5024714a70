import API
import ClusterState

// Docker events: every applied command's node, service and task-container changes go into
// this manager's bounded history (the same on every manager, since they apply the same log).
extension SwarmNode {
    /// `state.apply`, recording the events the command made when it succeeded.
    func applyRecordingEvents(_ command: ClusterCommand, index: UInt64) -> Result<Void, ClusterError> {
        let prelude = eventDeriver.prelude(command, in: state)
        let result = state.apply(command, index: index)
        if case .success = result {
            keptEvents.record(eventDeriver.events(prelude, after: state, fallback: Clock.now()))
        }
        return result
    }

    /// A manager's events; a worker's history stays empty (it applies no commands), so `docker
    /// events` and `docker stats` against a worker stream without failing.
    public var eventHistory: EventHistory? { keptEvents }
}
