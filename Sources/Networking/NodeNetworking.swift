/// The node runner's one object for networking: service tables in, kernel state and DNS listeners
/// out. It builds the plan, applies it, and keeps one DNS listener per local task namespace.
///
/// It exists so the glue in the runner is three calls: `update(tables:health:)` whenever the
/// dispatcher's tables (or a local task's health) change, `namespacePath(forTask:)` when starting
/// a task, `shutdown()` when the node leaves.
public final class NodeNetworking {
    public let nodeID: String
    public let names: NetworkNames
    public let gateway: GatewayBridge
    private let controller: NodeNetworkController
    private let dns: DNSEndpoints
    public private(set) var plan: NodeNetworkPlan?

    public init(nodeID: String, names: NetworkNames, gateway: GatewayBridge, plumbing: NetworkPlumbing, dns: DNSEndpoints) {
        self.nodeID = nodeID
        self.names = names
        self.gateway = gateway
        self.dns = dns
        controller = NodeNetworkController(names: names, plumbing: plumbing)
    }

    /// Applies the tables. Every step is attempted; the first failure is thrown afterwards
    /// (a DNS listener that could not bind does not keep the rules from being updated).
    @discardableResult
    public func update(tables: [NetworkTableInput], health: [String: NodePlanBuilder.Health] = [:]) throws -> NodeNetworkPlan {
        let plan = try NodePlanBuilder.plan(nodeID: nodeID, gateway: gateway, tables: tables, health: health)
        if plan.networks.isEmpty && plan.tasks.isEmpty {
            try controller.removeAll()
        } else {
            try controller.apply(plan)
        }
        self.plan = plan
        var failure: Error?
        let views = DNSView.views(plan)
        for id in dns.listenerIDs where views[id] == nil { dns.remove(id: id) }
        let listening = dns.listenerIDs
        for (id, view) in views.sorted(by: { $0.key < $1.key }) {
            if listening.contains(id) {
                dns.update(id: id, view: view)
            } else {
                do { try dns.listen(id: id, namespacePath: NetworkNamespace.path(names.namespace(taskID: id)), view: view) } catch {
                    failure = failure ?? error
                }
            }
        }
        if let failure { throw failure }
        return plan
    }

    /// The namespace a task joins (`TaskSpec.networkNamespacePath`), or nil when the current plan
    /// gives it no attachment (it keeps the executor's default network).
    public func namespacePath(forTask id: String) -> String? {
        guard plan?.task(id) != nil else { return nil }
        return NetworkNamespace.path(names.namespace(taskID: id))
    }

    /// Removes every DNS listener and everything created under the prefix.
    public func shutdown() throws {
        for id in dns.listenerIDs { dns.remove(id: id) }
        plan = nil
        try controller.removeAll()
    }
}

/// Where DNS listeners live; `DNSServer` in the node, a fake in tests.
public protocol DNSEndpoints: AnyObject {
    var listenerIDs: Set<String> { get }
    func listen(id: String, namespacePath: String, view: DNSView) throws
    func update(id: String, view: DNSView)
    func remove(id: String)
}

extension DNSServer: DNSEndpoints {
    public func listen(id: String, namespacePath: String, view: DNSView) throws {
        try listen(id: id, address: IPv4Address(127, 0, 0, 11), port: 53, namespacePath: namespacePath, view: view)
    }
}
