import Dispatch
import Glibc
import Transport

// A node removed from the cluster (`node rm`, forced while it runs) stops itself: a manager
// tells it so on its way out (`NodeRemovedNotice`), and the node stops its tasks and exits with
// a message saying what happened and what to do, instead of retrying a refused connection forever.
extension SwarmNode {
    /// Manager side: sends the notice on node `nodeID`'s connection (flushed before the close).
    func noticeRemoval(of nodeID: String, on connection: ConnectionID) {
        _ = transport.reply(application: ApplicationFrame(.nodeRemoved, NodeRemovedNotice(nodeID: nodeID)), on: connection)
    }

    /// Node side: this node was removed. Its tasks stop (as after `leave`) and, when it runs as
    /// `swarmctl run|join|init`, the process exits (`onRemoved`).
    func stopAfterRemoval() {
        guard !hasLeft else { return }
        hasLeft = true
        wasRemoved = true
        logger.error("this node (\(identity.nodeID)) was removed from the swarm (swarmctl node rm): stopping its tasks and exiting; "
            + "to add this machine again, remove its data dir \(dataDirectory) and run 'swarmctl join' with a join token")
        guard let onRemoved else {
            // Embedded, or `run` has not set `onRemoved` yet (the notice came during start-up):
            // stop the tasks now; setting `onRemoved` later still ends the process.
            DispatchQueue.global().async { [agent, networkRunner] in
                agent?.stopAll()
                networkRunner?.shutdown()
            }
            return
        }
        _ = loop.schedule(afterMillis: 100) { onRemoved() }
    }
}
