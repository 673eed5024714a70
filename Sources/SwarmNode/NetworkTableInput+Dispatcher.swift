import ClusterState
import Dispatcher
import Networking

extension NetworkTableInput {
    /// The dispatcher's table as the worker-side networking reads it, field for field; task
    /// states become the three facts readiness needs (running, asked to stop, terminated).
    /// The first glue step of issue 16's worker side: `NodeNetworking.update(tables:)` takes these.
    init(_ table: NetworkTable) throws(NetworkingError) {
        var services: [Service] = []
        for service in table.services {
            var ports: [PublishedPort] = []
            for port in service.ports { ports.append(try Self.port(port, service: service.name)) }
            services.append(Service(serviceID: service.serviceID, name: service.name, aliases: service.aliases,
                                    endpointMode: service.endpointMode, vip: service.vip, ports: ports,
                                    tasks: service.tasks.map {
                                        Task(taskID: $0.taskID, name: $0.name, nodeID: $0.nodeID, address: $0.address,
                                             running: $0.state == .running, stopRequested: $0.desiredState > .running,
                                             terminated: $0.state.isTerminal)
                                    }))
        }
        self.init(networkID: table.networkID, name: table.name, vxlanID: table.vxlanID, subnet: table.subnet, ingress: table.ingress,
                  peers: table.peers.map { Peer(nodeID: $0.nodeID, address: $0.address, underlayAddress: Self.host($0.underlayAddress)) },
                  services: services)
    }

    /// A node's underlay address as its `Status.Addr` holds it (the advertise address,
    /// `HOST:PORT`), without the port: VXLAN reaches the host.
    static func host(_ address: String) -> String {
        guard let colon = address.lastIndex(of: ":"), address.firstIndex(of: ":") == colon else { return address }
        return String(address[..<colon])
    }

    private static func port(_ port: PortConfig, service: String) throws(NetworkingError) -> PublishedPort {
        guard let proto = PublishedPort.Proto(rawValue: (port.protocol ?? "tcp").lowercased()) else {
            throw NetworkingError("service \(service): protocol \(port.protocol ?? "") is not supported by the node's load balancer: use tcp or udp")
        }
        guard let published = port.publishedPort.flatMap(UInt16.init(exactly:)), published > 0,
              let target = UInt16(exactly: port.targetPort), target > 0 else {
            throw NetworkingError("service \(service): port \(port.publishedPort.map(String.init) ?? "?"):\(port.targetPort) is outside 1-65535")
        }
        return PublishedPort(proto: proto, published: published, target: target,
                             mode: port.publishMode == "host" ? .host : .ingress,
                             policy: port.publishPolicy == "local" ? .local : .mesh)
    }
}
