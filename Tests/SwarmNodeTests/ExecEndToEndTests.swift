import Foundation
import Glibc
import Platform
import XCTest

/// `docker exec` with the real docker CLI and docker-py against a worker running its task with
/// the OCI executor (runc): output and `$$`, exit codes, stdin with `-i`, a terminal with `-it`
/// (the CLI runs under `script` so it has one), an exec the client abandons ends its process, a
/// container of another node is not found, and `docker stats` streams readings. Skipped without
/// root, runc, a static busybox, the docker CLI, `script` or docker-py.
final class ExecEndToEndTests: XCTestCase {
    private static let dockerBinary = "/usr/local/bin/docker"
    private var cluster: TestCluster!

    override func setUpWithError() throws {
        guard getuid() == 0 else { throw XCTSkip("the OCI executor needs root") }
        guard ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc"].contains(where: FileSystem.exists) else {
            throw XCTSkip("the OCI executor needs runc: apt-get install -y runc")
        }
        guard FileSystem.exists("/bin/busybox") else { throw XCTSkip("needs a static busybox: apt-get install -y busybox-static") }
        guard FileSystem.exists(Self.dockerBinary) else { throw XCTSkip("the docker CLI is not installed at \(Self.dockerBinary)") }
        guard FileSystem.exists("/usr/bin/script") else { throw XCTSkip("needs script (util-linux) to give the docker CLI a terminal") }
        cluster = try TestCluster()
        cluster.nodeFlags = ["--raft-tick", "50ms", "--executor", "oci"]
        let rootfs = cluster.directory + "/rootfs"
        try shell("mkdir -p '\(rootfs)/bin' '\(rootfs)/etc' '\(rootfs)/tmp' && cp /bin/busybox '\(rootfs)/bin/' && "
            + "for a in $(/bin/busybox --list); do [ $a = busybox ] || ln -s busybox '\(rootfs)/bin/'$a; done && "
            + "printf 'root:x:0:0::/:/bin/sh\\nnobody:x:65534:65534::/:/bin/false\\n' > '\(rootfs)/etc/passwd' && "
            + "printf 'root:x:0:\\nnogroup:x:65534:\\n' > '\(rootfs)/etc/group'")
        let imported = try cluster.runOnce(["image", "import", "bb:1", rootfs, "--data-dir", cluster.directory + "/w1"])
        XCTAssertEqual(imported.status, 0, imported.output)
        try cluster.initialize("m1")
        try cluster.join("w1", as: "worker", via: "m1")
    }

    override func tearDown() {
        guard let cluster else { return }
        cluster.kill("w1")
        cluster.kill("m1")
        for node in ["m1", "w1"] {
            let state = cluster.directory + "/\(node)/runc"
            try? shell("for id in $(runc --root '\(state)' list -q); do runc --root '\(state)' delete --force $id; done")
        }
        try? shell("grep '\(cluster.directory)' /proc/self/mountinfo | cut -d' ' -f5 | sort -r | xargs -r -n1 umount -l")
        cluster.tearDown()
    }

    private func shell(_ script: String) throws {
        let process = try ChildProcess.spawn("/bin/sh", arguments: ["-c", "{ \(script); } >/dev/null 2>&1"])
        XCTAssertEqual(try process.wait().exitCode, 0, script)
    }

    private func socket(_ node: String) -> String {
        String(cluster.members[node]!.apiAddress.dropFirst("unix:".count))
    }

    private func environment(_ node: String) -> String {
        "DOCKER_HOST='unix://\(socket(node))' DOCKER_CONFIG='\(cluster.directory)/docker-config' DOCKER_CLI_HINTS=false"
    }

    /// A shell command line with the docker CLI pointed at NODE (`docker` is the CLI).
    private func run(_ node: String, _ commandLine: String) throws -> (status: Int32, output: String) {
        try cluster.shell("\(environment(node)); export DOCKER_HOST DOCKER_CONFIG DOCKER_CLI_HINTS; docker() { \(Self.dockerBinary) \"$@\"; }; "
                          + commandLine)
    }

    private func trimmed(_ text: String) -> String { text.trimmingCharacters(in: .whitespacesAndNewlines) }

    func testDockerExecOnTheWorkerThatRunsTheTask() throws {
        try cluster.waitUntil("the worker is ready", timeoutSeconds: 30) {
            try self.cluster.nodes(via: "m1").filter { ($0["Status"] as? [String: Any])?["State"] as? String == "ready" }.count == 2
        }
        let created = try run("m1", "docker service create -d --name shell --constraint node.role==worker --no-resolve-image bb:1 sleep 100000")
        XCTAssertEqual(created.status, 0, created.output)
        try cluster.waitUntil("the task container runs on the worker", timeoutSeconds: 60) {
            try self.run("w1", "docker ps -q").output.split(separator: "\n").count == 1
        }
        let id = trimmed(try run("w1", "docker ps -q").output)

        let pid = try run("w1", "docker exec \(id) sh -c 'echo $$'")
        XCTAssertEqual(pid.status, 0, pid.output)
        XCTAssertGreaterThan(Int(trimmed(pid.output)) ?? 0, 1, "the shell's pid inside the container: \(pid.output)")
        let code = try run("w1", "docker exec \(id) sh -c 'echo out; echo err >&2; exit 3'")
        XCTAssertEqual(code.status, 3, "the exit code comes back: \(code.output)")
        XCTAssertTrue(code.output.contains("out") && code.output.contains("err"), code.output)
        // dockerd's codes for a command that cannot run, from the node's typed reason (runc itself
        // would exit 255): 127 not found (in the PATH the exec gets), 126 not executable.
        for (command, status) in [("no-such-command", 127), ("-e PATH=/nowhere \(id) sh -c true", 127), ("/etc/passwd", 126), ("/tmp", 126)] {
            let failed = try run("w1", command.hasPrefix("-e") ? "docker exec \(command)" : "docker exec \(id) \(command)")
            XCTAssertEqual(failed.status, Int32(status), "docker exec \(command): \(failed.output)")
        }
        let input = try run("w1", "printf 'one\\ntwo\\n' | docker exec -i \(id) sh -c 'wc -l; echo env=$E' ")
        XCTAssertEqual(input.status, 0, input.output)
        XCTAssertTrue(input.output.hasPrefix("2"), "stdin reached the process, then its end: \(input.output)")
        let settings = try run("w1", "docker exec -e E=set -w /tmp -u nobody \(id) sh -c 'echo $E $(pwd) $(id -u)'")
        XCTAssertEqual(trimmed(settings.output), "set /tmp 65534", settings.output)

        let terminal = try run("w1", "script -qec \"\(Self.dockerBinary) exec -it \(id) sh -c 'tty; echo pid \\$\\$; exit 5'\" /dev/null")
        XCTAssertEqual(terminal.status, 5, terminal.output)
        XCTAssertTrue(terminal.output.contains("/dev/pts/"), "a terminal inside: \(terminal.output)")
        XCTAssertTrue(terminal.output.contains("pid "), terminal.output)

        let elsewhere = try run("m1", "docker exec \(id) true")
        XCTAssertNotEqual(elsewhere.status, 0)
        XCTAssertTrue(elsewhere.output.contains("No such container"), "exec only where the task runs: \(elsewhere.output)")
        let privileged = try run("w1", "docker exec --privileged \(id) true")
        XCTAssertNotEqual(privileged.status, 0)
        XCTAssertTrue(privileged.output.contains("Privileged"), privileged.output)

        // A client that goes away ends what it started.
        let abandoned = try cluster.shell("\(environment("w1")) exec \(Self.dockerBinary) exec \(id) sh -c 'sleep 4321' >/dev/null 2>&1 & "
                                          + "echo $!")
        let client = trimmed(abandoned.output)
        try cluster.waitUntil("the exec's sleep runs", timeoutSeconds: 20) {
            try self.cluster.shell("pgrep -fx 'sleep 432[1]'").status == 0
        }
        _ = try cluster.shell("kill -9 \(client)")
        try cluster.waitUntil("the exec's sleep is gone", timeoutSeconds: 20) {
            try self.cluster.shell("pgrep -fx 'sleep 432[1]'").status != 0
        }

        let stats = try run("w1", "docker stats --no-stream --format '{{.Name}} {{.PIDs}}' \(id)")
        XCTAssertTrue(stats.output.hasPrefix("shell.1."), stats.output)

        // docker-py: exec_run, and two streamed stats readings, the second carrying the first as precpu.
        let python = """
            import docker, sys
            client = docker.DockerClient(base_url='unix://\(socket("w1"))')
            container = client.containers.get('\(id)')
            result = container.exec_run(['sh', '-c', 'echo py; exit 4'])
            print('exec', result.exit_code, result.output.decode().strip())
            readings = client.api.stats('\(id)', stream=True, decode=True)
            first, second = next(readings), next(readings)
            print('stats', second['precpu_stats']['cpu_usage']['total_usage'] == first['cpu_stats']['cpu_usage']['total_usage'])
            """
        try python.write(toFile: cluster.directory + "/exec.py", atomically: true, encoding: .utf8)
        let sdk = try cluster.shell("python3 '\(cluster.directory)/exec.py'")
        guard !sdk.output.contains("No module named 'docker'") else { throw XCTSkip("docker-py is not installed") }
        XCTAssertTrue(sdk.output.contains("exec 4 py"), sdk.output)
        XCTAssertTrue(sdk.output.contains("stats True"), sdk.output)
    }
}
