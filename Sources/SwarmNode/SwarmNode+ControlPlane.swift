import API
import ClusterState
import Crypto
import Glibc
import Platform
import Raft

// The node's Docker-compatible API: served through `NodeAPIAdapter` (the `ControlPlane`), on
// the loop.
extension SwarmNode {
    /// Proposes `command` with the API's errors (the API's writes, and its audited node changes).
    func propose(_ command: ClusterCommand, _ done: @escaping (Result<Void, APIError>) -> Void) {
        proposeCommand(command) { result in done(result.mapError(APIError.init)) }
    }

    /// Whether this node votes in its applied Raft membership (a joining manager is a learner
    /// until it has caught up). Call on the loop (`onLoop`).
    public var isRaftVoter: Bool {
        raft.map { $0.confState.voters.contains(identity.transportID) } ?? false
    }

    /// Serves the API on `identity.apiAddress` (unix socket or TCP), on the loop.
    func startAPI() throws {
        guard !identity.apiAddress.isEmpty else { return }
        try loop.executeAndWait { [self] in
            let address = try SocketAddress(parsing: identity.apiAddress)
            let kernel = LocalMachine.kernelVersion()
            let adapter = NodeAPIAdapter(node: self)
            let docker = DockerAPI(controlPlane: adapter,
                                   identity: ServerIdentity(version: "0.1.0", arch: "amd64", kernelVersion: kernel),
                                   now: { Clock.now() })
            var serverConfiguration = HTTPServerConfiguration()
            serverConfiguration.log = { [logger] in logger.debug("api: \($0)") }
            try applyAPISecurity(to: &serverConfiguration)
            adapter.server = try HTTPServer(loop: loop, address: address, configuration: serverConfiguration) { request, responder in
                docker.handle(request, responder)
            }
            api = adapter
            logger.info("API listening on \(identity.apiAddress)")
        }
    }
}

extension APIError {
    init(_ failure: RequestFailure) {
        switch failure {
        case let .rejected(error): self.init(error)
        case let .noQuorum(detail):
            self.init(status: 503, "no quorum: \(detail). The swarm does not have a leader: make sure more than half of the managers are online")
        case .notManager: self = .notManager
        case let .failed(message): self.init(status: 500, message)
        }
    }
}

extension LocalMachine {
    static func kernelVersion() -> String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: &name.release) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
