import Foundation
import Glibc
import Platform
import XCTest

/// The swarmctl process of a worker running the process executor restarts (SIGTERM, then
/// kill -9) while its tasks run: the restarted agent re-adopts them through their shims. Every
/// task keeps its pid, no task is replaced, `service logs` goes on with every line once, health
/// checks go on, and a task scaled away while the node was down is ended when it comes back.
/// Needs no root: the process executor runs plain host processes.
final class ProcessReadoptionEndToEndTests: XCTestCase {
    private var cluster: TestCluster!

    override func setUpWithError() throws {
        cluster = try TestCluster()
        try ReadoptionScenario.start(cluster)
    }

    override func tearDown() {
        // The shims of a killed node are this process's orphans: tearDown ends them.
        cluster?.tearDown()
    }

    func testRestartedWorkerReadoptsItsProcessesAfterSIGTERMAndKill9() throws {
        // The probes run on the host: they append to a file of the test's.
        let probeFile = cluster.directory + "/probes"
        let scenario = ReadoptionScenario(cluster: cluster) {
            ((try? String(contentsOfFile: probeFile, encoding: .utf8)) ?? "").split(separator: "\n").count
        }
        // `$$` is the task's own pid (its shell's): a restarted task would show a new one.
        let before = try scenario.createTicker(replicas: 2, healthCommand: "echo probe >> '\(probeFile)'", image: "busybox", ticker: "$$")
        XCTAssertEqual(Set(try scenario.ticks().keys), Set(before.values.map { "\($0.pid)" }), "the pid each task prints is the one reported")
        try scenario.restartTwice(keeping: before)

        // Scaled down while the node is down: the task no longer assigned is ended when it comes
        // back; the other is re-adopted.
        let pids = before.values.map(\.pid)
        cluster.kill("w1", signal: SIGKILL)
        let scaled = try cluster.cli("m1", ["service", "scale", "--detach", "ticker=1"])
        XCTAssertEqual(scaled.status, 0, scaled.output)
        try cluster.restart("w1")
        var kept = 0
        try cluster.waitUntil("one task ended, the other still runs with its pid", timeoutSeconds: 30) {
            let alive = pids.filter(ReadoptionScenario.isAlive)
            let running = try scenario.tasks().values.filter { $0.desired == "running" }
            kept = alive.first ?? 0
            return alive.count == 1 && running.count == 1 && running.first?.pid == kept && running.first?.state == "running"
        }
        try scenario.leaveStops([kept])
    }
}
