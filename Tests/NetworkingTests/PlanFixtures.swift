import Networking

/// A node (192.0.2.1) with two overlay networks (frontend, backend) and the ingress network, two
/// local tasks, and services covering VIP and dnsrr modes and every kind of published port.
enum PlanFixtures {
    static let host1 = IPv4Address(192, 0, 2, 1)
    static let host2 = IPv4Address(192, 0, 2, 2)
    static let host3 = IPv4Address(192, 0, 2, 3)

    static var ingress: OverlayNetwork {
        OverlayNetwork(id: "ingress", name: "ingress", vni: 4096, subnet: IPv4Subnet("10.255.0.0/16")!,
                       nodeAddress: IPv4Address("10.255.0.2")!, peers: [host2, host3])
    }
    static var frontend: OverlayNetwork {
        OverlayNetwork(id: "netfront", name: "front", vni: 4097, subnet: IPv4Subnet("10.0.1.0/24")!,
                       nodeAddress: IPv4Address("10.0.1.250")!, peers: [host2])
    }
    static var backend: OverlayNetwork {
        OverlayNetwork(id: "netback", name: "back", vni: 4098, subnet: IPv4Subnet("10.0.2.0/24")!,
                       nodeAddress: IPv4Address("10.0.2.250")!, peers: [])
    }

    static func address(_ text: String) -> IPv4Address { IPv4Address(text)! }

    static var web: ServiceEntry {
        ServiceEntry(id: "svcweb", name: "web", aliases: ["www"], virtualIPs: ["netfront": address("10.0.1.2"), "ingress": address("10.255.0.5")],
                     backends: [
                        ServiceBackend(taskID: "taskweb1", taskName: "web.1.taskweb1",
                                       addresses: ["netfront": address("10.0.1.3"), "ingress": address("10.255.0.6")], ready: true),
                        ServiceBackend(taskID: "taskweb2", taskName: "web.2.taskweb2",
                                       addresses: ["netfront": address("10.0.1.4"), "ingress": address("10.255.0.7")], ready: true),
                        ServiceBackend(taskID: "taskweb3", taskName: "web.3.taskweb3",
                                       addresses: ["netfront": address("10.0.1.5"), "ingress": address("10.255.0.8")], ready: false),
                     ],
                     ports: [PublishedPort(published: 8080, target: 80),
                             PublishedPort(proto: .udp, published: 8053, target: 53, mode: .ingress, policy: .local)],
                     ingressNetworkID: "ingress")
    }

    static var db: ServiceEntry {
        ServiceEntry(id: "svcdb", name: "db", endpointMode: .dnsrr,
                     backends: [ServiceBackend(taskID: "taskdb1", taskName: "db.1.taskdb1", addresses: ["netback": address("10.0.2.3")], ready: true),
                                ServiceBackend(taskID: "taskdb2", taskName: "db.2.taskdb2", addresses: ["netback": address("10.0.2.4")], ready: true)],
                     ports: [PublishedPort(published: 5432, target: 5432, mode: .host)])
    }

    static var empty: ServiceEntry {
        ServiceEntry(id: "svcempty", name: "empty", virtualIPs: ["netfront": address("10.0.1.9")], backends: [])
    }

    static var tasks: [LocalTask] {
        [LocalTask(id: "taskweb1", name: "web.1.taskweb1", gatewayAddress: address("172.30.0.2"),
                   attachments: [TaskAttachment(networkID: "netfront", address: address("10.0.1.3")),
                                 TaskAttachment(networkID: "ingress", address: address("10.255.0.6"))]),
         LocalTask(id: "taskdb1", name: "db.1.taskdb1", gatewayAddress: address("172.30.0.3"),
                   attachments: [TaskAttachment(networkID: "netback", address: address("10.0.2.3"))])]
    }

    static var plan: NodeNetworkPlan {
        NodeNetworkPlan(underlayAddress: host1, gateway: GatewayBridge(subnet: IPv4Subnet("172.30.0.0/16")!, nodeAddress: address("172.30.0.1")),
                        networks: [ingress, frontend, backend], tasks: tasks, services: [web, db, empty],
                        remoteEndpoints: [RemoteEndpoint(networkID: "netfront", address: address("10.0.1.4"), host: host2),
                                          RemoteEndpoint(networkID: "ingress", address: address("10.255.0.7"), host: host2),
                                          RemoteEndpoint(networkID: "ingress", address: address("10.255.0.3"), host: host3),
                                          RemoteEndpoint(networkID: "netback", address: address("10.0.2.4"), host: host1)])
    }
}
