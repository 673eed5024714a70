@testable import API
import ClusterState
import Foundation
import Platform
import XCTest

/// The real docker CLI 28 against the network routes: `network create/ls/inspect/rm`,
/// `service create --network -p`, `service update --publish-add/--publish-rm/--network-rm`, and
/// `stack deploy/ls/services/ps/rm`, with a secret too (a fake control plane: the state is real, no task runs).
extension DockerCLIAgainstFakeTests {
    private func requireDocker() throws {
        guard FileSystem.exists(Self.dockerBinary) else { throw XCTSkip("the docker CLI is not installed at \(Self.dockerBinary)") }
    }

    func testDockerNetworkCreateListInspectRemoveAndServicesOnIt() throws {
        try requireDocker()
        var counter = 0
        let (plane, harness, socket) = try serveFakeCluster(newID: {
            counter += 1
            return "obj\(counter)" + String(repeating: "x", count: 22 - String(counter).count)
        })
        let run = { (arguments: [String]) throws -> Output in try self.docker(socket, harness.directory.path, arguments) }

        let created = try run(["network", "create", "-d", "overlay", "--subnet", "10.10.0.0/24", "--label", "team=a", "front"])
        XCTAssertEqual(created.status, 0, created.stderr)
        let frontID = try XCTUnwrap(plane.state.networking.network(named: "front")?.id)
        XCTAssertEqual(created.stdout, frontID + "\n")
        let bridge = try run(["network", "create", "plain"])
        XCTAssertNotEqual(bridge.status, 0)
        XCTAssertTrue(bridge.stderr.contains("network driver bridge is not available: only overlay networks exist in this cluster"), bridge.stderr)

        let listed = try run(["network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"])
        XCTAssertEqual(listed.status, 0, listed.stderr)
        XCTAssertEqual(listed.lines, ["front overlay swarm", "ingress overlay swarm"])
        let filtered = try run(["network", "ls", "-q", "--no-trunc", "--filter", "label=team=a"])
        XCTAssertEqual(filtered.lines, [frontID], filtered.stderr)
        let inspected = try run(["network", "inspect", "front", "--format", "{{(index .IPAM.Config 0).Subnet}} {{(index .IPAM.Config 0).Gateway}} {{.Labels.team}}"])
        XCTAssertEqual(inspected.lines, ["10.10.0.0/24 10.10.0.1 a"], inspected.stderr)

        let service = try run(["service", "create", "--detach", "--no-resolve-image", "--name", "web", "--network", "front", "-p", "8080:80",
                               "--publish", "published=9090,target=90,protocol=udp,mode=host", "busybox:1", "sleep", "3600"])
        XCTAssertEqual(service.status, 0, service.stderr)
        let web = try XCTUnwrap(plane.state.service(named: "web"))
        XCTAssertEqual(web.spec.taskTemplate.networks, [NetworkAttachmentConfig(target: frontID)], "the name became the id")
        let endpoint = try run(["service", "inspect", "web", "--format",
                                "{{range .Endpoint.Ports}}{{.PublishMode}}:{{.PublishedPort}}->{{.TargetPort}}/{{.Protocol}} {{end}}{{len .Endpoint.VirtualIPs}}"])
        XCTAssertEqual(endpoint.lines, ["ingress:8080->80/tcp host:9090->90/udp 2"], endpoint.stderr)
        let ls = try run(["service", "ls", "--format", "{{.Name}} {{.Ports}}"])
        XCTAssertEqual(ls.lines, ["web *:8080->80/tcp"], ls.stderr)

        let taken = try run(["service", "create", "--detach", "--no-resolve-image", "--name", "api", "-p", "8080:81", "busybox:1", "true"])
        XCTAssertNotEqual(taken.status, 0)
        XCTAssertTrue(taken.stderr.contains("port '8080' is already in use by service 'web'"), taken.stderr)
        let unknown = try run(["service", "create", "--detach", "--no-resolve-image", "--name", "api", "--network", "nope", "busybox:1", "true"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("network nope not found"), unknown.stderr)

        let inUse = try run(["network", "rm", "front"])
        XCTAssertNotEqual(inUse.status, 0)
        XCTAssertTrue(inUse.stderr.contains("network front is in use by service web"), inUse.stderr)

        let update = try run(["service", "update", "--detach", "--no-resolve-image", "--publish-rm", "80", "--publish-add", "8081:81",
                              "--network-rm", "front", "web"])
        XCTAssertEqual(update.status, 0, update.stderr)
        let after = try XCTUnwrap(plane.state.service(named: "web"))
        XCTAssertNil(after.spec.taskTemplate.networks)
        XCTAssertEqual(after.endpoint?.ports.map { "\($0.publishMode ?? ""):\($0.publishedPort ?? 0)" }.sorted(), ["host:9090", "ingress:8081"])
        XCTAssertNil(plane.state.networking.ingressPorts["tcp/8080"], "the removed port is free again")

        let removed = try run(["network", "rm", "front"])
        XCTAssertEqual(removed.status, 0, removed.stderr)
        XCTAssertNil(plane.state.networking.network(named: "front"))
        XCTAssertEqual(try run(["network", "create", "-d", "overlay", "back"]).status, 0)
        let added = try run(["service", "update", "--detach", "--no-resolve-image", "--network-add", "name=back,alias=api", "web"])
        XCTAssertEqual(added.status, 0, added.stderr)
        let backID = try XCTUnwrap(plane.state.networking.network(named: "back")?.id)
        XCTAssertEqual(plane.state.service(named: "web")?.spec.taskTemplate.networks, [NetworkAttachmentConfig(target: backID, aliases: ["api"])])
        let host = try run(["service", "create", "--detach", "--no-resolve-image", "--name", "h", "--network", "host", "busybox:1", "true"])
        XCTAssertNotEqual(host.status, 0)
        XCTAssertTrue(host.stderr.contains("this cluster has overlay networks only"), host.stderr)
    }

    func testDockerStackDeployListsAndRemovesTheStack() throws {
        try requireDocker()
        let (plane, harness, socket) = try serveFakeCluster(newID: { DockerNames.randomID() })
        let run = { (arguments: [String]) throws -> Output in try self.docker(socket, harness.directory.path, arguments) }
        let compose = harness.directory.path + "/compose.yml"
        try """
        services:
          web:
            image: busybox:1
            command: ["httpd", "-f", "-p", "80"]
            ports: ["8080:80"]
            deploy:
              replicas: 3
          client:
            image: busybox:1
            command: ["sh", "-c", "while true; do wget -qO- http://web/; sleep 1; done"]
            networks: [default, back]
        networks:
          back:
            driver: overlay
        """.write(toFile: compose, atomically: true, encoding: .utf8)

        let deployed = try run(["stack", "deploy", "--detach=true", "--resolve-image", "never", "-c", compose, "app"])
        XCTAssertEqual(deployed.status, 0, deployed.stderr)
        XCTAssertEqual(Set(plane.state.services.values.map(\.spec.name)), ["app_web", "app_client"])
        XCTAssertEqual(Set(plane.state.sortedNetworks.map(\.spec.name)), ["ingress", "app_default", "app_back"])
        XCTAssertEqual(plane.state.networking.network(named: "app_default")?.spec.labels["com.docker.stack.namespace"], "app")
        let web = try XCTUnwrap(plane.state.service(named: "app_web"))
        XCTAssertEqual(web.endpoint?.ports.first?.publishedPort, 8080)
        XCTAssertEqual(web.spec.taskTemplate.networks?.first?.aliases, ["web"], "the compose service name is an alias on its networks")

        // A second deploy of the same file changes nothing (the CLI updates each service with what it has).
        let again = try run(["stack", "deploy", "--detach=true", "--resolve-image", "never", "-c", compose, "app"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertNil(plane.state.service(named: "app_web")?.updateStatus, "an unchanged redeploy starts no rolling update")

        let stacks = try run(["stack", "ls", "--format", "{{.Name}} {{.Services}}"])
        XCTAssertEqual(stacks.lines, ["app 2"], stacks.stderr)
        let services = try run(["stack", "services", "app", "--format", "{{.Name}} {{.Ports}}"])
        XCTAssertEqual(services.lines.sorted(), ["app_client ", "app_web *:8080->80/tcp"], services.stderr)
        let tasks = try run(["stack", "ps", "app"])
        XCTAssertTrue(tasks.status == 0 || tasks.stderr.contains("nothing found in stack: app"), tasks.stderr)

        let removed = try run(["stack", "rm", "app"])
        XCTAssertEqual(removed.status, 0, removed.stderr)
        XCTAssertTrue(plane.state.services.isEmpty)
        XCTAssertEqual(plane.state.sortedNetworks.map(\.spec.name), ["ingress"], "no task runs in the fake, so the networks go at once")

        // A stack with a secret: its secret is created with the stack and removed with it.
        let withSecret = harness.directory.path + "/secret.yml"
        try """
        services:
          web:
            image: busybox:1
            secrets: [token]
        secrets:
          token:
            file: ./compose.yml
        """.write(toFile: withSecret, atomically: true, encoding: .utf8)
        let secretStack = try run(["stack", "deploy", "--detach=true", "--resolve-image", "never", "-c", withSecret, "sec"])
        XCTAssertEqual(secretStack.status, 0, secretStack.stderr)
        XCTAssertEqual(plane.state.service(named: "sec_web")?.spec.taskTemplate.containerSpec.secrets?.map(\.secretName), ["sec_token"])
        let secretRemoved = try run(["stack", "rm", "sec"])
        XCTAssertEqual(secretRemoved.status, 0, secretRemoved.stderr)
        XCTAssertTrue(plane.state.services.isEmpty && plane.state.secretObjects.isEmpty)
    }
}
