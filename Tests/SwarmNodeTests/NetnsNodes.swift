import Foundation
import Glibc
import Networking
import Platform
import XCTest

/// Puts the nodes of a `TestCluster` each in its own network namespace on an underlay bridge
/// (192.0.2.1, .2, …, as `testbed up --netns` does), with the OCI executor, a gateway subnet in
/// 198.51.100.192/26 and a static busybox imported under the given image names, so tasks on
/// overlay networks really run (a process-executor node rejects them, issue 16).
///
/// It exists so every end-to-end test with networked tasks sets this up (and removes it) the same
/// way: every namespace, including the task namespaces the nodes create, is named with one
/// per-test prefix and removed by `tearDown`, also after a failure.
final class NetnsNodes {
    let base: String
    let underlay: UnderlayNetwork
    let nodes: [String]

    /// Skips unless this machine can run them: root, runc, ip, bridge, nft, nsenter, a static
    /// busybox, and a kernel with VXLAN and nftables NAT.
    static func requirements(tools: [String] = []) throws {
        guard getuid() == 0 else { throw XCTSkip("task networking needs root (network namespaces, VXLAN, nftables, the OCI executor)") }
        guard ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc"].contains(where: FileSystem.exists) else {
            throw XCTSkip("the OCI executor needs runc: apt-get install -y runc")
        }
        for tool in ["ip", "bridge", "nft", "nsenter"] + tools where !HostNetworkPlumbing.toolExists(tool) {
            throw XCTSkip("this test needs \(tool): apt-get install -y iproute2 nftables util-linux \(tools.joined(separator: " "))")
        }
        guard FileSystem.exists("/bin/busybox") else { throw XCTSkip("needs a static busybox: apt-get install -y busybox-static") }
        if let missing = kernelSupport { throw XCTSkip("task networking needs kernel support: \(missing)") }
    }

    /// Probed once in a scratch namespace: nil when VXLAN links and an nftables NAT chain work.
    static let kernelSupport: String? = {
        let scratch = "nwprobe\(getpid())"
        let script = "{ ip netns add \(scratch) && ip -n \(scratch) link add vxprobe type vxlan id 42 dstport 4789 nolearning && "
            + "ip netns exec \(scratch) nft 'add table ip probe; add chain ip probe c { type nat hook output priority -100; }'; }; "
            + "status=$?; ip netns del \(scratch); exit $status"
        guard let probe = try? ChildProcess.spawn("/bin/sh", arguments: ["-c", "(\(script)) >/dev/null 2>&1"]),
              (try? probe.wait().exitCode) == 0 else {
            return "a VXLAN link or an nftables NAT chain could not be created in a scratch namespace (no VXLAN or nf_tables NAT in this kernel?)"
        }
        return nil
    }()

    /// Creates the namespaces, places `nodes` in them (set before the nodes start), sets the
    /// cluster's node flags and imports busybox as each of `images` into every node's data dir.
    init(cluster: TestCluster, nodes: [String], images: [String]) throws {
        base = "nw" + String(format: "%03x", (Int(getpid()) &* 31 &+ Int(monotonicNanoseconds() % 4096)) % 4096)
        self.nodes = nodes
        underlay = try UnderlayNetwork.create(prefix: base, hosts: nodes.count)
        do {
            cluster.nodeFlags = ["--raft-tick", "50ms", "--executor", "oci", "--network-gateway-subnet", "198.51.100.192/26", "--drain-delay", "1s"]
            for (index, node) in nodes.enumerated() {
                cluster.placements[node] = (NetworkNamespace.path(underlay.hostNamespace(index)), "\(underlay.hostAddress(index))")
            }
            let rootfs = cluster.directory + "/rootfs"
            let built = try cluster.shell("mkdir -p '\(rootfs)/bin' '\(rootfs)/etc' '\(rootfs)/tmp' && cp /bin/busybox '\(rootfs)/bin/' && "
                + "for a in $(/bin/busybox --list); do [ $a = busybox ] || ln -s busybox '\(rootfs)/bin/'$a; done && "
                + "printf 'root:x:0:0::/:/bin/sh\\n' > '\(rootfs)/etc/passwd' && printf 'root:x:0:\\n' > '\(rootfs)/etc/group'")
            guard built.status == 0 else { throw NSError(domain: "NetnsNodes", code: 1, userInfo: [NSLocalizedDescriptionKey: built.output]) }
            for node in nodes {
                for image in images {
                    let imported = try cluster.runOnce(["image", "import", image, rootfs, "--data-dir", cluster.directory + "/" + node])
                    guard imported.status == 0 else {
                        throw NSError(domain: "NetnsNodes", code: 2, userInfo: [NSLocalizedDescriptionKey: imported.output])
                    }
                }
            }
        } catch {
            _ = UnderlayNetwork.destroy(prefix: base)
            throw error
        }
    }

    /// NODE's network prefix: the base and a letter per node, so `tearDown` finds its task namespaces.
    func prefix(_ node: String) -> String {
        base + String(UnicodeScalar(UInt8(97 + nodes.firstIndex(of: node)!)))
    }

    /// The flags only NODE gets (to `initialize`/`join`; `run` reads them back from its node.conf).
    func flags(_ node: String) -> [String] { ["--network-prefix", prefix(node)] }

    func hostNamespace(_ node: String) -> String { underlay.hostNamespace(nodes.firstIndex(of: node)!) }

    /// Kills the nodes, deletes their containers and mounts, and removes every namespace named
    /// with the base; returns the namespaces that could not be removed.
    func tearDown(cluster: TestCluster) -> [String] {
        for node in nodes { cluster.kill(node) }
        for node in nodes {
            let state = cluster.directory + "/\(node)/runc"
            _ = try? cluster.shell("for id in $(runc --root '\(state)' list -q); do runc --root '\(state)' delete --force $id; done")
        }
        _ = try? cluster.shell("grep '\(cluster.directory)' /proc/self/mountinfo | cut -d' ' -f5 | sort -r | xargs -r -n1 umount -l")
        return UnderlayNetwork.destroy(prefix: base)
    }
}
