import API
import ClusterState
import Dispatcher
import Foundation
import Platform
import Raft
import Transport

/// The node's share of the network table stream (issue 16): the leader's `NetworkTableDispatcher`
/// (one per leadership) and this node's `NetworkTableReceiver`, with their repair counters.
///
/// It exists as one stored value so the stream adds a single property to `SwarmNode`; the
/// logic lives in `SwarmNode+NetworkTables`, mirroring the assignment stream.
struct NetworkTableStream {
    /// Leader only: every node's network table session in this term.
    var dispatcher: NetworkTableDispatcher?
    /// Every node: the tables the leader sent this node.
    var receiver = NetworkTableReceiver()
    /// Whether applied commands may have changed some node's tables since the last push.
    var changed = false
    /// Holes this node saw in its own network table stream.
    var gapsSeen: UInt64 = 0
    /// Bumped whenever the state may have changed a table (`noteNetworkTablesChanged`).
    var generation: UInt64 = 0
    /// Every table as of `generation`: building them walks every service and task, which each
    /// heartbeat did again for one node's tables, stalling the loop with thousands of services.
    var built: (generation: UInt64, tables: [String: NetworkTable])?
    /// Every node: joins the parts of a message too large for one frame.
    var assembler = NetworkTableAssembler()
}

// The network table stream, wired like the assignment stream (`DispatcherRunner`): the
// leader sends each node the tables of the networks it has tasks on (a full set when its
// session starts or it is out of step, versioned increments after every applied batch), and
// each heartbeat carries the node's `NetworkTableAck` so a hole or a lost change is repaired.
extension SwarmNode {
    /// The network tables this node holds (as of `networkTableVersion`), ordered by network id:
    /// what the network runner renders bridges, VXLAN forwarding, DNS and load balancing from.
    /// Read on the loop.
    public var networkTables: [NetworkTable] { networkTableStream.receiver.sortedTables }

    /// Host-mode published ports of this node's live tasks, from the same stream.
    public var hostPortBindings: [HostPortBinding] { networkTableStream.receiver.hostPorts }

    /// The stream session and version of `networkTables`.
    public var networkTableVersion: (session: UInt64, version: UInt64) {
        (networkTableStream.receiver.session, networkTableStream.receiver.version)
    }

    /// What `/info` shows of the stream (`Swarm.NetworkTables`).
    var networkTablesStatus: NetworkTablesStatus {
        let receiver = networkTableStream.receiver
        var sent: [String: NetworkTablesStatus.Position]?
        if raft?.role == .leader, let dispatcher = networkTableStream.dispatcher {
            sent = [:]
            for node in dispatcher.nodes {
                if let stream = dispatcher.sent(to: node) { sent![node] = .init(session: stream.session, version: stream.version) }
            }
        }
        return NetworkTablesStatus(session: receiver.session, version: receiver.version, needsFullSet: receiver.needsFullSet,
                                   gapsSeen: networkTableStream.gapsSeen, sent: sent,
                                   tables: receiver.sortedTables.map(NetworkTablesStatus.Table.init))
    }

    /// Whether this node may dispatch network tables (`DispatcherRunner.isReady`); creates this
    /// leadership's network table dispatcher on first use.
    private func networkTableDispatcherIsReady() -> Bool {
        guard dispatcherRunner.isReady(), let current = raft else { return false }
        if networkTableStream.dispatcher?.term != current.term {
            let inFlight = AssignmentDispatcher.inFlightMillis(heartbeatPeriodMillis: UInt64(configuration.dispatcherHeartbeatMillis))
            networkTableStream.dispatcher = NetworkTableDispatcher(term: current.term, inFlightMillis: inFlight)
        }
        return true
    }

    /// A node heartbeated the leader (`link` 0: the leader's own round) with the stream version
    /// it has applied: answer with what it misses, if anything.
    func dispatchNetworkTableHeartbeat(nodeID: String, link: UInt64, ack: NetworkTableAck) {
        guard networkTableDispatcherIsReady() else { return }
        let before = networkTableStream.dispatcher!.resyncs
        let message = networkTableStream.dispatcher!.heartbeat(node: nodeID, link: link, ack: ack,
                                                               items: NetworkTables.tables(forNode: nodeID, in: state,
                                                                                           all: allNetworkTables()),
                                                               extra: HostPortBinding.forNode(nodeID, in: state), now: Clock.now())
        if networkTableStream.dispatcher!.resyncs > before {
            logger.info("network tables: node \(nodeID.prefix(12)) is out of step (has \(ack.session):\(ack.version)): sending its full set")
        }
        if let message { deliverNetworkTables(message, to: nodeID) }
    }

    /// Marks the tables possibly changed; called for every applied command that may change one
    /// (`NetworkTableRelevance`) and whenever `state` is replaced.
    func noteNetworkTablesChanged() {
        networkTableStream.changed = true
        networkTableStream.generation += 1
    }

    /// Every network's table for the current state, built at most once per change.
    private func allNetworkTables() -> [String: NetworkTable] {
        if let built = networkTableStream.built, built.generation == networkTableStream.generation { return built.tables }
        let tables = NetworkTables.all(in: state)
        networkTableStream.built = (networkTableStream.generation, tables)
        return tables
    }

    /// After an applied batch, on the leader: send every session the tables that changed.
    func pushAllNetworkTables() {
        guard networkTableStream.changed, networkTableDispatcherIsReady() else { return }
        networkTableStream.changed = false
        if networkTableStream.dispatcher!.sent(to: identity.nodeID) == nil {
            dispatchNetworkTableHeartbeat(nodeID: identity.nodeID, link: 0, ack: networkTableStream.receiver.ack)
        }
        for nodeID in networkTableStream.dispatcher!.nodes where state.nodes[nodeID] == nil {
            networkTableStream.dispatcher!.close(nodeID)
        }
        let all = allNetworkTables()
        let now = Clock.now()
        for nodeID in networkTableStream.dispatcher!.nodes {
            let tables = NetworkTables.tables(forNode: nodeID, in: state, all: all)
            if let message = networkTableStream.dispatcher!.changes(nodeID, items: tables, extra: HostPortBinding.forNode(nodeID, in: state),
                                                                    now: now) {
                deliverNetworkTables(message, to: nodeID)
            }
        }
    }

    /// The leader's own node gets its tables without the network; others on the connection
    /// their heartbeats arrive on, in parts when the message encodes to more than
    /// `NetworkTableMessage.defaultMaxBytesPerPart` (a whole one over the 16 MiB frame limit
    /// would be dropped by the transport, and resent, forever).
    private func deliverNetworkTables(_ message: NetworkTableMessage, to nodeID: String) {
        if nodeID == identity.nodeID { return receiveNetworkTables(message) }
        guard let connection = nodeConnections[nodeID] else { return }
        let maxBytes = NetworkTableMessage.defaultMaxBytesPerPart
        let whole = (try? JSONEncoder().encode(message)).map(Array.init) ?? []
        guard whole.count > maxBytes else {
            transport.reply(application: ApplicationFrame(kind: NodeFrameKind.networkTables.rawValue, payload: whole), on: connection)
            return
        }
        let parts = message.split { ((try? JSONEncoder().encode($0).count) ?? .max) <= maxBytes }
        logger.info("network tables: version \(message.version) for node \(nodeID.prefix(12)) is \(whole.count) bytes: sent in \(parts.count) parts")
        for part in parts { transport.reply(application: ApplicationFrame(.networkTables, part), on: connection) }
    }

    /// One message (or part of one) of this node's network table stream; a hole asks the
    /// managers for the full set at once (a heartbeat carrying `needsFullSet`) instead of serving
    /// stale tables.
    func receiveNetworkTables(_ part: NetworkTableMessage) {
        guard let message = networkTableStream.assembler.add(part) else { return }
        switch networkTableStream.receiver.receive(message) {
        case .applied:
            applyNetworkTables()
        case .needsFullSet:
            networkTableStream.gapsSeen += 1
            logger.info("network tables: change \(message.version) of stream \(message.session) does not follow "
                + "\(networkTableStream.receiver.session):\(networkTableStream.receiver.version): asking for the full set")
            sendHeartbeats()
        case .stale, .waitingForFullSet:
            break
        }
    }

    func networkTableFamilies() -> [MetricFamily] {
        let receiver = networkTableStream.receiver
        return [
            MetricFamily("swarmctl_network_tables", help: "Network tables this node holds from the leader's network table stream.",
                         kind: .gauge, value: Double(receiver.tables.count)),
            MetricFamily("swarmctl_network_tables_version", help: "Version of this node's network table stream (within its session).",
                         kind: .gauge, value: Double(receiver.version)),
            MetricFamily("swarmctl_network_tables_gaps_seen_total", help: "Holes this node saw in its network table stream.",
                         kind: .counter, value: Double(networkTableStream.gapsSeen)),
        ]
    }
}

extension NetworkTablesStatus.Table {
    /// The `/info` summary of one table the node holds.
    init(_ table: NetworkTable) {
        self.init(networkID: table.networkID, name: table.name, vxlanID: table.vxlanID, subnet: table.subnet,
                  peers: table.peers.map(\.nodeID),
                  services: table.services.map {
                      NetworkTablesStatus.ServiceEntry(serviceID: $0.serviceID, name: $0.name, endpointMode: $0.endpointMode, vip: $0.vip,
                                                       taskAddresses: $0.tasks.map(\.address))
                  })
    }
}
