import Foundation
import Glibc
import Platform
import XCTest

/// The real docker CLI (and swarmctl's own flags) against a node with the OCI executor: each
/// container setting is observed from inside the task, through its logs. Skipped without root,
/// runc, a static busybox or the docker CLI (`.ci/run` installs runc and busybox-static).
final class ContainerSettingsEndToEndTests: XCTestCase {
    private static let dockerBinary = "/usr/local/bin/docker"
    private var cluster: TestCluster!

    override func setUpWithError() throws {
        guard getuid() == 0 else { throw XCTSkip("the OCI executor needs root") }
        guard ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc"].contains(where: FileSystem.exists) else {
            throw XCTSkip("the OCI executor needs runc: apt-get install -y runc")
        }
        guard FileSystem.exists("/bin/busybox") else { throw XCTSkip("needs a static busybox: apt-get install -y busybox-static") }
        guard FileSystem.exists(Self.dockerBinary) else { throw XCTSkip("the docker CLI is not installed at \(Self.dockerBinary)") }
        cluster = try TestCluster()
        cluster.nodeFlags = ["--raft-tick", "50ms", "--executor", "oci"]
        let rootfs = cluster.directory + "/rootfs"
        try shell("mkdir -p '\(rootfs)/bin' '\(rootfs)/etc' '\(rootfs)/tmp' && cp /bin/busybox '\(rootfs)/bin/' && "
            + "for a in $(/bin/busybox --list); do [ $a = busybox ] || ln -s busybox '\(rootfs)/bin/'$a; done && "
            + "printf 'root:x:0:0::/:/bin/sh\\nnobody:x:65534:65534::/:/bin/false\\n' > '\(rootfs)/etc/passwd' && "
            + "printf 'root:x:0:\\nnogroup:x:65534:\\n' > '\(rootfs)/etc/group'")
        let imported = try cluster.runOnce(["image", "import", "bb:1", rootfs, "--data-dir", cluster.directory + "/m1"])
        XCTAssertEqual(imported.status, 0, imported.output)
        try cluster.initialize("m1")
    }

    override func tearDown() {
        guard let cluster else { return }
        cluster.kill("m1")
        // The node's containers outlive its process: delete them through its runc state, then
        // lift the overlay mounts, before the directory goes.
        let state = cluster.directory + "/m1/runc"
        try? shell("for id in $(runc --root '\(state)' list -q); do runc --root '\(state)' delete --force $id; done; "
            + "grep '\(cluster.directory)' /proc/self/mountinfo | cut -d' ' -f5 | sort -r | xargs -r -n1 umount -l")
        cluster.tearDown()
    }

    private func shell(_ script: String) throws {
        let process = try ChildProcess.spawn("/bin/sh", arguments: ["-c", "{ \(script); } >/dev/null 2>&1"])
        XCTAssertEqual(try process.wait().exitCode, 0, script)
    }

    private var dockerHost: String {
        "unix://" + cluster.members["m1"]!.apiAddress.dropFirst("unix:".count)
    }

    /// `docker ARGS` against the node; its stdout and stderr together.
    @discardableResult
    private func docker(_ arguments: [String], expect status: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let (exitCode, text) = try runDocker(arguments)
        XCTAssertEqual(exitCode, status, "docker \(arguments.joined(separator: " ")): \(text)", file: file, line: line)
        return text
    }

    private func runDocker(_ arguments: [String]) throws -> (Int32?, String) {
        let quoted = ([Self.dockerBinary] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: #"'\''"#) + "'" }.joined(separator: " ")
        let environment = "DOCKER_HOST='\(dockerHost)' DOCKER_CONFIG='\(cluster.directory)/docker-config' DOCKER_CLI_HINTS=false"
        let process = try ChildProcess.spawn("/bin/sh", arguments: ["-c", "\(environment) exec \(quoted) 2>&1"])
        var output: [UInt8] = []
        while let chunk = try process.readOutput(timeoutMilliseconds: 60_000), !chunk.isEmpty { output += chunk }
        return (try process.wait().exitCode, String(decoding: output, as: UTF8.self))
    }

    /// Waits until the service's output holds every one of `expected`, and returns it.
    @discardableResult
    private func awaitOutput(_ service: String, _ expected: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        var logs = ""
        do {
            try cluster.waitUntil("\(service) printed \(expected)", timeoutSeconds: 30) {
                logs = try docker(["service", "logs", "--raw", service])
                return expected.allSatisfy(logs.contains)
            }
        } catch {
            let tasks = (try? docker(["service", "ps", "--no-trunc", service])) ?? ""
            XCTFail("\(service): \(logs)\n\(tasks)", file: file, line: line)
            throw error
        }
        return logs
    }

    func testMountsAndLimitsFromTheDockerCLIAreObservedInsideTheTasks() throws {
        let shared = cluster.directory + "/shared"
        try shell("mkdir -p '\(shared)' && echo 'hello from the node' > '\(shared)/x'")
        let create = ["service", "create", "-d", "--restart-delay", "100ms"]
        try docker(create + ["--name", "bind", "--mount", "type=bind,src=\(shared),dst=/data,readonly", "bb:1", "sh", "-c",
                             "cat /data/x; echo w > /data/y || echo write-refused; sleep 3600"])
        try docker(create + ["--name", "vol", "--mount", "type=volume,src=v1,dst=/v", "bb:1", "sh", "-c",
                             "echo runs=$(cat /v/count 2>/dev/null | wc -l); echo run >> /v/count; sleep 1"])
        try docker(create + ["--name", "tmp", "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m", "bb:1", "sh", "-c",
                             "grep ' /t ' /proc/self/mountinfo; sleep 3600"])
        try docker(create + ["--name", "ro", "--read-only", "bb:1", "sh", "-c", "touch /x || echo root-read-only; sleep 3600"])
        try docker(create + ["--name", "caps", "--cap-drop", "ALL", "bb:1", "sh", "-c", "grep CapEff /proc/self/status; sleep 3600"])
        try docker(create + ["--name", "ulimit", "--ulimit", "nofile=512", "bb:1", "sh", "-c", "echo nofile=$(ulimit -n); sleep 3600"])
        try docker(create + ["--name", "names", "--dns", "10.0.0.53", "--host", "db:10.0.0.7", "--group", "1234",
                             "--sysctl", "kernel.shmmni=1234", "bb:1", "sh", "-c",
                             "cat /etc/resolv.conf; grep db /etc/hosts; id -G; cat /proc/sys/kernel/shmmni; sleep 3600"])

        try docker(create + ["--name", "init", "--init", "bb:1", "sh", "-c", "echo pid1=$(tr '\\0' ' ' < /proc/1/cmdline); sleep 3600"])

        try awaitOutput("init", ["pid1=/sbin/docker-init -- sh -c"])
        try awaitOutput("bind", ["hello from the node", "Read-only file system", "write-refused"])
        XCTAssertFalse(FileSystem.exists(shared + "/y"))
        // The task exits after a second and is restarted: the next one sees what the first wrote.
        try awaitOutput("vol", ["runs=0", "runs=1"])
        // The node lists its volume; it cannot be removed while a task mounts it, and can after.
        XCTAssertEqual(try docker(["volume", "ls", "-q"]), "v1\n")
        XCTAssertTrue(try docker(["volume", "inspect", "v1"]).contains(cluster.directory + "/m1/volumes/v1"))
        XCTAssertTrue(try docker(["volume", "rm", "v1"], expect: 1).contains("volume is in use"))
        try docker(["service", "rm", "vol"])
        try cluster.waitUntil("v1 is removed once its tasks are gone", timeoutSeconds: 30) {
            try runDocker(["volume", "rm", "v1"]).0 == 0
        }
        XCTAssertFalse(FileSystem.exists(cluster.directory + "/m1/volumes/v1"))
        let tmpfs = try awaitOutput("tmp", [" /t "])
        XCTAssertTrue(tmpfs.contains(" - tmpfs ") && tmpfs.contains("size=1024k"), tmpfs)
        try awaitOutput("ro", ["root-read-only"])
        try awaitOutput("caps", ["CapEff:\t0000000000000000"])
        try awaitOutput("ulimit", ["nofile=512"])
        try awaitOutput("names", ["nameserver 10.0.0.53", "10.0.0.7\tdb", "0 1234", "1234"])

        // What the node cannot honour is refused, naming it: at create, or by rejecting the task.
        XCTAssertTrue(try docker(["service", "create", "--name", "netsys", "--sysctl", "net.ipv4.ip_forward=1", "bb:1", "true"], expect: 1)
            .contains("share the node's network namespace"))
        XCTAssertTrue(try docker(["service", "create", "--name", "tty", "--tty", "bb:1", "true"], expect: 1)
            .contains("unsupported field TaskTemplate.ContainerSpec.TTY"))
        try docker(create + ["--name", "missing", "--mount", "type=bind,src=/nonexistent/dir,dst=/data", "bb:1", "true"])
        try cluster.waitUntil("the task with a missing bind source is rejected", timeoutSeconds: 30) {
            try docker(["service", "ps", "--no-trunc", "missing"]).contains("bind source path /nonexistent/dir does not exist on this node")
        }
    }

    func testDefaultSeccompRefusesUnshareAndSwarmctlCanOptOut() throws {
        let script = "unshare -U -r true 2>&1 && echo unshared || echo refused; sleep 3600"
        try docker(["service", "create", "-d", "--name", "confined", "bb:1", "sh", "-c", script])
        let created = try cluster.cli("m1", ["service", "create", "-d", "--name", "unconfined", "--security-opt", "seccomp=unconfined",
                                              "bb:1", "sh", "-c", script])
        XCTAssertEqual(created.status, 0, created.output)
        try awaitOutput("confined", ["Operation not permitted", "refused"])
        try awaitOutput("unconfined", ["unshared"])
        XCTAssertTrue(try docker(["service", "inspect", "unconfined"]).contains(#""Mode": "unconfined""#))
    }
}
