import ClusterState
import Crypto
import Platform
import Raft
import Transport

/// The joining side of `swarmctl join`: one TLS session to a manager on a transport of its own,
/// before the node exists (its id comes back in the answer).
///
/// It exists so the order that protects the token is in one place: the manager's certificate
/// chain must contain the root the token pins, and the manager's certificate must verify
/// against that root, BEFORE the secret is sent. A cluster with another CA (or a machine in the
/// middle) never sees it.
final class JoinClient: TransportDelegate, @unchecked Sendable {
    private let token: JoinToken
    private let request: JoinRequest
    private let managerAddress: SocketAddress
    private let box = ResultBox<Result<(JoinResponse, pinnedRoot: Certificate), NodeError>>()
    private var session: ConnectionID?
    private var pinnedRoot: Certificate?

    private init(token: JoinToken, request: JoinRequest, managerAddress: SocketAddress) {
        self.token = token
        self.request = request
        self.managerAddress = managerAddress
    }

    /// Runs the join and returns the manager's answer with the root the token pinned.
    static func join(manager: SocketAddress, token: JoinToken, request: JoinRequest, timeoutMillis: Int,
                     log: @escaping @Sendable (String) -> Void) throws -> (JoinResponse, pinnedRoot: Certificate) {
        let client = JoinClient(token: token, request: request, managerAddress: manager)
        let thread = try EventLoopThread(name: "swarmctl-join")
        defer { thread.shutdown() }
        let transport = Transport(loop: thread.loop, configuration: TransportConfiguration(clusterID: "", localNodeID: 0), logger: log)
        let context = try TLSContext(role: .client, identity: nil, trustedRoots: [], peerVerification: .none)
        try thread.loop.executeAndWait {
            transport.delegate = client
            client.session = try transport.openJoinSession(to: manager, context: context)
        }
        defer { _ = try? thread.loop.executeAndWait { transport.shutdown() } }
        guard let result = client.box.wait(timeoutMillis: timeoutMillis) else {
            throw NodeError("the manager at \(manager) did not answer the join within \(timeoutMillis / 1000)s: check the address and that it runs")
        }
        return try result.get()
    }

    func transport(_ transport: Transport, didReceive message: Message, from peer: PeerIdentity) {}

    func transport(_ transport: Transport, connectionEstablished connection: ConnectionInfo) {
        guard connection.id == session else { return }
        let chain = transport.peerCertificateChain(of: connection.id)
        switch Self.pin(chain, to: token, now: Clock.unixSeconds()) {
        case let .failure(error):
            box.set(.failure(error))
            transport.close(connection: connection.id, reason: "join refused before sending the token: \(error.message)")
        case let .success(root):
            pinnedRoot = root
            transport.reply(application: ApplicationFrame(.joinRequest, request), on: connection.id)
        }
    }

    func transport(_ transport: Transport, didReceive application: ApplicationFrame, on connection: ConnectionInfo) {
        guard connection.id == session, application.nodeKind == .joinResponse, let pinnedRoot,
              let response = application.decode(JoinResponse.self) else { return }
        box.set(.success((response, pinnedRoot)))
        transport.close(connection: connection.id, reason: "join answered")
    }

    func transport(_ transport: Transport, sessionFailed connection: ConnectionID, reason: String) {
        box.set(.failure(NodeError("cannot reach the manager at \(managerAddress): \(reason)")))
    }

    func transport(_ transport: Transport, connectionClosed connection: ConnectionInfo, reason: String) {
        box.set(.failure(NodeError("the manager at \(managerAddress) closed the join session: \(reason)")))
    }

    /// The root in `chain` that `token` pins, provided the chain's leaf verifies against it.
    static func pin(_ chain: [Certificate], to token: JoinToken, now: Int64) -> Result<Certificate, NodeError> {
        guard let leaf = chain.first else { return .failure(NodeError("the manager presented no certificate")) }
        guard let root = chain.first(where: { token.pins($0) && $0.isCertificateAuthority }) else {
            return .failure(NodeError("the manager's CA does not match the token's CA digest: the token is for another cluster, "
                + "or something is in the middle; get the token again with 'swarmctl join-token' on a manager"))
        }
        // Intermediates are the certificates that are not self-signed. Rotated roots share their
        // subject, so a cross-signed root has subject == issuer too: compare signatures, not names.
        let intermediates = chain.dropFirst().filter { (try? Certificate.verify($0, intermediates: [], roots: [$0], at: now)) == nil }
        do {
            try Certificate.verify(leaf, intermediates: Array(intermediates), roots: [root], at: now)
        } catch {
            return .failure(NodeError("the manager's certificate does not verify against the token's CA (\(error)): refusing to join"))
        }
        return .success(root)
    }
}
