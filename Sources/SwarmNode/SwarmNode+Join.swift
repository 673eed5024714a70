import ClusterState
import Crypto
import Foundation
import Platform
import Raft
import Transport

// Joining, the manager's side: a node without a certificate presents a join secret and a CSR;
// the manager picks the role from the secret, assigns the ids, records the node and signs.
extension SwarmNode {
    func handleJoin(_ request: JoinRequest, on connection: ConnectionInfo) {
        guard raft != nil, let secrets = state.secrets, let ca = secrets.ca, let cluster = state.cluster else {
            return refuseJoin(on: connection, "this manager has no cluster state yet; try another manager")
        }
        let secret = Array(request.secret.utf8)
        // Both comparisons always run, in constant time, whichever matches.
        let isWorker = Crypto.constantTimeEqual(secret, Array(secrets.workerSecret.utf8))
        let isManager = Crypto.constantTimeEqual(secret, Array(secrets.managerSecret.utf8))
        guard isWorker || isManager else { return refuseJoin(on: connection, "invalid join token: it may have been rotated") }
        let role: NodeRole = isManager ? .manager : .worker
        let csr: CertificateSigningRequest
        do {
            csr = try CertificateSigningRequest(pem: request.csrPEM)
        } catch {
            return refuseJoin(on: connection, "the certificate signing request is invalid (\(error))")
        }
        guard let nodeID = freshNodeID() else { return refuseJoin(on: connection, "could not pick a node id; retry") }
        let transportID = PeerIdentity.transportID(forNodeID: nodeID)
        let now = Clock.now()
        let status = NodeStatus(state: .unknown, addr: request.advertiseAddress)
        let managerStatus = role == .manager ? ManagerStatus(raftID: transportID, addr: request.advertiseAddress) : nil
        let node = Node(id: nodeID, version: ObjectVersion(index: 0), createdAt: now, spec: NodeSpec(role: role),
                        description: request.description, status: status, managerStatus: managerStatus)
        proposeCommand(.addNode(node: node, transportID: transportID)) { [self] result in
            if case let .failure(failure) = result { return refuseJoin(on: connection, failure.description) }
            let issued: (chain: [Certificate], roots: [Certificate])
            do {
                issued = try ClusterSigner.issue(csr: csr, nodeID: nodeID, role: role, clusterID: cluster.id, ca: state.secrets?.ca ?? ca,
                                                 validitySeconds: ClusterSigner.nodeValiditySeconds(state.cluster?.spec),
                                                 now: Clock.unixSeconds())
            } catch {
                return refuseJoin(on: connection, "signing the node's certificate failed: \(error)")
            }
            logger.info("audit: join: node \(nodeID) admitted as \(role.rawValue) from \(request.advertiseAddress) by node \(identity.nodeID)")
            let response = JoinResponse(accepted: true, reason: nil, nodeID: nodeID, clusterID: cluster.id, role: role,
                                        certificateChainPEM: issued.chain.map(\.pem).joined(), rootsPEM: issued.roots.map(\.pem).joined(),
                                        managerAddresses: managerAddresses())
            transport.reply(application: ApplicationFrame(.joinResponse, response), on: connection.id)
        }
    }

    /// A node id no node, removed node or transport identity of this cluster uses.
    private func freshNodeID() -> String? {
        for _ in 0..<8 {
            guard let candidate = try? RandomID.objectID() else { return nil }
            let transportID = PeerIdentity.transportID(forNodeID: candidate)
            if state.nodes[candidate] == nil, !state.isDenied(nodeID: candidate), state.member(transportID: transportID) == nil,
               transportID != identity.transportID {
                return candidate
            }
        }
        return nil
    }

    private func refuseJoin(on connection: ConnectionInfo, _ reason: String) {
        logger.warn("audit: join refused: \(reason)")
        let response = JoinResponse(accepted: false, reason: reason)
        transport.reply(application: ApplicationFrame(.joinResponse, response), on: connection.id)
    }

    func managerAddresses() -> [UInt64: String] {
        var addresses: [UInt64: String] = [:]
        for manager in state.managers { if let status = manager.managerStatus { addresses[status.raftID] = status.addr } }
        return addresses
    }
}
