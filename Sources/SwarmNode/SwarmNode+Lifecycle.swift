import ClusterState
import Crypto
import Foundation
import Glibc
import Platform
import Raft
import Storage
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
    public static func initialize(_ configuration: NodeConfiguration, addressPool: DefaultAddressPool? = nil) throws -> (SwarmNode, InitResult) {
        let (dataDirectory, listen, advertise) = try requireAddresses(configuration)
        try requireFreshDataDirectory(dataDirectory)
        let workerSecret = try RandomID.base36(count: 25)
        let managerSecret = try RandomID.base36(count: 25)
        let clusterID = try RandomID.objectID()
        let nodeID = try RandomID.objectID()
        let now = Clock.unixSeconds()
        let root = try ClusterSigner.createRoot(clusterID: clusterID, now: now)
        let ca = ClusterCA(rootCertificatePEM: root.certificate.pem, rootKeyPEM: root.key.pem)
        let key = try PrivateKey.generateP256()
        let issued = try ClusterSigner.issue(
            csr: CertificateSigningRequest(key: key, subject: CertificateSubject(commonName: nodeID)), nodeID: nodeID, role: .manager,
            clusterID: clusterID, ca: ca, validitySeconds: configuration.certificateExpirySeconds ?? ClusterSigner.defaultNodeValiditySeconds,
            now: now, addresses: [advertise])
        let identity = NodeIdentity(
            nodeID: nodeID, transportID: PeerIdentity.transportID(forNodeID: nodeID), clusterID: clusterID, role: .manager,
            listenAddress: listen, advertiseAddress: advertise, apiAddress: configuration.apiAddress ?? "", managerAddresses: [:])
        try FileSystem.makeDirectories(dataDirectory, mode: 0o700)
        let certificates = NodeCertificates(key: key, chain: issued.chain, roots: issued.roots)
        try certificates.save(to: dataDirectory)
        let node = try SwarmNode(configuration: configuration, dataDirectory: dataDirectory, identity: identity, certificates: certificates)
        try node.startTransport()
        try node.startRole(bootstrap: .bootstrap(voters: [identity.transportID]))
        try node.waitForLeadership(timeoutMillis: 10_000)
        try node.startAPI()
        let tokens = JoinTokens(worker: JoinToken(root: root.certificate, secret: workerSecret).description,
                                manager: JoinToken(root: root.certificate, secret: managerSecret).description)
        let command = try initialCommand(identity, configuration, tokens, workerSecret, managerSecret, ca, addressPool)
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
        node.logger.info("audit: init: cluster \(clusterID) created by node \(nodeID) with a new root CA (digest \(JoinToken.digest(of: root.certificate)))")
        return (node, InitResult(nodeID: identity.nodeID, workerToken: tokens.worker, managerToken: tokens.manager,
                                 advertiseAddress: advertise))
    }

    private static func initialCommand(_ identity: NodeIdentity, _ configuration: NodeConfiguration, _ tokens: JoinTokens,
                                       _ workerSecret: String, _ managerSecret: String, _ ca: ClusterCA,
                                       _ addressPool: DefaultAddressPool?) throws -> ClusterCommand {
        let now = Clock.now()
        var spec = ClusterSpec()
        spec.orchestration.taskHistoryRetentionLimit = Int64(configuration.taskHistoryLimit)
        spec.raft.snapshotInterval = configuration.snapshotEvery
        spec.raft.logEntriesForSlowFollowers = configuration.snapshotRetainEntries
        spec.raft.electionTick = configuration.electionTicks
        spec.raft.heartbeatTick = configuration.heartbeatTicks
        spec.dispatcher.heartbeatPeriod = Int64(configuration.dispatcherHeartbeatMillis) * 1_000_000
        if let expiry = configuration.certificateExpirySeconds {
            spec.caConfig = ClusterSpec.CAConfig(nodeCertExpiry: expiry * 1_000_000_000)
        }
        let cluster = Cluster(id: identity.clusterID, version: ObjectVersion(index: 0), createdAt: now, spec: spec, joinTokens: tokens,
                              defaultAddressPool: addressPool)
        let node = Node(id: identity.nodeID, version: ObjectVersion(index: 0), createdAt: now, spec: NodeSpec(role: .manager),
                        description: LocalMachine.description(), status: NodeStatus(state: .ready, addr: identity.advertiseAddress),
                        managerStatus: ManagerStatus(raftID: identity.transportID, addr: identity.advertiseAddress))
        let secrets = ClusterSecrets(workerSecret: workerSecret, managerSecret: managerSecret,
                                     members: [String(identity.transportID): ClusterMember(nodeID: identity.nodeID)], ca: ca)
        return .initialize(cluster: cluster, firstNode: node, secrets: secrets)
    }

    public static func join(_ configuration: NodeConfiguration, token text: String, manager: String) throws -> SwarmNode {
        let (dataDirectory, listen, advertise) = try requireAddresses(configuration)
        guard let token = JoinToken(parsing: text) else {
            throw NodeError("invalid join token: expected SWMTKN-1-<CA digest>-<secret>, as printed by 'swarmctl join-token'")
        }
        let managerAddress = try SocketAddress(parsing: manager)
        try requireFreshDataDirectory(dataDirectory)
        let key = try PrivateKey.generateP256()
        let request = JoinRequest(secret: token.secret,
                                  csrPEM: try CertificateSigningRequest(key: key, subject: CertificateSubject(commonName: "joining")).pem,
                                  advertiseAddress: advertise, description: LocalMachine.description())
        let log = NodeLogger(nodeID: "joining", levelName: configuration.logLevel)
        let (response, pinnedRoot): (JoinResponse, Certificate)
        do {
            (response, pinnedRoot) = try JoinClient.join(manager: managerAddress, token: token, request: request, timeoutMillis: 20_000) {
                log.debug("join transport: \($0)")
            }
        } catch let error as NodeError {
            throw NodeError("could not join through \(manager): \(error.message)")
        }
        guard response.accepted else {
            throw NodeError("could not join through \(manager): the manager refused: \(response.reason ?? "no reason given")")
        }
        let certificates = try acceptedCertificates(response, key: key, pinnedRoot: pinnedRoot)
        try FileSystem.makeDirectories(dataDirectory, mode: 0o700)
        try certificates.save(to: dataDirectory)
        let identity = NodeIdentity(
            nodeID: response.nodeID, transportID: PeerIdentity.transportID(forNodeID: response.nodeID), clusterID: response.clusterID,
            role: response.role, listenAddress: listen, advertiseAddress: advertise, apiAddress: configuration.apiAddress ?? "",
            managerAddresses: response.managerAddresses)
        try identity.save(to: dataDirectory)
        let node = try SwarmNode(configuration: configuration, dataDirectory: dataDirectory, identity: identity, certificates: certificates)
        try node.startTransport()
        try node.startRole()
        try node.startAPI()
        return node
    }

    /// The joiner's checks on what the manager issued: a chain to the root the token pinned,
    /// naming the ids and role the answer states.
    static func acceptedCertificates(_ response: JoinResponse, key: PrivateKey, pinnedRoot: Certificate) throws -> NodeCertificates {
        let chain: [Certificate], roots: [Certificate]
        do {
            chain = try Certificate.parseChain(pem: response.certificateChainPEM)
            roots = try Certificate.parseChain(pem: response.rootsPEM)
        } catch {
            throw NodeError("the manager's answer holds an unreadable certificate (\(error))")
        }
        guard let leaf = chain.first, roots.contains(pinnedRoot) else {
            throw NodeError("the manager's answer does not include the CA the token pins")
        }
        do {
            try Certificate.verify(leaf, intermediates: Array(chain.dropFirst()), roots: [pinnedRoot], at: Clock.unixSeconds())
        } catch {
            throw NodeError("the certificate the manager issued does not verify against the token's CA (\(error))")
        }
        let expected = ClusterSigner.subject(nodeID: response.nodeID, role: response.role, clusterID: response.clusterID)
        guard leaf.subject == expected, !response.nodeID.isEmpty, !response.clusterID.isEmpty else {
            throw NodeError("the certificate the manager issued names \(leaf.subject), not the node it admitted")
        }
        return NodeCertificates(key: key, chain: chain, roots: roots)
    }

    /// Restarts a node from its data dir. A locked manager (autolock) first serves only the
    /// locked API (`LockedManager`) until it is unlocked, or until `stopRequested` holds.
    public static func run(_ configuration: NodeConfiguration,
                           stopRequested: @escaping @Sendable () -> Bool = { false }) throws -> SwarmNode {
        guard let dataDirectory = configuration.dataDirectory else {
            throw NodeError("--data-dir is required: the directory 'swarmctl init' or 'swarmctl join' created")
        }
        var identity = try NodeIdentity.load(from: dataDirectory)
        if let listen = configuration.listenAddress { identity.listenAddress = listen }
        if let api = configuration.apiAddress { identity.apiAddress = api }
        if !identity.apiAddress.isEmpty {
            _ = try APIListenerSecurity.resolve(apiAddress: identity.apiAddress, configuration: configuration, dataDirectory: dataDirectory)
        }
        var keys = ManagerKeys()
        let certificates: NodeCertificates
        if identity.role == .manager && ManagerKeyLock.isLocked(dataDirectory: dataDirectory) {
            let unlocked = try LockedManager.waitForUnlock(
                configuration: configuration, identity: identity, dataDirectory: dataDirectory,
                logger: NodeLogger(nodeID: identity.nodeID, levelName: configuration.logLevel), stopRequested: stopRequested)
            keys = ManagerKeys(kek: unlocked.kek, wrappedUnder: unlocked.unlockKey)
            certificates = unlocked.certificates
            // A crash between wrapping the KEK and sealing the TLS key left the key in clear: seal it now.
            try certificates.save(to: dataDirectory, sealingKey: unlocked.kek)
        } else {
            certificates = try NodeCertificates.load(from: dataDirectory)
        }
        let node = try SwarmNode(configuration: configuration, dataDirectory: dataDirectory, identity: identity, certificates: certificates)
        node.managerKeys = keys
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
