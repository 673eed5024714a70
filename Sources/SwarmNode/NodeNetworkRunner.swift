import Dispatch
import Executor
import Foundation
import Glibc
import Networking
import Platform

/// The node's task networking (issue 16, worker side): feeds the network tables the managers
/// stream to this node into `NodeNetworking` (bridges, VXLAN, nftables, DNS per task namespace)
/// and tells the agent which namespace a task joins.
///
/// It exists so the loop never blocks on `ip`/`nft`: every change is applied on one serial queue,
/// bursts coalesce into one apply of the newest tables, and a task that is about to start waits
/// (on its own executor queue) until a plan containing it is in the kernel. A node that cannot do
/// networking (not root, tools missing, the process executor) keeps the reason, and every task
/// with network attachments is rejected with it: never started on the host network.
final class NodeNetworkRunner: @unchecked Sendable {
    /// Why this node cannot run tasks with network attachments, worded as what is missing and
    /// what to do; nil when it can.
    let unavailable: String?
    private let networking: NodeNetworking?
    private let dnsServer: DNSServer?
    private let logger: NodeLogger
    private let queue = DispatchQueue(label: "swarmctl-network")
    private let lock = ConditionLock()
    // Guarded by `lock`.
    private var latest: (tables: [NetworkTableInput], health: [String: NodePlanBuilder.Health])?
    /// Generation of `latest` (bumped by every request), and of the last apply attempt that finished.
    private var requested: UInt64 = 0
    private var finished: UInt64 = 0
    private var scheduled = false
    private var plannedTasks: Set<String> = []
    /// The last apply's error (nil: it succeeded).
    private var failure: String?
    private var isShutDown = false
    private var counts = (applied: 0, failed: 0)

    /// How long a starting task waits for the tables that give it its addresses.
    static let planTimeoutMillis = 30_000

    init(networking: NodeNetworking?, dnsServer: DNSServer?, unavailable: String?, logger: NodeLogger) {
        precondition((networking == nil) == (unavailable != nil), "networking xor a reason why not")
        self.networking = networking
        self.dnsServer = dnsServer
        self.unavailable = unavailable
        self.logger = logger
    }

    /// The node's networking with the real plumbing and DNS server, or one that refuses (saying
    /// why) when this node cannot do it.
    static func make(configuration: NodeConfiguration, nodeID: String, executor: any Executor, logger: NodeLogger) -> NodeNetworkRunner {
        let refuse = { (reason: String) in NodeNetworkRunner(networking: nil, dnsServer: nil, unavailable: reason, logger: logger) }
        if let missing = missingRequirement(executor: executor) { return refuse(missing) }
        do {
            let names = try NetworkNames(prefix: configuration.networkPrefix ?? defaultPrefix(nodeID: nodeID))
            guard let subnet = IPv4Subnet(configuration.gatewaySubnet) else {
                return refuse("network-gateway-subnet '\(configuration.gatewaySubnet)' is not an IPv4 subnet: give one in CIDR form, such as 172.30.0.0/16")
            }
            let gateway = GatewayBridge(subnet: subnet, nodeAddress: IPv4Address(subnet.network.value + 1))
            let resolvConf = (try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)) ?? ""
            let dns = try DNSServer(upstreams: ResolverConfiguration.nameservers(resolvConf).map { DNSServer.Upstream(address: $0) })
            let networking = NodeNetworking(nodeID: nodeID, names: names, gateway: gateway, plumbing: HostNetworkPlumbing(), dns: dns)
            logger.info("networking: prefix \(names.prefix), gateway bridge \(subnet) (\(names.gatewayBridge)), DNS on 127.0.0.11 in each task")
            return NodeNetworkRunner(networking: networking, dnsServer: dns, unavailable: nil, logger: logger)
        } catch {
            return refuse("task networking could not start: \(error): fix that and restart the node")
        }
    }

    /// What keeps this node from running tasks in their own network namespaces, if anything.
    static func missingRequirement(executor: any Executor) -> String? {
        guard executor is OCIExecutor else {
            return "the process executor runs tasks as host processes, which cannot join a network namespace: "
                + "run the node with --executor oci (needs root and runc or crun)"
        }
        guard getuid() == 0 else { return "task networking needs root (network namespaces, bridges, nftables): run the node as root" }
        let missing = ["ip", "bridge", "nft"].filter { !HostNetworkPlumbing.toolExists($0) }
        guard missing.isEmpty else {
            return "task networking needs \(missing.joined(separator: ", ")), not installed: apt-get install -y iproute2 nftables"
        }
        return nil
    }

    /// `sw` and the node id's first four letters or digits, lowercased: short enough for
    /// interface names, distinct for the nodes of one machine (the netns testbed).
    static func defaultPrefix(nodeID: String) -> String {
        let tail = nodeID.lowercased().filter { $0.isASCII && ($0.isLetter || $0.isNumber) }.prefix(4)
        return "sw" + tail
    }

    /// The tables (or a local task's health) changed: apply the newest on the network queue.
    /// Returns at once; calls made while an apply runs coalesce into one more apply.
    func update(tables: [NetworkTableInput], health: [String: NodePlanBuilder.Health]) {
        guard networking != nil else { return }
        lock.withLock {
            latest = (tables, health)
            requested += 1
            scheduleLocked()
        }
    }

    private func scheduleLocked() {
        guard !scheduled, !isShutDown, latest != nil else { return }
        scheduled = true
        queue.async { [self] in applyPending() }
    }

    /// On the network queue: applies the newest input until no newer one is waiting.
    private func applyPending() {
        while true {
            guard let (input, generation) = lock.withLock({ () -> (((tables: [NetworkTableInput], health: [String: NodePlanBuilder.Health]), UInt64)?) in
                guard !isShutDown, let latest else {
                    scheduled = false
                    return nil
                }
                return (latest, requested)
            }) else {
                lock.broadcast()
                return
            }
            var error: String?
            do { try networking!.update(tables: input.tables, health: input.health) } catch let failed { error = "\(failed)" }
            let tasks = Set(networking!.plan?.tasks.map(\.id) ?? [])
            let done = lock.withLock { () -> Bool in
                finished = generation
                plannedTasks = tasks
                failure = error
                if error == nil { counts.applied += 1 } else { counts.failed += 1 }
                if requested == generation { scheduled = false }
                return requested == generation
            }
            lock.broadcast()
            if let error {
                logger.error("networking: could not apply the network tables: \(error); tasks on networks here may not be reachable. "
                    + "The next table change retries (a starting task retries at once); check the node's ip/nft and its log")
            }
            if done { return }
        }
    }

    /// Blocks (on a task's executor queue, never the loop) until the kernel holds a plan with
    /// task `taskID` in it, and returns the namespace the task joins. Throws when this node
    /// cannot do networking, an apply fails, or the tables never name the task here.
    func namespacePath(forTask taskID: String, timeoutMillis: Int = NodeNetworkRunner.planTimeoutMillis) throws -> String {
        if let unavailable { throw NodeError("task \(taskID) has network attachments (--network, --publish) but \(unavailable)") }
        let start = lock.withLock { () -> UInt64 in
            if failure != nil {
                // The last apply failed: try the newest tables once more for this task.
                requested += 1
                scheduleLocked()
            }
            return requested
        }
        let deadline = monotonicNanoseconds() + UInt64(timeoutMillis) * 1_000_000
        let outcome = lock.waitUntil(deadline: deadline, {
            isShutDown || (failure == nil && finished >= start && plannedTasks.contains(taskID)) || (failure != nil && finished >= start)
        }, then: { () -> String? in isShutDown ? "the node is shutting down" : failure })
        switch outcome {
        case nil:
            throw NodeError("task \(taskID): the network tables giving it its addresses did not reach this node within "
                + "\(timeoutMillis / 1000) s: check that this node reaches the managers (swarmctl node ls shows it ready)")
        case let .some(.some(problem)):
            throw NodeError("task \(taskID): its network could not be set up: \(problem)")
        case .some(.none):
            // Not `networking.namespacePath(forTask:)`: that reads the plan the network queue
            // writes; the wait above already saw the task in an applied plan, and names are fixed.
            return NetworkNamespace.path(networking!.names.namespace(taskID: taskID))
        }
    }

    /// Applies done and failed so far (metrics, tests).
    var applyCounts: (applied: Int, failed: Int) { lock.withLock { counts } }

    /// The node leaves the swarm (or stops its tasks for good): removes every DNS listener and
    /// everything created under the prefix, after any apply in progress. Call off the loop.
    func shutdown() {
        guard let networking else { return }
        lock.withLock { isShutDown = true }
        lock.broadcast()
        queue.sync {
            do { try networking.shutdown() } catch {
                logger.error("networking: could not remove this node's links, namespaces and nftables table (prefix \(networking.names.prefix)): "
                    + "\(error); remove them by hand: ip netns list / ip link / nft list tables")
            }
        }
        dnsServer?.stop()
    }
}
