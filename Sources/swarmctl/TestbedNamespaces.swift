import Foundation
import Glibc
import Networking
import Platform

/// The network namespaces of `testbed up --netns`: one per node on an underlay bridge
/// (192.0.2.0/24) and a client namespace playing the outside user, all named with a random prefix.
///
/// The prefix is written to DIR/netns-prefix before anything is created, so `testbed down` can
/// remove everything by name even when `up` (or the machine's testbed shell) crashed half-way.
struct TestbedNamespaces {
    static let prefixFile = "netns-prefix"
    static let prefixKey = "TESTBED_NETNS_PREFIX"

    let directory: String
    let network: UnderlayNetwork
    let nodes: [String]

    static func create(directory: String, nodes: [String]) throws -> TestbedNamespaces {
        guard getuid() == 0 else {
            throw CommandFailure(message: "testbed up --netns needs root (it creates network namespaces): run it as root, or without --netns")
        }
        for tool in ["ip", "nsenter"] where !HostNetworkPlumbing.toolExists(tool) {
            throw CommandFailure(message: "testbed up --netns needs \(tool): apt-get install -y iproute2 util-linux")
        }
        let prefix = "tb" + String(format: "%03x", UInt32.random(in: 0..<0x1000))
        try Data((prefix + "\n").utf8).write(to: URL(fileURLWithPath: directory + "/" + prefixFile), options: .atomic)
        do {
            let network = try UnderlayNetwork.create(prefix: prefix, hosts: nodes.count)
            return TestbedNamespaces(directory: directory, network: network, nodes: nodes)
        } catch {
            try? FileSystem.remove(directory + "/" + prefixFile)
            throw CommandFailure(message: "testbed up --netns could not create its namespaces: \(error)")
        }
    }

    var placements: [String: LocalClusterLauncher.Placement] {
        var result: [String: LocalClusterLauncher.Placement] = [:]
        for (index, node) in nodes.enumerated() {
            result[node] = LocalClusterLauncher.Placement(namespacePath: NetworkNamespace.path(network.hostNamespace(index)),
                                                          address: "\(network.hostAddress(index))")
        }
        return result
    }

    /// The networking settings of each node: a prefix of its own under the testbed's (`tbXXXa`,
    /// `tbXXXb` …, so `testbed down` removes the task namespaces it created by the testbed
    /// prefix), and a gateway subnet inside 198.51.100.0/24 (the same in every node namespace:
    /// each has its own gateway bridge).
    var nodeFlags: [String: [String]] {
        var result: [String: [String]] = [:]
        for (index, node) in nodes.enumerated() {
            result[node] = ["--" + Self.networkPrefixKey, network.prefix + Self.nodeLetter(index),
                            "--" + Self.gatewaySubnetKey, Self.gatewaySubnet]
        }
        return result
    }

    static let networkPrefixKey = "network-prefix"
    static let gatewaySubnetKey = "network-gateway-subnet"
    static let gatewaySubnet = "198.51.100.128/26"

    /// a … z, then 0 … 9 (the testbed has at most 27 nodes).
    static func nodeLetter(_ index: Int) -> String {
        let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        precondition(index < letters.count, "node index \(index) has no letter")
        return String(letters[index])
    }

    func record(in environment: inout TestbedEnvironment) {
        environment.setValue(Self.prefixKey, network.prefix)
        environment.setValue("TESTBED_CLIENT_NETNS", network.clientNamespace)
        environment.setValue("TESTBED_CLIENT_ADDR", "\(UnderlayNetwork.clientAddress)")
        for (node, placement) in placements.sorted(by: { $0.key < $1.key }) {
            let prefix = TestbedEnvironment.prefix(node)
            environment.setValue("\(prefix)_NETNS", placement.namespacePath)
            environment.setValue("\(prefix)_UNDERLAY", placement.address)
        }
    }

    var summary: String {
        "Each node in its own network namespace (\(network.prefix)-h*, 192.0.2.1-\(nodes.count)); outside user: "
            + "ip netns exec \(network.clientNamespace) … (192.0.2.200)"
    }

    func destroy() {
        try? Self.remove(prefix: network.prefix, directory: directory)
    }

    /// Placements read back from testbed.env (for `testbed restart`).
    static func placements(from environment: TestbedEnvironment) -> [String: LocalClusterLauncher.Placement] {
        var result: [String: LocalClusterLauncher.Placement] = [:]
        for node in environment.nodes {
            let prefix = TestbedEnvironment.prefix(node)
            if let path = environment.value("\(prefix)_NETNS"), let address = environment.value("\(prefix)_UNDERLAY"), !path.isEmpty {
                result[node] = LocalClusterLauncher.Placement(namespacePath: path, address: address)
            }
        }
        return result
    }

    static func recordedPrefix(directory: String) -> String? {
        guard let text = try? String(contentsOfFile: directory + "/" + prefixFile, encoding: .utf8) else { return nil }
        let prefix = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return prefix.hasPrefix("tb") && prefix.count == 5 ? prefix : nil
    }

    /// Removes every namespace named with `prefix` (nodes, client, underlay, and task namespaces
    /// the nodes created under it), then the prefix file.
    static func remove(prefix: String, directory: String) throws {
        let failures = UnderlayNetwork.destroy(prefix: prefix)
        guard failures.isEmpty else {
            throw CommandFailure(message: "could not remove network namespaces: \(failures.joined(separator: "; ")): remove them with 'ip netns del NAME'")
        }
        try? FileSystem.remove(directory + "/" + prefixFile)
        writeStandardOutput("removed the network namespaces \(prefix)-*\n")
    }
}
