import Networking
import XCTest

/// The controller against the recording fake: idempotent applies, start-up reconciliation of what a
/// crashed run left, and the order of leaving load balancing.
final class NodeNetworkControllerTests: XCTestCase {
    let names = try! NetworkNames(prefix: "sw")

    func testSecondApplyOfTheSamePlanChangesNothing() throws {
        let fake = RecordingPlumbing()
        let controller = NodeNetworkController(names: names, plumbing: fake)
        try controller.apply(PlanFixtures.plan)
        try controller.apply(PlanFixtures.plan)
        XCTAssertEqual(fake.applied.count, 2)
        XCTAssertEqual(fake.applied[1], [.sysctl(namespace: nil, key: "net.ipv4.ip_forward", value: "1")],
                       "nothing is created twice and unchanged rulesets are not reapplied")
    }

    func testRestartAdoptsCompleteTasksAndReplacesTablesWhole() throws {
        let fake = RecordingPlumbing()
        try NodeNetworkController(names: names, plumbing: fake).apply(PlanFixtures.plan)
        let restarted = NodeNetworkController(names: names, plumbing: fake)
        try restarted.apply(PlanFixtures.plan)
        let steps = fake.applied[1]
        XCTAssertFalse(steps.contains { if case .ip = $0 { return true } else { return false } }, "\(steps.rendered)")
        let rulesets = steps.compactMap { step -> String? in if case let .nft(namespace, _) = step { return namespace ?? "node" } else { return nil } }
        XCTAssertEqual(rulesets, ["node", "sw-t-taskweb1", "sw-t-taskdb1"], "every table is rewritten whole after a restart")
    }

    func testRestartRemovesStaleAndHalfBuiltButNotForeignObjects() throws {
        let fake = RecordingPlumbing()
        let staleVeth = names.hostVeth(taskID: "gone", networkID: "netfront")
        let halfVeth = names.hostVeth(taskID: "taskdb1", networkID: "netback")
        fake.state = ObservedNetworkState(
            namespaces: ["sw-t-gone", "sw-t-taskdb1", "other-ns"],
            links: [staleVeth, halfVeth, "swb9999", "swx9999", "eth0", "xyb1001"],
            forwardingEntries: ["swx9999": [ForwardingEntry(mac: ForwardingEntry.flood, destination: PlanFixtures.host2)]])
        try NodeNetworkController(names: names, plumbing: fake).apply(PlanFixtures.plan)
        let text = fake.applied[0].rendered
        XCTAssertTrue(text.contains("link del \(staleVeth)\n"), text)
        XCTAssertTrue(text.contains("link del \(halfVeth)\n"), "half-built task namespace is rebuilt: \(text)")
        XCTAssertTrue(text.contains("netns del sw-t-gone\n"), text)
        XCTAssertTrue(text.contains("netns del sw-t-taskdb1\nnetns del") || text.contains("netns del sw-t-taskdb1\n"), text)
        XCTAssertTrue(text.contains("netns add sw-t-taskdb1\n"), text)
        XCTAssertTrue(text.contains("link del swx9999\nlink del swb9999\n"), text)
        for foreign in ["other-ns", "eth0", "xyb1001"] { XCTAssertFalse(text.contains("del \(foreign)\n"), "\(foreign) is not ours: \(text)") }
        XCTAssertEqual(fake.state.namespaces, ["other-ns", "sw-t-taskweb1", "sw-t-taskdb1"])
    }

    func testStaleForwardingEntriesAreDeletedAndMissingAdded() throws {
        let fake = RecordingPlumbing()
        let controller = NodeNetworkController(names: names, plumbing: fake)
        try controller.apply(PlanFixtures.plan)
        var moved = PlanFixtures.plan
        moved.remoteEndpoints[0].host = PlanFixtures.host3
        try controller.apply(moved)
        let text = fake.applied[1].rendered
        XCTAssertTrue(text.contains("fdb del 02:42:0a:00:01:04 dev swx1001 dst 192.0.2.2 self\n"), text)
        XCTAssertTrue(text.contains("fdb append 02:42:0a:00:01:04 dev swx1001 dst 192.0.2.3 self permanent"), text)
    }

    func testBackendThatStopsBeingReadyLeavesRulesThenConntrack() throws {
        let fake = RecordingPlumbing()
        let controller = NodeNetworkController(names: names, plumbing: fake)
        try controller.apply(PlanFixtures.plan)
        var draining = PlanFixtures.plan
        draining.services[0].backends[1].ready = false
        try controller.apply(draining)
        let steps = fake.applied[1]
        let lastRuleset = steps.lastIndex { if case .nft = $0 { return true } else { return false } }!
        let firstFlush = steps.firstIndex { if case .flushConntrack = $0 { return true } else { return false } }!
        XCTAssertLessThan(lastRuleset, firstFlush, "rules change before flows are flushed: \(steps.rendered)")
        let flushed = Set(steps.compactMap { step -> String? in
            if case let .flushConntrack(namespace, source) = step { return "\(namespace ?? "node") \(source)" } else { return nil }
        })
        XCTAssertEqual(flushed, ["node 10.0.1.4", "node 10.255.0.7", "sw-t-taskweb1 10.0.1.4", "sw-t-taskweb1 10.255.0.7",
                                 "sw-t-taskdb1 10.0.1.4", "sw-t-taskdb1 10.255.0.7"])
        for step in steps {
            if case let .nft(_, ruleset) = step { XCTAssertFalse(ruleset.contains("10.0.1.4") || ruleset.contains("10.255.0.7"), ruleset) }
        }
    }

    func testFailedApplyRendersEverythingNextTime() throws {
        let fake = RecordingPlumbing()
        let controller = NodeNetworkController(names: names, plumbing: fake)
        try controller.apply(PlanFixtures.plan)
        fake.failNextApply = NetworkingError("nft: interrupted")
        XCTAssertThrowsError(try controller.apply(PlanFixtures.plan))
        try controller.apply(PlanFixtures.plan)
        XCTAssertEqual(fake.applied.last!.filter { if case .nft = $0 { return true } else { return false } }.count, 3)
    }

    func testRemoveAllLeavesNothingOfOurs() throws {
        let fake = RecordingPlumbing()
        let controller = NodeNetworkController(names: names, plumbing: fake)
        fake.state.namespaces = ["foreign"]
        try controller.apply(PlanFixtures.plan)
        try controller.removeAll()
        XCTAssertEqual(fake.state.namespaces, ["foreign"])
        XCTAssertEqual(fake.state.links, [])
        XCTAssertEqual(fake.state.tables, [])
    }

    func testNamesStayWithinInterfaceLimitAndPrefixesAreChecked() throws {
        let long = try NetworkNames(prefix: "swab12")
        XCTAssertLessThanOrEqual(long.hostVeth(taskID: String(repeating: "x", count: 64), networkID: "n").count, 15)
        XCTAssertLessThanOrEqual(long.bridge(vni: (1 << 24) - 1).count, 15)
        XCTAssertTrue(long.owns(link: long.vxlan(vni: 4096)))
        XCTAssertFalse(long.owns(link: "swab12other"))
        for bad in ["", "s", "Sw", "sw-1", "1sw", "swabc12"] {
            XCTAssertThrowsError(try NetworkNames(prefix: bad), bad)
        }
    }
}

/// Plans the renderers cannot honour are refused with the reason, before anything is applied.
final class NodeNetworkPlanValidationTests: XCTestCase {
    func testInvalidPlansAreRefusedBeforeAnythingIsApplied() {
        var unknownNetwork = PlanFixtures.plan
        unknownNetwork.tasks[0].attachments.append(TaskAttachment(networkID: "nope", address: IPv4Address(10, 9, 9, 9)))
        var outside = PlanFixtures.plan
        outside.tasks[1].attachments[0].address = IPv4Address(10, 0, 1, 77)
        var duplicateGateway = PlanFixtures.plan
        duplicateGateway.tasks[1].gatewayAddress = duplicateGateway.tasks[0].gatewayAddress
        var duplicateVNI = PlanFixtures.plan
        duplicateVNI.networks[1].vni = duplicateVNI.networks[0].vni
        for (plan, reason) in [(unknownNetwork, "does not have"), (outside, "outside 10.0.2.0/24"), (duplicateGateway, "already used"),
                               (duplicateVNI, "reuses VNI")] {
            let fake = RecordingPlumbing()
            XCTAssertThrowsError(try NodeNetworkController(names: try! NetworkNames(prefix: "sw"), plumbing: fake).apply(plan)) {
                XCTAssertTrue("\($0)".contains(reason), "\($0)")
            }
            XCTAssertEqual(fake.applied, [])
        }
        XCTAssertNoThrow(try PlanFixtures.plan.validate())
    }
}
