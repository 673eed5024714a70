import ClusterState
import Platform

// A node tells the managers what it is and can do in its heartbeat (as Docker's agent does in
// its session), so the scheduler knows which nodes run task networking: a node that cannot
// (the process executor, not root, no ip/bridge/nft) is not offered tasks with network
// attachments instead of rejecting each one.
extension SwarmNode {
    /// This machine's description with its engine plugins: the overlay network plugin when its
    /// task networking runs. nil until the agent started (what networking can do is known then).
    var reportedDescription: NodeDescription? {
        guard let networkRunner else { return nil }
        var description = LocalMachine.description()
        description.engine.plugins = networkRunner.unavailable == nil ? [.overlayNetwork] : []
        return description
    }

    /// On the leader: proposes `reported` as node `nodeID`'s description when it differs from the
    /// state's (one proposal per node at a time; a failed one is retried at the next heartbeat).
    func recordReportedDescription(_ reported: NodeDescription?, of nodeID: String) {
        guard let reported, raft?.role == .leader, let node = state.nodes[nodeID], node.description != reported,
              !descriptionProposals.contains(nodeID) else { return }
        descriptionProposals.insert(nodeID)
        if node.runsTaskNetworking != reported.runsTaskNetworking {
            logger.info("node \(nodeID.prefix(12)) \(reported.runsTaskNetworking ? "runs" : "runs no") task networking: "
                + (reported.runsTaskNetworking ? "tasks with network attachments may go there" : "no task with network attachments goes there"))
        }
        proposeCommand(.setNodeDescription(id: nodeID, description: reported, at: Clock.now())) { [self] _ in
            descriptionProposals.remove(nodeID)
        }
    }
}
