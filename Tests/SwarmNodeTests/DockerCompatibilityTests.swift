import Foundation
import Glibc
import Platform
import XCTest

/// The real docker CLI and docker-py against a real one-manager swarmctl cluster, checked against
/// what they print for dockerd 20.10 (reference/docker-api/cli and sdk). Skipped when the client
/// is not installed. Tasks only run once orchestration lands, so running counts are not asserted.
final class DockerCompatibilityTests: XCTestCase {
    private static let dockerBinary = "/usr/local/bin/docker"
    private var cluster: TestCluster!
    private var netns: NetnsNodes?

    override func tearDown() {
        if let netns, let cluster { XCTAssertEqual(netns.tearDown(cluster: cluster), [], "network namespaces left behind") }
        cluster?.tearDown()
    }

    /// `networked`: m1 in its own network namespace with the OCI executor (`NetnsNodes`), so
    /// tasks on networks run (a process-executor node rejects them).
    private func startCluster(networked: Bool = false) throws {
        cluster = try TestCluster()
        if networked { netns = try NetnsNodes(cluster: cluster, nodes: ["m1"], images: ["busybox"]) }
        try cluster.initialize("m1", extraFlags: netns?.flags("m1") ?? [])
    }

    private var socketPath: String {
        let address = cluster.members["m1"]!.apiAddress
        return address.hasPrefix("unix:") ? String(address.dropFirst("unix:".count)) : address
    }

    private struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
    }

    /// Runs `PROGRAM ARGS` with the cluster's socket as DOCKER_HOST and a private DOCKER_CONFIG;
    /// killed after `timeoutSeconds`.
    private func run(_ program: String, _ arguments: [String], timeoutSeconds: Double = 60) throws -> Output {
        let errorFile = "\(cluster.directory)/client-\(UInt64.random(in: 0...UInt64.max)).err"
        let quoted = ([program] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: #"'\''"#) + "'" }.joined(separator: " ")
        let environment = "DOCKER_HOST='unix://\(socketPath)' DOCKER_CONFIG='\(cluster.directory)/docker-config' DOCKER_CLI_HINTS=false"
        let process = try ChildProcess.spawn("/bin/sh", arguments: ["-c", "\(environment) exec \(quoted) 2>'\(errorFile)'"])
        var output: [UInt8] = []
        let deadline = monotonicNanoseconds() + UInt64(timeoutSeconds * 1e9)
        while true {
            guard monotonicNanoseconds() < deadline else {
                try? process.kill()
                _ = try? process.wait()
                XCTFail("\(program) \(arguments.joined(separator: " ")) did not finish within \(timeoutSeconds) s")
                throw CancellationError()
            }
            guard let chunk = try process.readOutput(timeoutMilliseconds: 200) else { break }
            output += chunk
        }
        let result = try process.wait()
        let stderr = (try? String(contentsOfFile: errorFile, encoding: .utf8)) ?? ""
        return Output(status: result.exitCode ?? -1, stdout: String(decoding: output, as: UTF8.self), stderr: stderr)
    }

    @discardableResult
    private func docker(_ arguments: String..., expect status: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) throws -> Output {
        let result = try run(Self.dockerBinary, arguments)
        XCTAssertEqual(result.status, status, "docker \(arguments.joined(separator: " ")):\n\(result.stdout)\n\(result.stderr)", file: file, line: line)
        return result
    }

    /// Whitespace-separated words of a table's header line.
    private func header(_ output: Output) -> [String] {
        output.lines.first.map { $0.split(separator: " ").map(String.init) } ?? []
    }

    private func inspect(_ service: String) throws -> [String: Any] {
        let output = try docker("service", "inspect", service)
        let parsed = try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [[String: Any]]
        XCTAssertEqual(parsed?.count, 1)
        return parsed?.first ?? [:]
    }

    func testDockerCLIDrivesAServiceThroughItsLifecycle() throws {
        guard FileSystem.exists(Self.dockerBinary) else { throw XCTSkip("the docker CLI is not installed at \(Self.dockerBinary)") }
        try startCluster()

        // Headers and values as in cli/06-node-ls.md and cli/05-info-swarm.md.
        let nodes = try docker("node", "ls")
        XCTAssertEqual(header(nodes), ["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER", "STATUS", "ENGINE", "VERSION"])
        XCTAssertEqual(nodes.lines.count, 2, nodes.stdout)
        let nodeRow = nodes.lines.last?.split(separator: " ").map(String.init) ?? []
        XCTAssertEqual(nodeRow.count >= 5 ? Array(nodeRow[1...1] + nodeRow[3...5]) : [], ["*", "Ready", "Active", "Leader"], nodes.stdout)
        let nodeID = nodeRow.first ?? ""

        let info = try docker("info")
        for expected in ["Swarm: active", "NodeID: \(nodeID)", "Is Manager: true", "Managers: 1", "Nodes: 1",
                         "Task History Retention Limit: 5", "Node Address: 127.0.0.1"] {
            XCTAssertTrue(info.stdout.contains(expected), "docker info lacks '\(expected)':\n\(info.stdout)")
        }

        // `create` prints the new id (cli/13-service-create.md); without --no-resolve-image the CLI
        // asks /distribution first, gets a 404 and goes on with a warning, as against a fake server.
        let created = try docker("service", "create", "--detach", "--name", "web", "--replicas", "3", "busybox", "sleep", "3600")
        let serviceID = created.lines.last ?? ""
        XCTAssertEqual(serviceID.count, 25, created.stdout)
        XCTAssertTrue(serviceID.allSatisfy { $0.isLowercase || $0.isNumber }, serviceID)

        let list = try docker("service", "ls")
        XCTAssertEqual(header(list), ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"], "cli/14-service-ls.md")
        let row = list.lines.dropFirst().first?.split(separator: " ").map(String.init) ?? []
        XCTAssertEqual(row.first, String(serviceID.prefix(12)))
        XCTAssertEqual(row.count >= 5 ? Array(row[1...2]) : [], ["web", "replicated"], list.stdout)
        XCTAssertTrue(row.count >= 4 && row[3].hasSuffix("/3"), "replicas N/3: \(list.stdout)")
        XCTAssertTrue(row.count >= 5 && row[4].hasPrefix("busybox"), list.stdout)
        // Once the tasks run (process executor), `docker service ls` shows 3/3 as against dockerd.
        let converged = Date().addingTimeInterval(20)
        var replicas = ""
        while Date() < converged {
            replicas = (try docker("service", "ls").lines.dropFirst().first?.split(separator: " ").map(String.init) ?? []).dropFirst(3).first ?? ""
            if replicas == "3/3" { break }
            usleep(100_000)
        }
        XCTAssertEqual(replicas, "3/3", "docker service ls once the tasks run")

        let tasks = try docker("service", "ps", "web")
        XCTAssertEqual(header(tasks), ["ID", "NAME", "IMAGE", "NODE", "DESIRED", "STATE", "CURRENT", "STATE", "ERROR", "PORTS"], "cli/15-service-ps.md")
        for line in tasks.lines.dropFirst() { XCTAssertTrue(line.contains("web."), line) }
        let missing = try docker("service", "ps", "nosuchservice", expect: 1)
        XCTAssertTrue(missing.stderr.contains("no such service: nosuchservice"), missing.stderr)

        // `inspect` asks with insertDefaults=true: dockerd's defaults appear (cli/16-service-inspect.md).
        let inspected = try inspect("web")
        XCTAssertEqual(inspected["ID"] as? String, serviceID)
        XCTAssertEqual(Set(inspected.keys), ["ID", "Version", "CreatedAt", "UpdatedAt", "Spec", "Endpoint"])
        XCTAssertEqual(inspected[path: "Spec", "Name"] as? String, "web")
        XCTAssertEqual(inspected[path: "Spec", "Mode", "Replicated", "Replicas"] as? Int, 3)
        XCTAssertEqual(inspected[path: "Spec", "TaskTemplate", "ContainerSpec", "Args"] as? [String], ["sleep", "3600"])
        XCTAssertEqual(inspected[path: "Spec", "TaskTemplate", "ContainerSpec", "StopGracePeriod"] as? Int, 10_000_000_000)
        XCTAssertEqual(inspected[path: "Spec", "TaskTemplate", "RestartPolicy", "Condition"] as? String, "any")
        XCTAssertEqual(inspected[path: "Spec", "UpdateConfig", "Order"] as? String, "stop-first")
        XCTAssertEqual(inspected[path: "Spec", "TaskTemplate", "Runtime"] as? String, "container")
        let pretty = try docker("service", "inspect", "--pretty", "web")
        XCTAssertTrue(pretty.stdout.contains("Name:\t\tweb"), pretty.stdout)
        XCTAssertTrue(pretty.stdout.contains("Replicas:\t3"), pretty.stdout)

        // cli/18-service-scale.md: "web scaled to 5" (the progress display is skipped with --detach).
        let scaled = try docker("service", "scale", "--detach", "web=5")
        XCTAssertEqual(scaled.lines.first, "web scaled to 5")
        let afterScale = try inspect("web")
        XCTAssertEqual(afterScale[path: "Spec", "Mode", "Replicated", "Replicas"] as? Int, 5)
        XCTAssertNil(afterScale["UpdateStatus"], "scaling is not a rolling update")
        XCTAssertTrue(try docker("service", "ls").stdout.contains("/5"))

        let updated = try docker("service", "update", "--detach", "--env-add", "A=1", "web")
        XCTAssertEqual(updated.lines.first, "web")
        let afterUpdate = try inspect("web")
        XCTAssertEqual(afterUpdate[path: "Spec", "TaskTemplate", "ContainerSpec", "Env"] as? [String], ["A=1"])
        XCTAssertNil(afterUpdate[path: "PreviousSpec", "TaskTemplate", "ContainerSpec", "Env"])
        XCTAssertTrue(["updating", "completed"].contains(afterUpdate[path: "UpdateStatus", "State"] as? String ?? ""),
                      "\(afterUpdate["UpdateStatus"] ?? "no UpdateStatus")")

        let rolledBack = try docker("service", "rollback", "--detach", "web")
        XCTAssertEqual(rolledBack.lines.first, "web")
        let afterRollback = try inspect("web")
        XCTAssertNil(afterRollback[path: "Spec", "TaskTemplate", "ContainerSpec", "Env"])
        XCTAssertEqual(afterRollback[path: "Spec", "Mode", "Replicated", "Replicas"] as? Int, 5)
        XCTAssertTrue(["rollback_started", "rollback_completed"].contains(afterRollback[path: "UpdateStatus", "State"] as? String ?? ""))
        XCTAssertEqual(afterRollback[path: "UpdateStatus", "Message"] as? String, "manually requested rollback")

        // cli/29-service-rm.md prints the name; the errors/ files give the rest.
        XCTAssertEqual(try docker("service", "rm", "web").lines, ["web"])
        XCTAssertEqual(try docker("service", "ls").lines.count, 1, "only the header is left")
        let gone = try docker("service", "inspect", "web", expect: 1)
        XCTAssertTrue(gone.stderr.contains("no such service: web"), gone.stderr)
        let removeAgain = try docker("service", "rm", "web", expect: 1)
        XCTAssertTrue(removeAgain.stderr.contains("service web not found"), removeAgain.stderr)
    }

    /// `docker stack deploy` on a real one-node cluster (OCI executor in its own network namespace,
    /// as tasks on networks need task networking): the stack's networks
    /// and services are created, the tasks run with addresses on the stack network and ingress,
    /// `stack ls|services|ps` show them, and `stack rm` removes services and networks at once
    /// (the tasks stop afterwards, as with dockerd).
    func testDockerStackDeployRunsAndRemovesAStack() throws {
        guard FileSystem.exists(Self.dockerBinary) else { throw XCTSkip("the docker CLI is not installed at \(Self.dockerBinary)") }
        try NetnsNodes.requirements()
        try startCluster(networked: true)
        let compose = "\(cluster.directory)/compose.yml"
        try """
        services:
          web:
            image: busybox
            command: ["sleep", "3600"]
            ports: ["8080:80"]
            deploy:
              replicas: 2
          client:
            image: busybox
            command: ["sleep", "3600"]
        """.write(toFile: compose, atomically: true, encoding: .utf8)
        try docker("stack", "deploy", "--detach=true", "--resolve-image", "never", "-c", compose, "app")
        XCTAssertEqual(try docker("stack", "ls", "--format", "{{.Name}} {{.Services}}").lines, ["app 2"])
        XCTAssertEqual(try docker("network", "ls", "--format", "{{.Name}}").lines, ["app_default", "ingress"])

        var running: [String] = []
        let deadline = monotonicNanoseconds() + 60_000_000_000
        while monotonicNanoseconds() < deadline {
            running = try docker("stack", "ps", "app", "--filter", "desired-state=running", "--format", "{{.CurrentState}}").lines
            if running.count == 3 && running.allSatisfy({ $0.hasPrefix("Running") }) { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        XCTAssertEqual(running.count, 3, "three tasks of the stack run: \(running)")
        XCTAssertEqual(try docker("service", "inspect", "app_web", "--format", "{{len .Endpoint.VirtualIPs}} {{(index .Endpoint.Ports 0).PublishedPort}}").lines,
                       ["2 8080"], "a VIP on ingress and on app_default")
        let taskIDs = try docker("stack", "ps", "app", "-q", "--no-trunc", "--filter", "name=app_web").lines
        XCTAssertEqual(taskIDs.count, 2)
        for id in taskIDs {
            let networks = try docker("inspect", "--type", "task", id, "--format",
                                      "{{range .NetworksAttachments}}{{.Network.Spec.Name}}={{index .Addresses 0}} {{end}}").stdout
            XCTAssertTrue(networks.hasPrefix("ingress=10.0.0.") && networks.contains("app_default=10.0.1."), networks)
        }

        try docker("stack", "rm", "app")
        XCTAssertEqual(try docker("stack", "ls", "--format", "{{.Name}}").lines, [])
        XCTAssertEqual(try docker("network", "ls", "--format", "{{.Name}}").lines, ["ingress"])
    }

    func testDockerPySDK() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Compat/docker_py_compat.py").path
        guard FileSystem.exists(script) else { throw XCTSkip("\(script) is missing") }
        let probe = try ChildProcess.spawn("/bin/sh", arguments: ["-c", "exec python3 -c 'import docker' 2>/dev/null"])
        while let chunk = try probe.readOutput(timeoutMilliseconds: 10_000), !chunk.isEmpty {}
        guard try probe.wait().exitCode == 0 else { throw XCTSkip("python3 with the docker module (docker-py) is not installed") }
        try startCluster()

        let result = try run("python3", [script, socketPath], timeoutSeconds: 120)
        XCTAssertEqual(result.status, 0, "docker_py_compat.py:\n\(result.stdout)\n\(result.stderr)")
        XCTAssertEqual(result.lines.last, "ok", result.stdout + result.stderr)
    }
}
