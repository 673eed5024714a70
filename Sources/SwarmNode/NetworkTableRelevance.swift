import ClusterState

/// Which applied commands can change a network table (issue 16's stream) — so the leader
/// rebuilds the tables only after those.
///
/// It exists because the tables are built from the whole state (every service with a VIP, every
/// task holding addresses, every node's addresses): rebuilding them after every applied batch
/// made each write cost a walk over all services, and write throughput fell run after run as
/// services accumulated (issue 15: 1,190 → 498 writes/s over three runs). A table holds
/// services with VIPs (and their ports, aliases, names), tasks with addresses, networks and the
/// nodes' addresses; commands that touch none of these leave every table as it was.
enum NetworkTableRelevance {
    /// Whether `command`, just applied to give `state`, may have changed a table. Errs towards
    /// true: a false negative would leave a node with a stale table until the next change.
    static func mayChange(_ command: ClusterCommand, appliedTo state: ClusterState) -> Bool {
        switch command {
        case let .createService(service):
            // A new service enters a table only through a VIP (its tasks come later, in their
            // own commands); without one, or if the create was refused, nothing changed.
            guard let created = state.services[service.id], let endpoint = created.endpoint else { return false }
            return !endpoint.virtualIPs.isEmpty || !endpoint.ports.isEmpty
        case .createPayload, .updatePayloadLabels, .removePayload, .updateClusterSpec, .setAutoLock, .rotateJoinToken,
             .startCARotation, .finishCARotation, .setServiceUpdateStatus, .setManagerStatus, .setNodeDescription:
            return false
        default:
            return true
        }
    }
}
