import ClusterState
import Crypto
import Platform
import Raft
import Transport

// This node's certificate over time: renewal at 50–80% of its life, reissue when the replicated
// role differs from the certificate's, following the trusted roots, and (on the leader) the
// root CA rotation. Managers sign for themselves with the root in the state; workers ask a
// manager over their authenticated link.
extension SwarmNode {
    /// How long a certificate request may stay unanswered before it is sent again.
    static let certificateRequestTimeoutMillis: UInt64 = 10_000

    /// Once per dispatcher period: rotate the root (leader), follow the roots, renew if due.
    func certificateRound() {
        guard !isStopped else { return }
        if raft?.role == .leader { reconcileCARotation() }
        if let ca = state.secrets?.ca, raft != nil { followTrustedRoots(ca.trustedRootsPEM) }
        if let pending = pendingCertificate, pending.deadline < Clock.monotonicMillis() { pendingCertificate = nil }
        guard pendingCertificate == nil, let reason = renewalReason() else { return }
        requestCertificate(reason: reason)
    }

    /// Why this node needs a new certificate now, or nil.
    func renewalReason() -> String? {
        if let wanted = desiredRole(), wanted != certificates.role {
            return "the cluster made this node a \(wanted.rawValue)"
        }
        if let signing = certificates.roots.last, (try? Certificate.verify(certificates.leaf, intermediates: [], roots: [signing],
                                                                              at: Clock.unixSeconds())) == nil {
            return "the cluster CA is rotating to a new root"
        }
        if Clock.unixSeconds() >= certificateRenewalTime { return "the certificate reached its renewal time" }
        return nil
    }

    /// The role the replicated state gives this node (managers read it; workers heard it in a
    /// heartbeat answer). A manager being demoted keeps its manager certificate until it has
    /// left the Raft membership: its votes are needed to commit that very change.
    private func desiredRole() -> NodeRole? {
        if raft != nil {
            guard state.cluster != nil, let role = state.nodes[identity.nodeID]?.spec.role else { return .manager }
            return role == .worker ? .manager : role
        }
        return identity.role
    }

    private func requestCertificate(reason: String) {
        let key: PrivateKey
        let csr: CertificateSigningRequest
        do {
            key = try PrivateKey.generateP256()
            csr = try CertificateSigningRequest(key: key, subject: CertificateSubject(commonName: identity.nodeID))
        } catch {
            return logger.error("cannot create a certificate request: \(error)")
        }
        if raft != nil, let ca = state.secrets?.ca, let node = state.nodes[identity.nodeID] {
            do {
                let issued = try ClusterSigner.issue(csr: csr, nodeID: identity.nodeID, role: node.spec.role, clusterID: identity.clusterID,
                                                     ca: ca, validitySeconds: ClusterSigner.nodeValiditySeconds(state.cluster?.spec),
                                                     now: Clock.unixSeconds(), addresses: [node.status.addr, identity.advertiseAddress])
                install(NodeCertificates(key: key, chain: issued.chain, roots: issued.roots), reason: reason)
            } catch {
                logger.error("cannot sign this manager's own certificate: \(error)")
            }
            return
        }
        let target = knownLeader != noNode ? knownLeader : identity.managerAddresses.keys.sorted().first ?? noNode
        guard target != noNode, target != identity.transportID else { return }
        pendingCertificate = (key, Clock.monotonicMillis() + Self.certificateRequestTimeoutMillis)
        logger.info("requesting a new certificate from manager \(target): \(reason)")
        transport.send(application: ApplicationFrame(.certificateRequest, CertificateRequest(csrPEM: csr.pem)), to: target)
    }

    /// Manager: signs a member's CSR with the node id its certificate names and the role the
    /// state gives it (never what the request asks).
    func serveCertificateRequest(_ request: CertificateRequest, on connection: ConnectionInfo) {
        guard let peer = connection.peer else { return }
        func answer(_ response: CertificateResponse) {
            transport.reply(application: ApplicationFrame(.certificateResponse, response), on: connection.id)
        }
        guard let ca = state.secrets?.ca, let node = state.nodes[peer.nodeID] else {
            return answer(CertificateResponse(reason: "node \(peer.nodeID) is not in this manager's state"))
        }
        do {
            let csr = try CertificateSigningRequest(pem: request.csrPEM)
            let issued = try ClusterSigner.issue(csr: csr, nodeID: peer.nodeID, role: node.spec.role, clusterID: identity.clusterID, ca: ca,
                                                 validitySeconds: ClusterSigner.nodeValiditySeconds(state.cluster?.spec),
                                                 now: Clock.unixSeconds(), addresses: [node.status.addr])
            let previous = peer.role == .manager ? NodeRole.manager : .worker
            if previous != node.spec.role {
                logger.info("audit: certificate of node \(peer.nodeID) reissued as \(node.spec.role.rawValue) (was \(previous.rawValue)) "
                    + "by node \(identity.nodeID)")
            }
            answer(CertificateResponse(certificateChainPEM: issued.chain.map(\.pem).joined(), rootsPEM: issued.roots.map(\.pem).joined()))
        } catch {
            answer(CertificateResponse(reason: "cannot sign: \(error)"))
        }
    }

    /// Worker: a manager answered our certificate request.
    func receiveCertificate(_ response: CertificateResponse) {
        guard let pending = pendingCertificate else { return }
        pendingCertificate = nil
        guard let chainPEM = response.certificateChainPEM, let rootsPEM = response.rootsPEM else {
            return logger.warn("certificate request refused: \(response.reason ?? "no reason given")")
        }
        do {
            let chain = try Certificate.parseChain(pem: chainPEM)
            let roots = try Certificate.parseChain(pem: rootsPEM)
            guard let leaf = chain.first, leaf.subject.commonName == identity.nodeID, leaf.subject.organization == identity.clusterID else {
                return logger.warn("certificate answer names another node; ignored")
            }
            try Certificate.verify(leaf, intermediates: Array(chain.dropFirst()), roots: roots, at: Clock.unixSeconds())
            install(NodeCertificates(key: pending.key, chain: chain, roots: roots), reason: "renewed")
        } catch {
            logger.warn("certificate answer unusable: \(error)")
        }
    }

    /// Saves and starts using new certificates for new connections; links reconnect so peers
    /// see the new certificate (its role, its root) at once.
    func install(_ new: NodeCertificates, reason: String) {
        do {
            let tls = try new.transportTLS()
            try new.save(to: dataDirectory, sealingKey: tlsSealingKey)
            // A new leaf (role, root, or plain renewal) is shown to peers at once; new roots alone
            // only matter for connections still to come.
            let reconnect = new.leaf != certificates.leaf
            certificates = new
            certificateRenewalTime = new.renewalTime()
            transport.tls = tls
            reloadAPITLS()
            logger.info("certificate installed (\(reason)): \(new.role?.rawValue ?? "?"), serial \(new.leaf.serialNumber), "
                + "valid until \(new.leaf.notAfter)")
            if reconnect {
                // Our own reconnects are not a sign that the leader is gone.
                reconnectingForCertificate = true
                transport.reconnectLinks(reason: "this node's certificate changed")
                reconnectingForCertificate = false
            }
        } catch {
            logger.error("cannot install the new certificate: \(error)")
        }
    }

    /// Trusts exactly `rootsPEM` (the state's, or the last heartbeat answer's) from now on.
    func followTrustedRoots(_ rootsPEM: [String]) {
        guard let roots = try? rootsPEM.map(Certificate.init(pem:)), !roots.isEmpty, roots != certificates.roots else { return }
        var updated = certificates
        updated.roots = roots
        // During a rotation our chain still needs the cross-signed root to reach the old one.
        install(updated, reason: "trusted roots changed")
    }

    /// Called for every heartbeat answer before the dispatcher acts on it.
    func noteHeartbeatResponse(_ response: HeartbeatResponse) {
        if raft == nil, let roots = response.trustedRootsPEM { followTrustedRoots(roots) }
    }

    /// Leader, per heartbeat: remember which nodes already hold a certificate from the new root.
    func noteCertificate(of connection: ConnectionInfo) {
        guard raft?.role == .leader, let rotation = state.secrets?.ca?.rotation, let peer = connection.peer,
              let leaf = transport.peerCertificateChain(of: connection.id).first,
              let newRoot = try? Certificate(pem: rotation.newRootCertificatePEM) else { return }
        if (try? Certificate.verify(leaf, intermediates: [], roots: [newRoot], at: Clock.unixSeconds())) != nil {
            nodesOnNewRoot.insert(peer.nodeID)
        }
    }

    /// Leader: starts a rotation when `CAConfig.ForceRotate` went up, and finishes it once every
    /// live node holds a certificate from the new root (the join tokens then pin the new root).
    func reconcileCARotation() {
        guard let ca = state.secrets?.ca, let cluster = state.cluster, let secrets = state.secrets, !caRotationProposed else { return }
        let wanted = cluster.spec.caConfig?.forceRotate ?? 0
        if wanted > ca.forceRotate {
            return startCARotation(ca, clusterID: cluster.id, forceRotate: wanted)
        }
        guard let rotation = ca.rotation, let newRoot = try? Certificate(pem: rotation.newRootCertificatePEM) else { return }
        if (try? Certificate.verify(certificates.leaf, intermediates: [], roots: [newRoot], at: Clock.unixSeconds())) != nil {
            nodesOnNewRoot.insert(identity.nodeID)
        }
        let waiting = state.sortedNodes.filter { $0.status.state != .down && !nodesOnNewRoot.contains($0.id) }
        guard waiting.isEmpty else { return }
        let tokens = JoinTokens(worker: JoinToken(root: newRoot, secret: secrets.workerSecret).description,
                                manager: JoinToken(root: newRoot, secret: secrets.managerSecret).description)
        caRotationProposed = true
        proposeCommand(.finishCARotation(rootCertificatePEM: rotation.newRootCertificatePEM, tokens: tokens, at: Clock.now())) { [self] result in
            caRotationProposed = false
            if case .success = result {
                nodesOnNewRoot = []
                logger.info("audit: CA rotation finished by node \(identity.nodeID): new root digest \(JoinToken.digest(of: newRoot)); "
                    + "the join tokens now pin it")
            }
        }
    }

    private func startCARotation(_ ca: ClusterCA, clusterID: String, forceRotate: UInt64) {
        let rotation: CARotation
        do {
            let now = Clock.unixSeconds()
            let current = try CertificateAuthority(certificate: Certificate(pem: ca.rootCertificatePEM), key: PrivateKey(pem: ca.rootKeyPEM))
            let next = try ClusterSigner.createRoot(clusterID: clusterID, now: now)
            let crossSigned = try current.crossSign(next.certificate, validitySeconds: ClusterSigner.rootValiditySeconds, now: now)
            rotation = CARotation(newRootCertificatePEM: next.certificate.pem, newRootKeyPEM: next.key.pem,
                                  crossSignedCertificatePEM: crossSigned.pem)
        } catch {
            return logger.error("cannot create the new root CA: \(error)")
        }
        caRotationProposed = true
        nodesOnNewRoot = []
        proposeCommand(.startCARotation(rotation: rotation, forceRotate: forceRotate, at: Clock.now())) { [self] result in
            caRotationProposed = false
            if case .success = result {
                logger.info("audit: CA rotation started by node \(identity.nodeID) (ForceRotate \(forceRotate)): nodes now renew onto the new root")
            }
        }
    }
}
