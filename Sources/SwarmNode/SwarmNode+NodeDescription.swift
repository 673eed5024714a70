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

}
