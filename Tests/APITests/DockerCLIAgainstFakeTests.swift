@testable import API
import ClusterState
import Foundation
import Glibc
import Platform
import XCTest

/// The real docker CLI against the routes and a fake control plane holding tasks in every
/// state, so the task JSON is checked by the client that renders it (`service ps`, `service ls`
/// counts, `node ps`) before orchestration produces real tasks. Skipped without the CLI.
final class DockerCLIAgainstFakeTests: XCTestCase {
    static let dockerBinary = "/usr/local/bin/docker"

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
    }

    func docker(_ socket: String, _ directory: String, _ arguments: [String]) throws -> Output {
        let quoted = ([Self.dockerBinary] + arguments).map { "'\($0)'" }.joined(separator: " ")
        let errorFile = "\(directory)/docker.err"
        let process = try ChildProcess.spawn("/bin/sh", arguments: [
            "-c", "DOCKER_HOST='unix://\(socket)' DOCKER_CONFIG='\(directory)/config' DOCKER_CLI_HINTS=false exec \(quoted) 2>'\(errorFile)'",
        ])
        var output: [UInt8] = []
        let deadline = monotonicNanoseconds() + 30_000_000_000
        while let chunk = try process.readOutput(timeoutMilliseconds: 200) {
            output += chunk
            if monotonicNanoseconds() > deadline {
                try? process.kill()
                break
            }
        }
        let status = try process.wait().exitCode ?? -1
        let stderr = (try? String(contentsOfFile: errorFile, encoding: .utf8)) ?? ""
        return Output(status: status, stdout: String(decoding: output, as: UTF8.self), stderr: stderr)
    }

    private func words(_ line: String) -> [String] { line.split(separator: " ").map(String.init) }

    /// A fake cluster behind the Docker API on a unix socket in a fresh directory, for the real
    /// docker CLI; the CLI's config directory there is removed after the test.
    func serveFakeCluster(newID: @escaping () -> String) throws -> (plane: FakeControlPlane, harness: ServerHarness, socket: String) {
        let plane = FakeControlPlane()
        let api = DockerAPI(controlPlane: plane, identity: ServerIdentity(version: "0.1.0", arch: "amd64", kernelVersion: "6.1"),
                            now: { Timestamp(millisecondsSinceEpoch: UInt64(Date().timeIntervalSince1970 * 1000)) },
                            newID: newID)
        nonisolated(unsafe) let router = api
        let harness = try startServer { request, responder in router.handle(request, responder) }
        addTeardownBlock { try? FileSystem.removeTree(harness.directory.path + "/config") }
        return (plane, harness, harness.directory.path + "/api.sock")
    }

    func testServicePsLsAndNodePsRenderOurTasks() throws {
        guard FileSystem.exists(Self.dockerBinary) else { throw XCTSkip("the docker CLI is not installed at \(Self.dockerBinary)") }
        let (plane, harness, socket) = try serveFakeCluster(newID: { "websvc0000000000000000000" })

        let created = try docker(socket, harness.directory.path, ["service", "create", "--detach", "--no-resolve-image", "--name", "web",
                                                                  "--replicas", "3", "busybox:1", "sleep", "3600"])
        XCTAssertEqual(created.status, 0, created.stderr)
        XCTAssertEqual(created.lines, ["websvc0000000000000000000"])

        // One running task per node for slots 1 and 2 (slot 1 with a shut-down predecessor), slot 3 pending.
        try harness.onLoop {
            let service = plane.state.services["websvc0000000000000000000"]!
            let now = UInt64(Date().timeIntervalSince1970 * 1000)
            func task(_ id: String, slot: UInt64, node: String?, desired: TaskState, state: TaskState, age: UInt64) -> SwarmTask {
                SwarmTask(id: id, createdAt: Timestamp(millisecondsSinceEpoch: now - age - 1000), serviceID: service.id, slot: slot, nodeID: node,
                          spec: service.spec.taskTemplate, desiredState: desired,
                          status: TaskStatus(timestamp: Timestamp(millisecondsSinceEpoch: now - age), state: state, message: state.rawValue,
                                             err: state == .shutdown ? "task: non-zero exit (137)" : nil,
                                             containerStatus: ContainerStatus(containerID: "c\(id)", pid: 1, exitCode: 0)))
            }
            _ = plane.apply(.createTasks(tasks: [
                task("taskold1aaaaaaaaaaaaaaaaaa", slot: 1, node: "node1aaaaaaaaaaaaaaaaaaaaa", desired: .shutdown, state: .shutdown, age: 60_000),
                task("tasknew1bbbbbbbbbbbbbbbbbb", slot: 1, node: "node1aaaaaaaaaaaaaaaaaaaaa", desired: .running, state: .running, age: 30_000),
                task("tasknew2cccccccccccccccccc", slot: 2, node: "node2bbbbbbbbbbbbbbbbbbbbb", desired: .running, state: .running, age: 30_000),
                task("tasknew3dddddddddddddddddd", slot: 3, node: nil, desired: .running, state: .pending, age: 5_000),
            ]))
        }

        let list = try docker(socket, harness.directory.path, ["service", "ls"])
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertEqual(list.lines.count, 2, list.stdout)
        XCTAssertEqual(words(list.lines.last ?? ""), ["websvc000000", "web", "replicated", "2/3", "busybox:1"])

        let ps = try docker(socket, harness.directory.path, ["service", "ps", "web"])
        XCTAssertEqual(ps.status, 0, ps.stderr)
        let rows = ps.lines.dropFirst().map(words)
        XCTAssertEqual(rows.count, 4, ps.stdout)
        guard rows.count == 4 else { return }
        // As cli/15-service-ps.md: ID, NAME, IMAGE, NODE, DESIRED STATE, CURRENT STATE (humanised), ERROR.
        XCTAssertEqual(Array(rows[0].prefix(6)), ["tasknew1bbbb", "web.1", "busybox:1", "alpha", "Running", "Running"])
        XCTAssertEqual(Array(rows[1].prefix(7)), ["taskold1aaaa", "\\_", "web.1", "busybox:1", "alpha", "Shutdown", "Shutdown"])
        XCTAssertTrue(ps.lines[2].contains(#""task: non-zero exit (137)""#), ps.stdout)
        XCTAssertEqual(Array(rows[2].prefix(6)), ["tasknew2cccc", "web.2", "busybox:1", "beta", "Running", "Running"])
        XCTAssertEqual(Array(rows[3].prefix(5)), ["tasknew3dddd", "web.3", "busybox:1", "Running", "Pending"])
        XCTAssertTrue(ps.lines[1].contains("30 seconds ago"), ps.stdout)

        let running = try docker(socket, harness.directory.path, ["service", "ps", "--filter", "desired-state=running", "-q", "web"])
        XCTAssertEqual(running.lines, ["tasknew1bbbbbbbbbbbbbbbbbb", "tasknew2cccccccccccccccccc", "tasknew3dddddddddddddddddd"], "-q prints full ids")

        let nodePs = try docker(socket, harness.directory.path, ["node", "ps", "beta"])
        XCTAssertEqual(nodePs.status, 0, nodePs.stderr)
        XCTAssertEqual(nodePs.lines.dropFirst().map { Array(words($0).prefix(4)) }, [["tasknew2cccc", "web.2", "busybox:1", "beta"]])

        let inspectTask = try docker(socket, harness.directory.path, ["inspect", "--type", "task", "tasknew2"])
        XCTAssertEqual(inspectTask.status, 0, inspectTask.stderr)
        XCTAssertTrue(inspectTask.stdout.contains(#""ServiceID": "websvc0000000000000000000""#), inspectTask.stdout)
    }

    /// Without `--detach` the CLI polls the service, `_up-to-date` tasks and nodes until every slot
    /// runs an up-to-date task for `UpdateConfig.Monitor`; here the "orchestrator" is a thread
    /// that adds running tasks once the service exists.
    func testCreateProgressConvergesOnUpToDateRunningTasks() throws {
        guard FileSystem.exists(Self.dockerBinary) else { throw XCTSkip("the docker CLI is not installed at \(Self.dockerBinary)") }
        let (plane, harness, socket) = try serveFakeCluster(newID: { "progsvc000000000000000000" })

        let orchestrator = PlatformThread(name: "fake-orchestrator") {
            let deadline = monotonicNanoseconds() + 20_000_000_000
            while monotonicNanoseconds() < deadline {
                let done = (try? harness.onLoop { () -> Bool in
                    guard let service = plane.state.services["progsvc000000000000000000"] else { return false }
                    let now = Timestamp(millisecondsSinceEpoch: UInt64(Date().timeIntervalSince1970 * 1000))
                    let tasks = [("node1aaaaaaaaaaaaaaaaaaaaa", UInt64(1)), ("node2bbbbbbbbbbbbbbbbbbbbb", UInt64(2))].map { node, slot in
                        SwarmTask(id: "progtask\(slot)" + String(repeating: "x", count: 16), createdAt: now, serviceID: service.id, slot: slot,
                                  nodeID: node, spec: service.spec.taskTemplate,
                                  status: TaskStatus(timestamp: now, state: .running, message: "started"))
                    }
                    _ = plane.apply(.createTasks(tasks: tasks))
                    return true
                }) ?? false
                if done { return }
                usleep(20_000)
            }
        }
        defer { orchestrator.join() }
        let started = monotonicNanoseconds()
        let created = try docker(socket, harness.directory.path, ["service", "create", "--name", "prog", "--replicas", "2", "--update-monitor", "300ms",
                                                                  "--no-resolve-image", "busybox:1", "sleep", "3600"])
        XCTAssertEqual(created.status, 0, created.stdout + created.stderr)
        XCTAssertEqual(created.lines.first, "progsvc000000000000000000")
        XCTAssertTrue(created.stdout.contains("overall progress: 2 out of 2 tasks"), created.stdout)
        XCTAssertTrue(created.stdout.contains("verify: Service progsvc000000000000000000 converged"), created.stdout)
        XCTAssertLessThan(monotonicNanoseconds() - started, 15_000_000_000)
    }

    /// The docker CLI's flags for settings this cluster does not implement reach the API as set
    /// fields, and each is refused with a message naming the field (never created and ignored);
    /// those it implements arrive and are kept as the CLI sends them.
    func testUnimplementedDockerFlagsAreRefusedNamingTheField() throws {
        guard FileSystem.exists(Self.dockerBinary) else { throw XCTSkip("the docker CLI is not installed at \(Self.dockerBinary)") }
        let (plane, harness, socket) = try serveFakeCluster(newID: { DockerNames.randomID() })
        let cases: [([String], String)] = [
            (["--tty"], "TaskTemplate.ContainerSpec.TTY"),
            (["--mount", "type=volume,src=v1,dst=/v,volume-driver=nfs"], "TaskTemplate.ContainerSpec.Mounts.VolumeOptions.DriverConfig"),
            (["--mount", "type=bind,src=/srv,dst=/d,bind-recursive=disabled"], "TaskTemplate.ContainerSpec.Mounts.BindOptions.NonRecursive"),
            (["--log-driver", "syslog"], "TaskTemplate.LogDriver"),
            (["--network", "name=ingress,driver-opt=com.docker.network.driver.mtu=1400"], "TaskTemplate.Networks.DriverOpts"),
        ]
        for (index, (flags, field)) in cases.enumerated() {
            let result = try docker(socket, harness.directory.path, ["service", "create", "--detach", "--no-resolve-image", "--name", "s\(index)"]
                                    + flags + ["busybox:1", "sleep", "3600"])
            XCTAssertNotEqual(result.status, 0, "\(flags) was accepted: \(result.stdout)")
            XCTAssertTrue(result.stderr.contains("unsupported field \(field): "), "\(flags): \(result.stderr)")
        }
        XCTAssertTrue(plane.state.services.isEmpty, "no refused service was created")
        // The CLI's defaults on a plain create still pass.
        let plain = try docker(socket, harness.directory.path, ["service", "create", "--detach", "--no-resolve-image", "--name", "plain", "busybox:1", "true"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertEqual(plane.state.services.count, 1)
        // The container settings that are implemented arrive as the CLI sends them and are kept.
        let settings = try docker(socket, harness.directory.path, [
            "service", "create", "--detach", "--no-resolve-image", "--name", "settings", "--read-only", "--mount", "type=tmpfs,dst=/t",
            "--mount", "type=bind,src=/srv,dst=/data,readonly", "--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "--ulimit", "nofile=512",
            "--dns", "192.0.2.53", "--sysctl", "kernel.shmmni=1234", "--group", "wheel", "--host", "db:192.0.2.1", "--init", "busybox:1", "true"])
        XCTAssertEqual(settings.status, 0, settings.stderr)
        let container = plane.state.services.values.first { $0.spec.name == "settings" }?.spec.taskTemplate.containerSpec
        XCTAssertEqual(container?.readOnly, true)
        XCTAssertEqual(container?.mounts, [Mount(type: "tmpfs", target: "/t"), Mount(type: "bind", source: "/srv", target: "/data", readOnly: true)])
        XCTAssertEqual(container?.capabilityDrop, ["ALL"])
        XCTAssertEqual(container?.capabilityAdd, ["CAP_NET_ADMIN"])
        XCTAssertEqual(container?.ulimits, [Ulimit(name: "nofile", soft: 512, hard: 512)])
        XCTAssertEqual(container?.dnsConfig?.nameservers, ["192.0.2.53"])
        XCTAssertEqual(container?.sysctls, ["kernel.shmmni": "1234"])
        XCTAssertEqual(container?.groups, ["wheel"])
        XCTAssertEqual(container?.hosts, ["192.0.2.1 db"])
        XCTAssertEqual(container?.initProcess, true)
        // A net.* sysctl would change the node's own network settings: refused, naming it.
        let net = try docker(socket, harness.directory.path, ["service", "create", "--detach", "--no-resolve-image", "--name", "net",
                                                              "--sysctl", "net.core.somaxconn=1024", "busybox:1", "true"])
        XCTAssertTrue(net.status != 0 && net.stderr.contains("sysctl net.core.somaxconn: tasks share the node's network namespace"), net.stderr)
    }

    /// `docker swarm update --cert-expiry` sets the validity the CA issues node certificates for
    /// (`ClusterSigner.nodeValiditySeconds`); below Docker's 1 h minimum it is refused, naming it.
    func testDockerSwarmUpdateCertExpiry() throws {
        guard FileSystem.exists(Self.dockerBinary) else { throw XCTSkip("the docker CLI is not installed at \(Self.dockerBinary)") }
        let (plane, harness, socket) = try serveFakeCluster(newID: { DockerNames.randomID() })
        let updated = try docker(socket, harness.directory.path, ["swarm", "update", "--cert-expiry", "720h"])
        XCTAssertEqual(updated.status, 0, updated.stderr)
        XCTAssertEqual(plane.state.cluster?.spec.caConfig?.nodeCertExpiry, 720 * 3_600 * 1_000_000_000)
        let refused = try docker(socket, harness.directory.path, ["swarm", "update", "--cert-expiry", "30m"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("minimum certificate expiry time is 1h0m0s"), refused.stderr)
        XCTAssertEqual(plane.state.cluster?.spec.caConfig?.nodeCertExpiry, 720 * 3_600 * 1_000_000_000)
    }

    /// `docker swarm update --autolock=true` prints the unlock key it reads back from the API;
    /// `unlock-key -q` shows the same key, `--rotate` replaces it, `--autolock=false` removes it.
    func testDockerSwarmAutolockAndUnlockKey() throws {
        guard FileSystem.exists(Self.dockerBinary) else { throw XCTSkip("the docker CLI is not installed at \(Self.dockerBinary)") }
        let (plane, harness, socket) = try serveFakeCluster(newID: { DockerNames.randomID() })
        let enabled = try docker(socket, harness.directory.path, ["swarm", "update", "--autolock=true"])
        XCTAssertEqual(enabled.status, 0, enabled.stderr)
        let key = try XCTUnwrap(plane.state.managerUnlockKey)
        XCTAssertTrue(enabled.stdout.contains(key), enabled.stdout)
        let shown = try docker(socket, harness.directory.path, ["swarm", "unlock-key", "-q"])
        XCTAssertEqual(shown.stdout.trimmingCharacters(in: .whitespacesAndNewlines), key, shown.stderr)
        let rotated = try docker(socket, harness.directory.path, ["swarm", "unlock-key", "--rotate", "-q"])
        XCTAssertEqual(rotated.status, 0, rotated.stderr)
        let newKey = try XCTUnwrap(plane.state.managerUnlockKey)
        XCTAssertNotEqual(newKey, key)
        XCTAssertEqual(rotated.stdout.trimmingCharacters(in: .whitespacesAndNewlines), newKey)
        let disabled = try docker(socket, harness.directory.path, ["swarm", "update", "--autolock=false"])
        XCTAssertEqual(disabled.status, 0, disabled.stderr)
        XCTAssertNil(plane.state.managerUnlockKey)
        let none = try docker(socket, harness.directory.path, ["swarm", "unlock-key", "-q"])
        XCTAssertNotEqual(none.status, 0)
        XCTAssertTrue(none.stderr.contains("no unlock key is set"), none.stderr)
    }

    /// `docker events --since 0 --until NOW` prints the create, update and remove of a service and
    /// its task container's start and die (from the task's reported states); `--filter` narrows
    /// them; docker-py's `client.events(decode=True)` reads the same window and then a live event.
    func testDockerEventsAndDockerPyEventsShowServiceAndContainerHistory() throws {
        guard FileSystem.exists(Self.dockerBinary) else { throw XCTSkip("the docker CLI is not installed at \(Self.dockerBinary)") }
        let (plane, harness, socket) = try serveFakeCluster(newID: { "evsvc0000000000000000000" + "0" })
        let directory = harness.directory.path
        XCTAssertEqual(try docker(socket, directory, ["service", "create", "--detach", "--no-resolve-image", "--name", "web",
                                                      "busybox:1", "sleep", "3600"]).status, 0)
        @Sendable func nowStamp() -> Timestamp { Timestamp(millisecondsSinceEpoch: UInt64(Date().timeIntervalSince1970 * 1000)) }
        @Sendable func report(_ state: TaskState, exitCode: Int64?) -> ClusterCommand {
            .updateTaskStatuses(updates: [TaskStatusUpdate(taskID: "evtask1aaaaaaaaaaaaaaaaaa", status: TaskStatus(
                timestamp: nowStamp(), state: state, message: state.rawValue,
                containerStatus: ContainerStatus(containerID: "ctr1", pid: 9, exitCode: exitCode)))])
        }
        try harness.onLoop {
            let service = plane.state.services["evsvc00000000000000000000"]!
            _ = plane.apply(.createTasks(tasks: [SwarmTask(id: "evtask1aaaaaaaaaaaaaaaaaa", createdAt: nowStamp(), serviceID: service.id, slot: 1,
                                                           nodeID: "node2bbbbbbbbbbbbbbbbbbbbb", spec: service.spec.taskTemplate,
                                                           status: TaskStatus(timestamp: nowStamp(), state: .assigned, message: "assigned"))]))
            _ = plane.apply(report(.running, exitCode: nil))
        }
        XCTAssertEqual(try docker(socket, directory, ["service", "update", "--detach", "--no-resolve-image", "--image", "busybox:2", "web"]).status, 0)
        try harness.onLoop { _ = plane.apply(report(.shutdown, exitCode: 137)) }
        XCTAssertEqual(try docker(socket, directory, ["service", "rm", "web"]).status, 0)
        let until = String(format: "%.9f", Date().timeIntervalSince1970)

        let everything = try docker(socket, directory, ["events", "--since", "0", "--until", until])
        XCTAssertEqual(everything.status, 0, everything.stderr)
        // The cluster's ingress network is created with it.
        XCTAssertEqual(everything.lines.filter { words($0).dropFirst().first == "network" }.map { words($0).dropFirst().prefix(2).joined(separator: " ") },
                       ["network create"], everything.stdout)
        XCTAssertTrue(everything.stdout.contains("(name=ingress, type=overlay)"), everything.stdout)
        let all = Output(status: everything.status, stdout: everything.lines.filter { words($0).dropFirst().first != "network" }.joined(separator: "\n"),
                         stderr: everything.stderr)
        // TIME TYPE ACTION ID (ATTRIBUTES): everything after the time.
        let rows = all.lines.map { words($0).dropFirst().prefix(3).joined(separator: " ") }
        XCTAssertEqual(rows, ["node create node1aaaaaaaaaaaaaaaaaaaaa", "node create node2bbbbbbbbbbbbbbbbbbbbb", "node create node3ccccccccccccccccccccc",
                              "service create evsvc00000000000000000000", "container start ctr1", "service update evsvc00000000000000000000",
                              "container die ctr1", "service remove evsvc00000000000000000000"], all.stdout)
        XCTAssertTrue(all.lines[4].contains("com.docker.swarm.service.name=web") && all.lines[4].contains("name=web.1.evtask1aaaaaaaaaaaaaaaaaa"),
                      all.lines[4])
        XCTAssertTrue(all.lines[6].contains("exitCode=137"), all.lines[6])
        XCTAssertTrue(all.lines[7].hasSuffix("(name=web)"), all.lines[7])

        let containers = try docker(socket, directory, ["events", "--since", "0", "--until", until, "--filter", "type=container",
                                                        "--filter", "event=die"])
        XCTAssertEqual(containers.lines.map { words($0).dropFirst().prefix(3).joined(separator: " ") }, ["container die ctr1"], containers.stdout)
        let badFilter = try docker(socket, directory, ["events", "--since", "0", "--until", until, "--filter", "type=spaceship"])
        XCTAssertNotEqual(badFilter.status, 0)
        XCTAssertTrue(badFilter.stderr.contains("invalid filter 'type=spaceship'"), badFilter.stderr)

        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Compat/docker_py_events.py").path
        let python = try ChildProcess.spawn("/bin/sh", arguments: ["-c", "exec python3 '\(script)' '\(socket)' '\(until)' 2>&1"])
        var output: [UInt8] = []
        let deadline = monotonicNanoseconds() + 30_000_000_000
        while let chunk = try python.readOutput(timeoutMilliseconds: 200) {
            output += chunk
            if monotonicNanoseconds() > deadline {
                try? python.kill()
                break
            }
        }
        let status = try python.wait().exitCode
        let text = String(decoding: output, as: UTF8.self)
        guard status == 0, text.contains("ok") else {
            if text.contains("No module named 'docker'") { throw XCTSkip("docker-py is not installed") }
            return XCTFail("docker_py_events.py failed (\(String(describing: status))):\n\(text)")
        }
        let pyLines = text.split(separator: "\n").map(String.init)
        XCTAssertEqual(pyLines.filter { $0.hasPrefix("past service") || $0.hasPrefix("past container") },
                       ["past service create web", "past container start web.1.evtask1aaaaaaaaaaaaaaaaaa", "past service update web",
                        "past container die web.1.evtask1aaaaaaaaaaaaaaaaaa", "past service remove web"], text)
        XCTAssertTrue(pyLines.contains("live service create pylive"), text)
    }
}
