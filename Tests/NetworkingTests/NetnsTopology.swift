import Foundation
import Glibc
@testable import Networking
import Platform
import XCTest

/// Two "hosts" as network namespaces on an underlay bridge (`UnderlayNetwork`: 192.0.2.0/24),
/// each configured by a `NodeNetworkController` with the real plumbing, and a client namespace on
/// the underlay (192.0.2.200) playing the outside user. Overlay addresses come from 198.51.100.0/24.
/// Every name starts with a per-test prefix; `destroy()` removes all of them, also after a failure.
final class NetnsTopology: @unchecked Sendable {
    let base: String
    let hostNames: [NetworkNames]
    var servers: [EchoServer] = []

    static let underlay = [IPv4Address(192, 0, 2, 1), IPv4Address(192, 0, 2, 2)]
    static let client = UnderlayNetwork.clientAddress
    static func overlay(_ last: UInt8) -> IPv4Address { IPv4Address(198, 51, 100, last) }

    /// Skips unless this is root with ip and nft and a kernel with VXLAN and nf_tables NAT.
    static func requirements() throws {
        guard getuid() == 0 else { throw XCTSkip("netns tests need root (network namespaces, veth, VXLAN, nftables)") }
        for tool in ["ip", "bridge", "nft"] where !HostNetworkPlumbing.toolExists(tool) {
            throw XCTSkip("netns tests need \(tool): apt-get install -y iproute2 nftables")
        }
        if let missing = kernelSupport { throw XCTSkip("netns tests need kernel support: \(missing)") }
    }

    /// Probed once in a scratch namespace: nil when VXLAN links and an nftables NAT table work.
    static let kernelSupport: String? = {
        let scratch = "nprobe\(getpid())"
        defer { _ = try? CommandRunner.run(["ip", "netns", "del", scratch]) }
        let steps: [[String]] = [["ip", "netns", "add", scratch],
                                 ["ip", "-n", scratch, "link", "add", "vxprobe", "type", "vxlan", "id", "42", "dstport", "4789", "nolearning"],
                                 ["ip", "netns", "exec", scratch, "nft", "add table ip probe; add chain ip probe c { type nat hook output priority -100; }"]]
        for step in steps {
            guard let output = try? CommandRunner.run(step), output.succeeded else {
                return "\(step.joined(separator: " ")) failed (no VXLAN or nf_tables NAT in this kernel?)"
            }
        }
        return nil
    }()

    init() throws {
        base = "n" + String(format: "%03x", (Int(getpid()) &* 31 &+ Int(monotonicNanoseconds() % 4096)) % 4096)
        hostNames = [try NetworkNames(prefix: base + "a"), try NetworkNames(prefix: base + "b")]
        do { try build() } catch {
            destroy()
            throw error
        }
    }

    var hostNamespaces: UnderlayNetwork { UnderlayNetwork(prefix: base, hostCount: 2) }
    func hostNamespace(_ index: Int) -> String { hostNamespaces.hostNamespace(index) }
    var clientNamespace: String { hostNamespaces.clientNamespace }
    func taskNamespace(host: Int, task: String) -> String { hostNames[host].namespace(taskID: task) }

    private func build() throws {
        _ = try UnderlayNetwork.create(prefix: base, hosts: 2)
    }

    /// Applies a plan on host `index` from a thread inside its namespace, with a new controller each
    /// time (as after an agent restart: the state is observed, not remembered).
    func apply(_ plan: NodeNetworkPlan, host index: Int) throws {
        let names = hostNames[index]
        try NetworkNamespace.perform(NetworkNamespace.path(hostNamespace(index))) {
            try NodeNetworkController(names: names, plumbing: HostNetworkPlumbing()).apply(plan)
        }
    }

    /// Applies a plan with one long-lived controller per host (as a running agent: it remembers
    /// the last plan, so backends that left get their flows flushed).
    func applyKeepingController(_ plan: NodeNetworkPlan, host index: Int) throws {
        let controller = controllers[index] ?? ControllerBox(NodeNetworkController(names: hostNames[index], plumbing: HostNetworkPlumbing()))
        controllers[index] = controller
        try NetworkNamespace.perform(NetworkNamespace.path(hostNamespace(index))) { try controller.controller.apply(plan) }
    }

    private var controllers: [Int: ControllerBox] = [:]

    /// The controller is used from one thread at a time (the namespace thread of each call).
    final class ControllerBox: @unchecked Sendable {
        let controller: NodeNetworkController
        init(_ controller: NodeNetworkController) { self.controller = controller }
    }

    func destroy() {
        servers.forEach { $0.stop() }
        servers = []
        UnderlayNetwork.destroy(prefix: base)
    }

    func namespacesLeft() -> [String] { UnderlayNetwork.namespaces(prefix: base) }

    @discardableResult
    func run(_ arguments: [String], _ lines: [String]) throws -> String {
        let output = try CommandRunner.run(arguments, input: lines.joined(separator: "\n") + "\n")
        guard output.succeeded else { throw NetworkingError("\(arguments.joined(separator: " ")) failed: \(output.text)") }
        return output.text
    }

    /// Starts a UDP server on `port` inside `namespace` answering each datagram with `name`.
    func serveUDP(_ name: String, namespace: String, port: UInt16) throws {
        servers.append(try EchoServer(name: name, namespace: namespace, port: port, datagram: true))
    }

    /// Starts a TCP server on `port` inside `namespace` that answers each connection with
    /// "<name> <client address>" and closes it.
    func serve(_ name: String, namespace: String, port: UInt16) throws {
        servers.append(try EchoServer(name: name, namespace: namespace, port: port))
    }

    /// One request from inside `namespace` to address:port; the answer, or nil if refused/timed out.
    static func request(from namespace: String, to address: IPv4Address, port: UInt16, timeoutMillis: Int = 1_500) -> String? {
        try? NetworkNamespace.perform(NetworkNamespace.path(namespace)) { requestHere(to: address, port: port, timeoutMillis: timeoutMillis) } ?? nil
    }

    /// One request from the calling thread's namespace.
    static func requestHere(to address: IPv4Address, port: UInt16, timeoutMillis: Int = 1_500) -> String? {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: timeoutMillis / 1000, tv_usec: (timeoutMillis % 1000) * 1000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var target = sockaddr_in()
        target.sin_family = sa_family_t(AF_INET)
        target.sin_port = port.bigEndian
        target.sin_addr.s_addr = address.value.bigEndian
        let connected = withUnsafePointer(to: &target) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard connected == 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = recv(descriptor, &buffer, buffer.count, 0)
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : nil
    }
}

/// A TCP server whose listening socket lives in a task namespace, served from a thread of the test.
final class EchoServer: @unchecked Sendable {
    let descriptor: Int32
    private let stopped = ConditionLock()
    private var stopping = false
    private var thread: PlatformThread?

    init(name: String, namespace: String, port: UInt16, datagram: Bool = false) throws {
        let type = datagram ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue
        descriptor = try NetworkNamespace.perform(NetworkNamespace.path(namespace)) { () throws -> Int32 in
            let descriptor = socket(AF_INET, Int32(type | SOCK_CLOEXEC.rawValue), 0)
            var yes: Int32 = 1
            setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard bound == 0, datagram || listen(descriptor, 64) == 0 else { throw NetworkingError("echo server bind in \(namespace) failed") }
            return descriptor
        }
        let listening = descriptor
        thread = PlatformThread(name: "echo") { [self] in
            while !stopped.withLock({ stopping }) {
                var poller = pollfd(fd: listening, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 100) > 0 else { continue }
                if datagram {
                    var peer = sockaddr_in(), length = socklen_t(MemoryLayout<sockaddr_in>.size)
                    var buffer = [UInt8](repeating: 0, count: 512)
                    let count = withUnsafeMutablePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        recvfrom(listening, &buffer, buffer.count, 0, $0, &length) } }
                    guard count >= 0 else { continue }
                    let reply = Array(name.utf8)
                    _ = withUnsafePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(listening, reply, reply.count, 0, $0, length) } }
                    continue
                }
                var peer = sockaddr_in()
                var length = socklen_t(MemoryLayout<sockaddr_in>.size)
                let connection = withUnsafeMutablePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    accept(listening, $0, &length) } }
                guard connection >= 0 else { continue }
                let reply = Array("\(name) \(IPv4Address(UInt32(bigEndian: peer.sin_addr.s_addr)))\n".utf8)
                _ = send(connection, reply, reply.count, Int32(MSG_NOSIGNAL))
                close(connection)
            }
        }
    }

    func stop() {
        stopped.withLock { stopping = true }
        thread?.join()
        thread = nil
        close(descriptor)
    }
}
