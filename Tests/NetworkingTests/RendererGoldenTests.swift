import Foundation
import Networking
import XCTest

/// The rendered commands and rulesets of a fixed plan, compared byte for byte with files in
/// Golden/ (set SWARMCTL_UPDATE_GOLDEN=1 to rewrite them after an intended change, then review the diff).
final class RendererGoldenTests: XCTestCase {
    let names = try! NetworkNames(prefix: "sw")

    func testFreshNodeLinksMatchGoldenFile() throws {
        let steps = LinkRenderer(names: names).render(PlanFixtures.plan, observed: ObservedNetworkState())
        try assertGolden(steps.rendered, "fresh-node-links.txt")
    }

    func testNodeRulesetMatchesGoldenFile() throws {
        try assertGolden(RulesetRenderer(names: names).nodeRuleset(PlanFixtures.plan), "node-ruleset.nft")
    }

    func testTaskRulesetMatchesGoldenFile() throws {
        let plan = PlanFixtures.plan
        try assertGolden(RulesetRenderer(names: names).taskRuleset(plan.tasks[0], plan: plan), "task-ruleset.nft")
    }

    func testRulesetOnlyBalancesOverReadyBackends() {
        let plan = PlanFixtures.plan
        let task = RulesetRenderer(names: names).taskRuleset(plan.tasks[0], plan: plan)
        XCTAssertTrue(task.contains("ip daddr 10.0.1.2 dnat to numgen inc mod 2 map { 0 : 10.0.1.3, 1 : 10.0.1.4 }"), task)
        XCTAssertFalse(task.contains("10.0.1.5"), "task 3 is not ready: \(task)")
        XCTAssertTrue(task.contains("ip daddr 10.0.1.9 reject"), "a VIP without backends is refused: \(task)")
        XCTAssertFalse(task.contains("10.0.2."), "the web task is not on the back network: \(task)")
    }

    func testPublishedPortsDeliverByModeAndPolicy() {
        let node = RulesetRenderer(names: names).nodeRuleset(PlanFixtures.plan)
        XCTAssertTrue(node.contains("tcp dport 8080 dnat to numgen inc mod 2 map { 0 : 10.255.0.6, 1 : 10.255.0.7 }:80"), node)
        XCTAssertTrue(node.contains("udp dport 8053 dnat to 172.30.0.2:53"), "local policy: the local task's gateway address: \(node)")
        XCTAssertTrue(node.contains("tcp dport 5432 dnat to 172.30.0.3:5432"), "host mode: the local task: \(node)")
        XCTAssertTrue(node.contains("iifname \"swb1001\" oifname \"swb1001\" accept"), node)
        XCTAssertTrue(node.contains("oifname \"swb*\" drop"), node)
    }

    func testHostModeWithoutLocalTaskPublishesNothing() {
        var plan = PlanFixtures.plan
        plan.tasks.removeAll { $0.id == "taskdb1" }
        let node = RulesetRenderer(names: names).nodeRuleset(plan)
        XCTAssertFalse(node.contains("5432"), node)
        XCTAssertTrue(node.contains("tcp dport 8080"), "ingress ports are on every node: \(node)")
    }

    func assertGolden(_ text: String, _ file: String) throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden").appendingPathComponent(file)
        if ProcessInfo.processInfo.environment["SWARMCTL_UPDATE_GOLDEN"] == "1" {
            try text.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        XCTAssertEqual(text, expected, "\(file) differs; after an intended change: SWARMCTL_UPDATE_GOLDEN=1 swift test --filter RendererGoldenTests")
    }
}
