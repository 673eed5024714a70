import ClusterState
import Dispatcher

extension Workload {
    /// The overlay networks every run creates with the cluster: one from the default pool and
    /// one with a small given subnet (61 addresses), so next-fit wraps around during a run.
    static let networks: [(id: String, spec: NetworkSpec)] = [
        ("network-a", NetworkSpec(name: "simnet-a")),
        ("network-b", NetworkSpec(name: "simnet-b", ipam: [IPAMConfig(subnet: "10.200.0.0/26")])),
    ]
}

/// Networks in the control-plane run: the workload's services join the overlay networks and
/// publish ports, the leader's dispatcher streams network tables to every agent, and the
/// networking invariants (`NetworkInvariants`) are checked after every committed command, with
/// a snapshot round trip now and then that must go on applying exactly like the original.
extension ControlPlaneSimulator {
    /// Networks and published ports for a new service of `role`: steady services join network a
    /// (with an alias) and sometimes publish an ingress port (fixed or dynamic), capped ones both
    /// networks, flaky ones network b, global ones publish a host-mode port (one task per node,
    /// so they never collide; their updates stop first, as a host port allows nothing else).
    func addNetworking(_ spec: inout ServiceSpec, role: Workload.Role, index: Int) {
        switch role {
        case .steady:
            spec.taskTemplate.networks = [NetworkAttachmentConfig(target: "network-a", aliases: ["\(spec.name)-alias"])]
            if chance(60) {
                spec.endpointSpec = EndpointSpec(ports: [PortConfig(targetPort: 80, publishedPort: chance(50) ? UInt32(8000 + index) : nil)])
            }
        case .capped:
            spec.taskTemplate.networks = [NetworkAttachmentConfig(target: "network-a"), NetworkAttachmentConfig(target: "network-b")]
        case .flaky:
            spec.taskTemplate.networks = [NetworkAttachmentConfig(target: "network-b")]
            if chance(50) { spec.endpointSpec = EndpointSpec(mode: "dnsrr") }
        case .global:
            spec.endpointSpec = EndpointSpec(ports: [PortConfig(protocol: "udp", targetPort: 53, publishedPort: UInt32(9000 + index),
                                                                publishMode: "host")])
            spec.updateConfig?.order = .stopFirst
        case .batch:
            break
        }
    }

    /// Publishes a dynamic ingress port, or stops publishing (what `--publish-add/-rm` send).
    func togglePublishedPort(_ spec: inout ServiceSpec) {
        if spec.endpointSpec?.ports?.isEmpty == false {
            spec.endpointSpec = nil
        } else {
            spec.endpointSpec = EndpointSpec(ports: [PortConfig(protocol: chance(30) ? "udp" : "tcp", targetPort: UInt32(between(1, 9000)))])
        }
    }

    /// The networking invariants after committed command `index`, and the snapshot probe.
    func checkNetworking(_ command: ClusterCommand, index: UInt64, state: ClusterState) {
        if let problem = NetworkInvariants.problems(in: state).first {
            checker.fail("networking after entry \(index) (\(Self.commandName(command))): \(problem)")
            return
        }
        if var restored = snapshotProbe {
            snapshotProbe = nil
            restored.apply(command, index: index)
            if restored != state {
                checker.fail("networking: a replica restored from a snapshot applied entry \(index) (\(Self.commandName(command))) "
                    + "differently from the others")
                return
            }
        }
        guard index % 29 == 0 else { return }
        guard let decoded = try? CommandCodec.decodeState(CommandCodec.encodeState(state)), decoded == state else {
            checker.fail("networking: the snapshot of the state at entry \(index) does not restore the same state")
            return
        }
        snapshotProbe = decoded
        report.networkSnapshotProbes += 1
    }

    static func commandName(_ command: ClusterCommand) -> String {
        String(describing: command).prefix { $0 != "(" }.description
    }

    /// The dispatcher streams each agent with a session the changes to its network tables.
    func pushNetworkTables(_ slot: Int) {
        guard let nodes = managers[slot].networkTables?.nodes, !nodes.isEmpty else { return }
        let state = managers[slot].state
        let all = NetworkTables.all(in: state)
        for node in nodes {
            guard let host = host(ofNode: node),
                  let message = managers[slot].networkTables!.changes(node, items: NetworkTables.tables(forNode: node, in: state, all: all),
                                                                      extra: HostPortBinding.forNode(node, in: state), now: nowStamp)
            else { continue }
            sendNetworkTables(message, from: slot, to: host)
        }
    }

    /// Peers, services and tasks per network table part: small, so that most full sets and many
    /// changes go in parts (each travels, and may be lost, on its own), as the node shell sends
    /// messages over `NetworkTableMessage.defaultMaxBytesPerPart`.
    static let networkTableUnitsPerPart = 12

    /// Sends one message of `host`'s network table stream as the node shell does, in parts when
    /// it is over the part budget (here counted in peers, services and tasks, not bytes).
    func sendNetworkTables(_ message: NetworkTableMessage, from slot: Int, to host: Int) {
        let parts = message.split { part in
            part.tables.reduce(0) { $0 + $1.peers.count + $1.services.reduce(0) { $0 + max(1, $1.tasks.count) } }
                <= Self.networkTableUnitsPerPart
        }
        if parts.count > 1 { report.networkTableMessagesSplit += 1 }
        for part in parts { send(.networkTables(part), from: slot, to: host) }
    }

    /// One message (or part of one) of the node's network table stream, through the shipped
    /// assembler and receiver.
    func agentReceivesNetworkTables(_ host: Int, _ part: NetworkTableMessage) {
        guard agents[host].isUp, let message = agents[host].tableAssembler.add(part) else { return }
        switch agents[host].networkTables.receive(message) {
        case .applied: report.networkTableMessagesApplied += 1
        case .needsFullSet:
            log("\(agents[host].nodeID) network table change \(message.version) does not follow \(agents[host].networkTables.version): asking for the full set")
            sendHeartbeat(host)
        case .stale, .waitingForFullSet: break
        }
    }

    /// At the end: every agent that acknowledged the leader's latest network table version has
    /// exactly the tables the leader sent (a stream that applied a change twice, or skipped
    /// one, shows here), and the leader sent what the state says now.
    func networkTableProblem() -> String? {
        guard let leader = readyLeader(), managers[leader].networkTables != nil else { return nil }
        pushNetworkTables(leader)
        let state = managers[leader].state
        for host in 0..<hostCount where agents[host].isUp {
            let node = nodeID(host)
            guard let sent = managers[leader].networkTables!.sent(to: node) else { continue }
            if sent.stamps != NetworkTables.tables(forNode: node, in: state) {
                return "network tables: the leader's latest tables for \(node) are not those of its state"
            }
            let receiver = agents[host].networkTables
            guard receiver.session == sent.session, receiver.version == sent.version else { continue }
            if receiver.sortedTables != sent.stamps || receiver.hostPorts != sent.held {
                return "network tables: \(node) acknowledged version \(sent.version) but holds other tables than the leader sent"
            }
            report.networkTablesInSync += 1
        }
        return nil
    }
}
