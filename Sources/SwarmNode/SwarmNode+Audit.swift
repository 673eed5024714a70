import API
import ClusterState

// Audit: one log line per privileged action taken through this node's API (promote, demote,
// rm), naming the node that took it; joins, certificate reissues and token and CA rotations
// log theirs where they happen. The API's client identity is the local socket's (or, with TLS
// on the API, its client certificate's, which the API layer names).
extension SwarmNode {
    public func updateNode(id: String, version: ObjectVersion, spec: NodeSpec, at: Timestamp,
                           _ done: @escaping (Result<Void, APIError>) -> Void) {
        let before = state.nodes[id]?.spec.role
        propose(.updateNodeSpec(id: id, version: version, spec: spec, at: at)) { [self] result in
            if case .success = result, let before, before != spec.role {
                logger.info("audit: node \(id) \(spec.role == .manager ? "promoted to manager" : "demoted to worker") "
                    + "through the API of node \(identity.nodeID)")
            }
            done(result)
        }
    }

    public func removeNode(id: String, force: Bool, at: Timestamp, _ done: @escaping (Result<Void, APIError>) -> Void) {
        propose(.removeNode(id: id, force: force, at: at)) { [self] result in
            if case .success = result {
                logger.info("audit: node \(id) removed\(force ? " (forced)" : "") through the API of node \(identity.nodeID); "
                    + "its certificate is refused from now on")
                if let connection = nodeConnections[id] { noticeRemoval(of: id, on: connection) }
                transport.closeConnections(ofNode: id, reason: "node \(id) was removed from the cluster")
            }
            done(result)
        }
    }
}
