import Foundation
import Glibc
import Platform
import XCTest

/// The real docker CLI against a manager and a worker (process executor): `docker service logs
/// --since --tail -t` on the manager gives the last lines of the merged stream with write times,
/// `docker events --since 0 --until NOW` shows the service and its container; against the
/// worker's own API `docker ps/inspect/logs/top/stats` (one reading and streamed) see its task
/// container, `docker exec` runs in it, and `docker run` is refused. Skipped without the CLI.
final class NodeSurfaceEndToEndTests: XCTestCase {
    private static let dockerBinary = "/usr/local/bin/docker"
    private var cluster: TestCluster!

    override func tearDown() {
        cluster?.tearDown()
    }

    private func docker(_ node: String, _ arguments: String) throws -> (status: Int32, output: String) {
        let address = cluster.members[node]!.apiAddress
        let socket = address.hasPrefix("unix:") ? String(address.dropFirst("unix:".count)) : address
        return try cluster.shell("DOCKER_HOST='unix://\(socket)' DOCKER_CONFIG='\(cluster.directory)/docker-config' DOCKER_CLI_HINTS=false "
                                 + "\(Self.dockerBinary) \(arguments)")
    }

    private func lines(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }

    func testLogsEventsAndTheWorkersContainerAPIThroughTheDockerCLI() throws {
        guard FileSystem.exists(Self.dockerBinary) else { throw XCTSkip("the docker CLI is not installed at \(Self.dockerBinary)") }
        cluster = try TestCluster()
        try cluster.initialize("m1")
        try cluster.join("w1", as: "worker", via: "m1")
        try cluster.waitUntil("the worker is ready", timeoutSeconds: 20) {
            try self.cluster.nodes(via: "m1").filter { ($0["Status"] as? [String: Any])?["State"] as? String == "ready" }.count == 2
        }
        let created = try docker("m1", "service create -d --name web --constraint node.role==worker --no-resolve-image busybox "
                                 + "sh -c 'i=0; while true; do i=$((i+1)); echo out $i; echo err $i >&2; sleep 0.2; done'")
        XCTAssertEqual(created.status, 0, created.output)
        try cluster.waitUntil("the task container runs on the worker", timeoutSeconds: 20) {
            try self.docker("w1", "ps -q").output.split(separator: "\n").count == 1
        }
        let id = try docker("w1", "ps -q").output.trimmingCharacters(in: .whitespacesAndNewlines)

        // The worker's own API.
        let ps = try docker("w1", "ps --format '{{.Names}} {{.Status}}'")
        XCTAssertTrue(ps.output.hasPrefix("web.1.") && ps.output.contains(" Up "), ps.output)
        let label = try docker("w1", "inspect --format '{{index .Config.Labels \"com.docker.swarm.service.name\"}} {{.State.Running}}' \(id)")
        XCTAssertEqual(label.output.trimmingCharacters(in: .whitespacesAndNewlines), "web true", label.output)
        try cluster.waitUntil("a few lines were written", timeoutSeconds: 10) { try self.docker("w1", "logs \(id)").output.contains("out 3") }
        let logs = try docker("w1", "logs --tail 2 \(id)")
        XCTAssertEqual(logs.status, 0, logs.output)
        XCTAssertEqual(lines(logs.output).count, 2, logs.output)
        let top = try docker("w1", "top \(id)")
        XCTAssertTrue(top.output.contains("sh -c i=0"), top.output)
        let stats = try docker("w1", "stats --no-stream --format '{{.Name}} {{.PIDs}}'")
        XCTAssertTrue(stats.output.hasPrefix("web.1."), stats.output)
        // Streamed: a reading per second until the client leaves.
        let streamed = try docker("w1", "stats --format '{{.Name}}' \(id) | head -n 2")
        XCTAssertEqual(streamed.output.components(separatedBy: "web.1.").count - 1, 2, "two readings: \(streamed.output)")
        // exec on the process executor: a host process in the task's environment.
        let exec = try docker("w1", "exec \(id) sh -c 'echo in $PWD; exit 4'")
        XCTAssertEqual(exec.status, 4, exec.output)
        XCTAssertTrue(exec.output.hasPrefix("in /"), exec.output)
        let run = try docker("w1", "run --rm busybox true")
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.output.contains("use 'docker service create'"), run.output)

        // The manager: the last 3 lines of the merged stream, stamped when written, in order.
        let tail = try docker("m1", "service logs --since 5s --tail 3 -t web")
        XCTAssertEqual(tail.status, 0, tail.output)
        let stamped = lines(tail.output)
        XCTAssertEqual(stamped.count, 3, tail.output)
        let times = stamped.compactMap { $0.split(separator: " ").first.map(String.init) }
        XCTAssertEqual(times, times.sorted(), "merged by write time: \(tail.output)")
        XCTAssertTrue(stamped.contains { $0.contains("| out ") } && stamped.contains { $0.contains("| err ") }, tail.output)
        let now = Date().timeIntervalSince1970
        let formatter = ISO8601DateFormatter()
        for time in times {
            // Whole seconds are enough here: the time is within --since 5s of now.
            let seconds = formatter.date(from: String(time.prefix(19)) + "Z")?.timeIntervalSince1970 ?? 0
            XCTAssertTrue(now - 7 < seconds && seconds <= now + 1, "\(time) is a write time within --since 5s")
        }

        let until = String(format: "%.9f", Date().timeIntervalSince1970)
        let events = try docker("m1", "events --since 0 --until \(until)")
        XCTAssertEqual(events.status, 0, events.output)
        XCTAssertTrue(events.output.contains("service create") && events.output.contains("(name=web)"), events.output)
        XCTAssertTrue(events.output.contains("container start \(id)"), events.output)
        let ours = try cluster.cli("m1", ["events", "--since", "0", "--until", until, "--filter", "type=service"])
        XCTAssertEqual(ours.status, 0, ours.output)
        XCTAssertEqual(lines(ours.output).map { $0.split(separator: " ").dropFirst().prefix(2).joined(separator: " ") }, ["service create"], ours.output)
    }
}

