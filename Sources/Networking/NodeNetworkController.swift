/// Makes the kernel match successive plans: observes what exists under the node's prefix, renders
/// links, forwarding entries and rulesets against it, applies them through the plumbing, and
/// flushes connection tracking for backends that left.
///
/// It exists so the runner has one call per change (`apply(plan)`), and so start-up reconciliation
/// is not a separate code path: the first apply after a crash observes the leftovers and renders
/// against them (complete task namespaces are adopted, the rest removed, tables replaced whole).
public final class NodeNetworkController {
    public let names: NetworkNames
    private let plumbing: NetworkPlumbing
    private let links: LinkRenderer
    private let rulesets: RulesetRenderer
    private var lastPlan: NodeNetworkPlan?
    private var appliedNodeRuleset: String?
    private var appliedTaskRulesets: [String: String] = [:]

    public init(names: NetworkNames, plumbing: NetworkPlumbing) {
        self.names = names
        self.plumbing = plumbing
        links = LinkRenderer(names: names)
        rulesets = RulesetRenderer(names: names)
    }

    /// Applies `plan`. After a failure nothing is assumed: the next call renders everything again.
    public func apply(_ plan: NodeNetworkPlan) throws {
        try plan.validate()
        let observed = try plumbing.observe(names: names)
        let steps = render(plan, observed: observed)
        do {
            try plumbing.apply(steps.steps)
        } catch {
            appliedNodeRuleset = nil
            appliedTaskRulesets = [:]
            lastPlan = nil
            throw error
        }
        appliedNodeRuleset = steps.nodeRuleset
        appliedTaskRulesets = steps.taskRulesets
        lastPlan = plan
    }

    /// Removes everything this node created under its prefix (leaving the cluster, tests, testbed).
    public func removeAll() throws {
        let observed = try plumbing.observe(names: names)
        var steps: [PlumbingStep] = []
        let lines = links.removalLines(NodeNetworkPlan.empty, observed: observed, complete: [])
            + (observed.links.contains(names.gatewayBridge) ? ["link del \(names.gatewayBridge)"] : [])
        if !lines.isEmpty { steps.append(.ip(namespace: nil, lines: lines)) }
        if observed.tables.contains(names.table) { steps.append(.nft(namespace: nil, ruleset: rulesets.deletion())) }
        try plumbing.apply(steps)
        lastPlan = nil
        appliedNodeRuleset = nil
        appliedTaskRulesets = [:]
    }

    struct Rendered {
        var steps: [PlumbingStep]
        var nodeRuleset: String
        var taskRulesets: [String: String]
    }

    func render(_ plan: NodeNetworkPlan, observed: ObservedNetworkState) -> Rendered {
        var steps = links.render(plan, observed: observed)
        let nodeRuleset = rulesets.nodeRuleset(plan)
        if nodeRuleset != appliedNodeRuleset || !observed.tables.contains(names.table) {
            steps.append(.nft(namespace: nil, ruleset: nodeRuleset))
        }
        let adopted = links.completeTasks(plan, observed: observed)
        var taskRulesets: [String: String] = [:]
        for task in plan.tasks {
            let text = rulesets.taskRuleset(task, plan: plan)
            taskRulesets[task.id] = text
            if !adopted.contains(task.id) || appliedTaskRulesets[task.id] != text {
                steps.append(.nft(namespace: names.namespace(taskID: task.id), ruleset: text))
            }
        }
        if let lastPlan {
            steps += conntrackFlushes(from: lastPlan, to: plan)
        }
        return Rendered(steps: steps, nodeRuleset: nodeRuleset, taskRulesets: taskRulesets)
    }

    /// After the new rules are in place: forget translated flows to every address that was a ready
    /// backend and no longer is, in the node namespace (published ports) and in each task
    /// namespace (VIPs), so established flows stop reaching a removed task.
    func conntrackFlushes(from old: NodeNetworkPlan, to new: NodeNetworkPlan) -> [PlumbingStep] {
        let before = Set(old.services.flatMap { $0.readyBackends.flatMap { $0.addresses.values } })
            .union(old.tasks.filter { task in old.services.contains { $0.readyBackends.contains { $0.taskID == task.id } } }.map(\.gatewayAddress))
        let after = Set(new.services.flatMap { $0.readyBackends.flatMap { $0.addresses.values } })
            .union(new.tasks.filter { task in new.services.contains { $0.readyBackends.contains { $0.taskID == task.id } } }.map(\.gatewayAddress))
        let removed = before.subtracting(after).sorted()
        let namespaces: [String?] = [nil] + new.tasks.map { names.namespace(taskID: $0.id) }
        return removed.flatMap { address in namespaces.map { PlumbingStep.flushConntrack(namespace: $0, replySource: address) } }
    }
}

extension NodeNetworkPlan {
    static let empty = NodeNetworkPlan(underlayAddress: IPv4Address(0), gateway: GatewayBridge(subnet: IPv4Subnet(IPv4Address(0), prefixLength: 0), nodeAddress: IPv4Address(0)))
}
