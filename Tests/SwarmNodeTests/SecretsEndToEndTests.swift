import Foundation
import Glibc
import Platform
import XCTest

/// Secrets and configs on real nodes with the OCI executor, driven by the real docker CLI and
/// swarmctl: the task reads its secret from a read-only file on a tmpfs at /run/secrets, the data
/// is in no file under any node's data directory (nor in the node logs), a node without a task
/// referencing the secret never receives it, and `swarmctl secret update` rolls the service onto
/// the new value. Skipped without root, runc, a static busybox or the docker CLI. Tasks that get
/// stopped have a 1 s stop grace period: `sh` as a container's pid 1 ignores SIGTERM, so each
/// stop would otherwise wait the default 10 s for SIGKILL.
final class SecretsEndToEndTests: XCTestCase {
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
        cluster.nodeFlags = ["--raft-tick", "50ms", "--executor", "oci", "--snapshot-every", "20"]
        let rootfs = cluster.directory + "/rootfs"
        try run("mkdir -p '\(rootfs)/bin' '\(rootfs)/etc' '\(rootfs)/tmp' '\(rootfs)/run' && cp /bin/busybox '\(rootfs)/bin/' && "
            + "for a in $(/bin/busybox --list); do [ $a = busybox ] || ln -s busybox '\(rootfs)/bin/'$a; done && "
            + "printf 'root:x:0:0::/:/bin/sh\\n' > '\(rootfs)/etc/passwd' && printf 'root:x:0:\\n' > '\(rootfs)/etc/group'")
    }

    override func tearDown() {
        guard let cluster else { return }
        var secretsRoots: [String] = []
        for name in cluster.members.keys.sorted() {
            cluster.kill(name)
            let state = "\(cluster.directory)/\(name)/runc"
            _ = try? cluster.shell("for id in $(runc --root '\(state)' list -q); do runc --root '\(state)' delete --force $id; done")
            if let root = try? secretsRoot(of: name) { secretsRoots.append(root) }
        }
        let patterns = ([cluster.directory] + secretsRoots).map { "-e '\($0)'" }.joined(separator: " ")
        _ = try? cluster.shell("grep \(patterns) /proc/self/mountinfo | cut -d' ' -f5 | sort -r | xargs -r -n1 umount -l; "
            + secretsRoots.map { "rm -rf '\($0)'" }.joined(separator: "; "))
        cluster.tearDown()
    }

    @discardableResult
    private func run(_ script: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let (status, output) = try cluster.shell(script)
        XCTAssertEqual(status, 0, "\(script): \(output)", file: file, line: line)
        return output
    }

    private func importImage(into node: String) throws {
        let imported = try cluster.runOnce(["image", "import", "bb:1", cluster.directory + "/rootfs", "--data-dir", "\(cluster.directory)/\(node)"])
        XCTAssertEqual(imported.status, 0, imported.output)
    }

    /// `docker ARGS` against NAME's API, with `stdin` piped in; stdout and stderr together.
    @discardableResult
    private func docker(_ arguments: [String], stdin: String? = nil, via node: String = "m1", expect status: Int32? = 0,
                        file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let quoted = ([Self.dockerBinary] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: #"'\''"#) + "'" }.joined(separator: " ")
        let host = "unix://" + cluster.members[node]!.apiAddress.dropFirst("unix:".count)
        let input = stdin.map { "printf '%s' '\($0)' | " } ?? ""
        let (code, output) = try cluster.shell(
            "\(input)DOCKER_HOST='\(host)' DOCKER_CONFIG='\(cluster.directory)/docker-config' DOCKER_CLI_HINTS=false \(quoted)")
        if let status { XCTAssertEqual(code, status, "docker \(arguments.joined(separator: " ")): \(output)", file: file, line: line) }
        if status == nil && code != 0 { throw CommandFailed() }
        return output
    }

    private struct CommandFailed: Error {}

    @discardableResult
    private func awaitLogs(_ service: String, _ expected: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        var logs = ""
        do {
            try cluster.waitUntil("\(service) printed \(expected)", timeoutSeconds: 40) {
                logs = try docker(["service", "logs", "--raw", service])
                return expected.allSatisfy(logs.contains)
            }
        } catch {
            XCTFail("\(service): \(logs)\n\((try? docker(["service", "ps", "--no-trunc", service])) ?? "")", file: file, line: line)
            throw error
        }
        return logs
    }

    private func metric(_ node: String, _ name: String) throws -> Double {
        let response = try cluster.apiClient(node).send("GET", "/metrics")
        let text = String(decoding: response.body, as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + " ") }), let value = Double(line.split(separator: " ")[1]) else {
            XCTFail("no \(name) in \(node)'s metrics")
            return -1
        }
        return value
    }

    /// Where NAME's OCI executor mounts its tasks' secrets: /run/swarmctl-secrets/ and the first
    /// 16 hex digits of the SHA-256 of its data directory's path.
    private func secretsRoot(of name: String) throws -> String {
        let digest = try cluster.shell("printf '%s' '\(cluster.directory)/\(name)' | sha256sum | cut -c1-16").output
        return "/run/swarmctl-secrets/" + digest.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Mounts of m1's task tmpfs now.
    private func mountsOfSecretsTmpfs() throws -> Int {
        let output = try run("grep -c ' \(try secretsRoot(of: "m1"))/' /proc/self/mountinfo || true")
        return output.split(separator: "\n").compactMap { Int($0) }.first ?? 0
    }

    /// Acceptance: `docker secret create db_pw -`, `docker config create`, then a service reading
    /// both: the log shows the content, /run/secrets is a tmpfs and the file is read-only; the
    /// secret is in no API answer; the node-side tmpfs goes with the task.
    func testDockerSecretAndConfigAreReadOnlyFilesOnATmpfsInsideTheTask() throws {
        try importImage(into: "m1")
        try cluster.initialize("m1")
        let value = "pw-\(UInt64.random(in: 0..<UInt64.max))"
        let baseline = try mountsOfSecretsTmpfs()
        let secretID = try docker(["secret", "create", "db_pw", "-"], stdin: value).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(secretID.count, 25, secretID)
        try docker(["secret", "create", "other_pw", "-"], stdin: "not-for-this-task")
        try run("printf 'listen 8080' > '\(cluster.directory)/app.conf'")
        try docker(["config", "create", "app_conf", "\(cluster.directory)/app.conf"])
        XCTAssertTrue(try docker(["secret", "ls"]).contains("db_pw"))
        XCTAssertTrue(try docker(["config", "inspect", "--pretty", "app_conf"]).contains("listen 8080"))
        XCTAssertFalse(try docker(["secret", "inspect", "db_pw"]).contains(value))

        let script = "cat /run/secrets/db_pw; echo; cat /etc/app.conf; echo; echo secrets: $(ls /run/secrets); grep -E ' /run/secrets(/db_pw)? ' /proc/self/mountinfo; "
            + "stat -c 'mode=%a' /run/secrets/db_pw; (echo x > /run/secrets/db_pw) 2>/dev/null || echo write-refused; sleep 3600"
        try docker(["service", "create", "-d", "--name", "reader", "--stop-grace-period", "1s", "--secret", "db_pw", "--config", "source=app_conf,target=/etc/app.conf",
                    "bb:1", "sh", "-c", script])
        let logs = try awaitLogs("reader", [value, "listen 8080", "mode=444", "write-refused"])
        XCTAssertTrue(logs.contains("secrets: db_pw\n"), "the task sees only its own secret: \(logs)")
        let mountLines = logs.split(separator: "\n").filter { $0.contains(" /run/secrets") }
        let directory = mountLines.first { $0.split(separator: " ")[4] == "/run/secrets" }
        let file = mountLines.first { $0.split(separator: " ")[4] == "/run/secrets/db_pw" }
        XCTAssertTrue(directory?.contains(" - tmpfs ") ?? false, "/run/secrets is a tmpfs: \(logs)")
        XCTAssertTrue(file.map { $0.split(separator: " ")[5].hasPrefix("ro") && $0.contains(" - tmpfs ") } ?? false,
                      "the secret is a read-only file of a tmpfs: \(logs)")
        XCTAssertTrue(directory.map { ["nosuid", "nodev", "noexec"].allSatisfy($0.contains) } ?? false, logs)
        XCTAssertEqual(try mountsOfSecretsTmpfs(), baseline + 1, "one node-side tmpfs for the task")
        XCTAssertFalse(try docker(["service", "inspect", "reader"]).contains(value), "service inspect never shows the secret")

        // `--secret-rm` / `--secret-add` as in Docker: the reference moves to another target.
        try docker(["service", "update", "-d", "--secret-rm", "db_pw", "--secret-add", "source=db_pw,target=renamed", "reader"])
        let references = try docker(["service", "inspect", "--format", "{{json .Spec.TaskTemplate.ContainerSpec.Secrets}}", "reader"])
        XCTAssertTrue(references.contains(#""Name":"renamed""#) && references.contains(secretID), references)
        XCTAssertTrue(try docker(["secret", "rm", "db_pw"], expect: 1).contains("reader"), "rm is refused naming the service")
        try docker(["service", "rm", "reader"])
        try cluster.waitUntil("the task's secrets tmpfs is unmounted", timeoutSeconds: 30) { try self.mountsOfSecretsTmpfs() == baseline }
        try cluster.waitUntil("the secret can be removed", timeoutSeconds: 10) {
            (try? self.docker(["secret", "rm", "db_pw"], expect: nil)) != nil
        }
    }

    /// Acceptance: after a task used a random secret on a manager and a worker and a snapshot
    /// was taken, `grep -a` finds the value in no file under any data directory (nor in the node
    /// logs). And the node with no referencing task never received it, and forgets after the end.
    func testTheSecretIsInNoFileOfAnyDataDirectoryAndOnlyOnTheNodeThatNeedsIt() throws {
        try importImage(into: "m1")
        try importImage(into: "w1")
        try cluster.initialize("m1")
        try cluster.join("w1", as: "worker", via: "m1")
        try cluster.waitUntil("the worker is ready", timeoutSeconds: 30) {
            try self.docker(["node", "ls"]).split(separator: "\n").filter { $0.contains("Ready") }.count == 2
        }
        let value = "leak-\(UInt64.random(in: 0..<UInt64.max))-\(UInt64.random(in: 0..<UInt64.max))"
        try docker(["secret", "create", "leak", "-"], stdin: value)
        // The task proves it read the value without printing it (its log is under the data dir).
        let digest = try run("printf '%s' '\(value)' | md5sum | cut -d' ' -f1").trimmingCharacters(in: .whitespacesAndNewlines)
        try docker(["service", "create", "-d", "--name", "everywhere", "--mode", "global", "--stop-grace-period", "1s", "--secret", "leak", "bb:1", "sh", "-c",
                    "md5sum /run/secrets/leak; sleep 3600"])
        try docker(["service", "create", "-d", "--name", "manager-only", "--constraint", "node.role==manager", "--secret", "leak",
                    "bb:1", "sh", "-c", "md5sum /run/secrets/leak; sleep 3600"])
        try cluster.waitUntil("both nodes ran a task that read the secret", timeoutSeconds: 40) {
            try self.docker(["service", "logs", "--raw", "everywhere"]).components(separatedBy: digest).count - 1 >= 2
        }
        // Enough writes for a snapshot (snapshot-every 20), then check the files of both nodes.
        for index in 0..<25 { try docker(["service", "create", "-d", "--name", "filler\(index)", "--replicas", "0", "bb:1", "true"]) }
        try cluster.waitUntil("the manager took a snapshot", timeoutSeconds: 20) {
            try self.run("find '\(self.cluster.directory)/m1' -path '*snap*' -type f | wc -l").trimmingCharacters(in: .whitespacesAndNewlines) != "0"
        }
        let base64 = Data(value.utf8).base64EncodedString()
        // The control: the same search does find what the tasks printed (their logs are under the data dirs).
        for node in ["m1", "w1"] {
            XCTAssertNotEqual(try run("grep -r -a -l -F -e '\(digest)' '\(cluster.directory)/\(node)' || true").trimmingCharacters(in: .whitespacesAndNewlines),
                              "", "the search reaches \(node)'s task logs")
        }
        for node in ["m1", "w1"] {
            let found = try run("grep -r -a -l -F -e '\(value)' -e '\(base64)' '\(cluster.directory)/\(node)' '\(cluster.directory)/\(node).log' || true")
            XCTAssertEqual(found.trimmingCharacters(in: .whitespacesAndNewlines), "", "\(node)'s files hold the secret")
        }
        XCTAssertGreaterThanOrEqual(try metric("w1", "swarmctl_agent_payload_deliveries_total"), 1)

        // A second secret only the manager-only service... is given to a new service pinned to
        // the manager: the worker never receives it.
        let before = try metric("w1", "swarmctl_agent_payload_deliveries_total")
        try docker(["secret", "create", "manager_pw", "-"], stdin: "only-for-m1")
        try docker(["service", "create", "-d", "--name", "pinned", "--constraint", "node.role==manager", "--secret", "manager_pw",
                    "bb:1", "sh", "-c", "md5sum /run/secrets/manager_pw; sleep 3600"])
        try awaitLogs("pinned", [" /run/secrets/manager_pw"])
        XCTAssertEqual(try metric("w1", "swarmctl_agent_payload_deliveries_total"), before, "the worker never received manager_pw")
        // The worker's only referencing task ends: it forgets the secret.
        try docker(["service", "rm", "everywhere"])
        try cluster.waitUntil("the worker forgot the secret", timeoutSeconds: 30) {
            try self.metric("w1", "swarmctl_agent_payloads_held") == 0 && self.metric("w1", "swarmctl_agent_payload_forgets_total") >= 1
        }
    }

    /// Acceptance: `swarmctl secret update` with a new value replaces every task of the service
    /// under its update config (one at a time here), and each new task reads the new value.
    func testSecretUpdateRollsTheServiceAndEveryNewTaskReadsTheNewValue() throws {
        try importImage(into: "m1")
        try cluster.initialize("m1")
        try docker(["secret", "create", "db_pw", "-"], stdin: "old-value")
        try docker(["service", "create", "-d", "--name", "api", "--replicas", "3", "--update-parallelism", "1", "--update-delay", "200ms",
                    "--update-monitor", "500ms", "--stop-grace-period", "1s", "--secret", "db_pw", "bb:1", "sh", "-c", "echo \"value=$(cat /run/secrets/db_pw)\"; sleep 3600"])
        try awaitLogs("api", ["value=old-value"])
        func runningTasks() throws -> [String] {
            try docker(["service", "ps", "-q", "--no-trunc", "--filter", "desired-state=running", "api"])
                .split(separator: "\n").map(String.init)
        }
        try cluster.waitUntil("3 tasks run", timeoutSeconds: 30) { try runningTasks().count == 3 }
        let oldTasks = Set(try runningTasks())

        let update = try cluster.shell("printf 'new-value' | '\(cluster.binary)' -H '\(cluster.members["m1"]!.apiAddress)' secret update db_pw")
        XCTAssertEqual(update.status, 0, update.output)
        XCTAssertTrue(update.output.contains("revision 2") && update.output.contains("rolling service api"), update.output)
        var logs = ""
        try cluster.waitUntil("every task was replaced and reads the new value", timeoutSeconds: 60) {
            let tasks = try runningTasks()
            guard tasks.count == 3, oldTasks.isDisjoint(with: tasks) else { return false }
            logs = try docker(["service", "logs", "--no-trunc", "api"])
            return tasks.allSatisfy { task in logs.split(separator: "\n").contains { $0.contains(task) && $0.hasSuffix("value=new-value") } }
        }
        for task in try runningTasks() {
            XCTAssertFalse(logs.split(separator: "\n").contains { $0.contains(task) && $0.contains("value=old-value") }, "\(task) read the old value")
        }
        try cluster.waitUntil("the rolling update completes", timeoutSeconds: 30) {
            try self.docker(["service", "inspect", "--format", "{{.UpdateStatus.State}}", "api"]).contains("completed")
        }
        let listed = try cluster.cli("m1", ["secret", "ls"])
        XCTAssertTrue(listed.output.contains("db_pw") && listed.output.split(separator: "\n").last?.contains(" 2 ") == true, listed.output)
    }
}
