import ClusterState
import Crypto
import Foundation
import Glibc
import Platform
import Raft
import Transport

/// What `swarmctl init` prints.
public struct InitResult: Sendable {
    public var nodeID: String
    public var workerToken: String
    public var managerToken: String
    public var advertiseAddress: String
}

// Creating a node: `init` (a new cluster), `join` (an existing one) and `run` (restart).
extension SwarmNode {
    public static func initialize(_ configuration: NodeConfiguration) throws -> (SwarmNode, InitResult) {
        let (dataDirectory, listen, advertise) = try requireAddresses(configuration)
        try requireFreshDataDirectory(dataDirectory)
        let fingerprint = try RandomID.base36(count: 50)
        let workerSecret = try RandomID.base36(count: 25)
        let managerSecret = try RandomID.base36(count: 25)
        let identity = NodeIdentity(
            nodeID: try RandomID.objectID(), transportID: try RandomID.transportID(), clusterFingerprint: fingerprint,
            credentialHex: Crypto.hex(try Crypto.randomBytes(32)), role: .manager, listenAddress: listen,
            advertiseAddress: advertise, apiAddress: configuration.apiAddress ?? "", managerAddresses: [:])
        try FileSystem.makeDirectories(dataDirectory, mode: 0o700)
        let node = try SwarmNode(configuration: configuration, dataDirectory: dataDirectory, identity: identity)
        try node.startTransport()
        try node.startRole(bootstrap: .bootstrap(voters: [identity.transportID]))
        try node.waitForLeadership(timeoutMillis: 10_000)
        try node.startAPI()
        let tokens = JoinTokens(worker: JoinToken(fingerprint: fingerprint, secret: workerSecret).description,
                                manager: JoinToken(fingerprint: fingerprint, secret: managerSecret).description)
        let command = try initialCommand(identity, configuration, tokens, workerSecret, managerSecret)
        let result = node.await(timeoutMillis: 10_000) { node, done in node.proposeCommand(command) { done($0) } }
        guard case .success? = result else {
            node.stop()
            throw NodeError("could not initialize the cluster: \(result.map { "\($0)" } ?? "timed out")")
        }
        var saved = identity
        saved.managerAddresses = [identity.transportID: advertise]
        let final = saved
        try node.onLoop { node in
            node.identity = final
            try final.save(to: dataDirectory)
        }
        return (node, InitResult(nodeID: identity.nodeID, workerToken: tokens.worker, managerToken: tokens.manager,
                                 advertiseAddress: advertise))
    }

    private static func initialCommand(_ identity: NodeIdentity, _ configuration: NodeConfiguration, _ tokens: JoinTokens,
                                       _ workerSecret: String, _ managerSecret: String) throws -> ClusterCommand {
        let now = Clock.now()
        var spec = ClusterSpec()
        spec.orchestration.taskHistoryRetentionLimit = Int64(configuration.taskHistoryLimit)
        spec.raft.snapshotInterval = configuration.snapshotEvery
        spec.raft.logEntriesForSlowFollowers = configuration.snapshotRetainEntries
        spec.raft.electionTick = configuration.electionTicks
        spec.raft.heartbeatTick = configuration.heartbeatTicks
        spec.dispatcher.heartbeatPeriod = Int64(configuration.dispatcherHeartbeatMillis) * 1_000_000
        let cluster = Cluster(id: try RandomID.objectID(), version: ObjectVersion(index: 0), createdAt: now, spec: spec, joinTokens: tokens)
        let node = Node(id: identity.nodeID, version: ObjectVersion(index: 0), createdAt: now, spec: NodeSpec(role: .manager),
                        description: LocalMachine.description(), status: NodeStatus(state: .ready, addr: identity.advertiseAddress),
                        managerStatus: ManagerStatus(raftID: identity.transportID, addr: identity.advertiseAddress))
        let secrets = ClusterSecrets(workerSecret: workerSecret, managerSecret: managerSecret, members: [
            String(identity.transportID): MemberCredential(nodeID: identity.nodeID, credential: identity.credential),
        ])
        return .initialize(cluster: cluster, firstNode: node, secrets: secrets)
    }

    public static func join(_ configuration: NodeConfiguration, token text: String, manager: String) throws -> SwarmNode {
        let (dataDirectory, listen, advertise) = try requireAddresses(configuration)
        guard let token = JoinToken(parsing: text) else {
            throw NodeError("invalid join token: expected SWMTKN-1-<fingerprint>-<secret>, as printed by 'swarmctl join-token'")
        }
        let managerAddress = try SocketAddress(parsing: manager)
        try requireFreshDataDirectory(dataDirectory)
        try FileSystem.makeDirectories(dataDirectory, mode: 0o700)
        var identity = NodeIdentity(
            nodeID: try RandomID.objectID(), transportID: try RandomID.transportID(), clusterFingerprint: token.fingerprint,
            credentialHex: Crypto.hex(try Crypto.randomBytes(32)), role: .worker, listenAddress: listen,
            advertiseAddress: advertise, apiAddress: configuration.apiAddress ?? "", managerAddresses: [:])
        let node = try SwarmNode(configuration: configuration, dataDirectory: dataDirectory, identity: identity)
        try node.startTransport()
        var lastReason = "no answer"
        for role in [NodeRole.worker, .manager] {
            let request = JoinRequest(nodeID: identity.nodeID, transportID: identity.transportID, credentialHex: identity.credentialHex,
                                      role: role, advertiseAddress: advertise, description: LocalMachine.description())
            let purpose: HandshakePurpose = role == .manager ? .joinManager : .joinWorker
            let outcome = node.await(timeoutMillis: 15_000) { node, done in
                node.startJoinSession(to: managerAddress, purpose: purpose, key: token.handshakeKey, request: request, done)
            } ?? .failure(NodeError("the manager at \(manager) did not answer the join within 15s"))
            switch outcome {
            case let .success(response) where response.accepted:
                identity.role = role
                identity.managerAddresses = response.managerAddresses
                identity.peerCredentials = response.managerCredentials
                let joined = identity
                try node.onLoop { node in
                    node.identity = joined
                    try joined.save(to: dataDirectory)
                }
                try node.startRole()
                try node.startAPI()
                return node
            case let .success(response):
                node.stop()
                throw NodeError("the manager refused the join: \(response.reason ?? "no reason given")")
            case let .failure(error):
                lastReason = error.message
            }
        }
        node.stop()
        throw NodeError("could not join through \(manager): \(lastReason)")
    }

    public static func run(_ configuration: NodeConfiguration) throws -> SwarmNode {
        guard let dataDirectory = configuration.dataDirectory else {
            throw NodeError("--data-dir is required: the directory 'swarmctl init' or 'swarmctl join' created")
        }
        var identity = try NodeIdentity.load(from: dataDirectory)
        if let listen = configuration.listenAddress { identity.listenAddress = listen }
        if let api = configuration.apiAddress { identity.apiAddress = api }
        if !identity.apiAddress.isEmpty {
            _ = try APIListenerSecurity.resolve(apiAddress: identity.apiAddress, configuration: configuration, dataDirectory: dataDirectory)
        }
        let node = try SwarmNode(configuration: configuration, dataDirectory: dataDirectory, identity: identity)
        try node.startTransport()
        try node.startRole()
        try node.startAPI()
        return node
    }

    private static func requireAddresses(_ configuration: NodeConfiguration) throws -> (String, String, String) {
        guard let dataDirectory = configuration.dataDirectory else { throw NodeError("--data-dir is required") }
        guard let listen = configuration.listenAddress else { throw NodeError("--listen-addr HOST:PORT is required") }
        try APIListenerSecurity.check(configuration, dataDirectory: dataDirectory)
        let advertise = configuration.advertiseAddress ?? listen
        if advertise.hasPrefix("0.0.0.0") {
            throw NodeError("--advertise-addr is required when listening on 0.0.0.0: give the address other nodes dial")
        }
        return (dataDirectory, listen, advertise)
    }

    private static func requireFreshDataDirectory(_ dataDirectory: String) throws {
        if FileSystem.exists(NodeIdentity.path(in: dataDirectory)) {
            throw NodeError("\(dataDirectory) already holds a node: restart it with 'swarmctl run --data-dir \(dataDirectory)', or use another --data-dir")
        }
    }

    func waitForLeadership(timeoutMillis: Int) throws {
        let deadline = Clock.monotonicMillis() + UInt64(timeoutMillis)
        while Clock.monotonicMillis() < deadline {
            if try onLoop({ $0.raft?.role == .leader }) { return }
            usleep(20_000)
        }
        throw NodeError("this node did not become leader within \(timeoutMillis / 1000)s")
    }

    /// Joiner side: opens the token-authenticated session and sends the request once it is up.
    func startJoinSession(to address: SocketAddress, purpose: HandshakePurpose, key: [UInt8], request: JoinRequest,
                          _ done: @escaping @Sendable (Result<JoinResponse, NodeError>) -> Void) {
        do {
            let connection = try transport.openSession(to: address, purpose: purpose, key: key)
            pendingJoin = (connection, request, done)
        } catch {
            done(.failure(NodeError("cannot reach the manager at \(address): \(error)")))
        }
    }
}

/// What this machine is, for the node description.
enum LocalMachine {
    static func description() -> NodeDescription {
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count)
        let hostname = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let cpus = Int64(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let memory = Int64(sysconf(Int32(_SC_PHYS_PAGES))) * Int64(sysconf(Int32(_SC_PAGESIZE)))
        return NodeDescription(hostname: hostname, platform: .init(architecture: "x86_64", os: "linux"),
                               resources: .init(nanoCPUs: cpus * 1_000_000_000, memoryBytes: memory),
                               engine: .init(engineVersion: "swarmctl"))
    }
}
