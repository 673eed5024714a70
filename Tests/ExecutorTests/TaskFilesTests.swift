import Foundation
import Glibc
import Platform
import XCTest

@testable import Executor

/// Secrets handed to the executors: the process backend's private directory in /dev/shm
/// ($SWARMCTL_SECRETS_DIR), gone when the task exits and cleaned after a crash; the OCI bundle's
/// mounts (a tmpfs at /run/secrets, each file bound read-only).
final class TaskFilesTests: XCTestCase {
    private var root = ""

    override func setUpWithError() throws {
        root = try FileSystem.makeTemporaryDirectory(prefix: "task-files-tests-")
    }

    override func tearDownWithError() throws {
        try FileSystem.removeTree(root)
    }

    private func run(_ executor: ProcessExecutor, _ spec: TaskSpec) throws -> (ExitStatus?, String) {
        let id = try executor.prepare(spec)
        try executor.start(id) { _ in }
        let status = try executor.wait(id, timeoutMillis: 10_000)
        let deadline = Date().addingTimeInterval(5)
        var output = ""
        while Date() < deadline {
            output = String(decoding: try executor.logs(id, stream: .stdout), as: UTF8.self)
            if output.hasSuffix("end\n") { break }
            usleep(10_000)
        }
        try executor.remove(id)
        return (status, output)
    }

    func testAProcessTaskFindsItsSecretsInAPrivateDirectoryThatGoesWhenItExits() throws {
        let executor = try ProcessExecutor(root: root)
        var spec = TaskSpec(command: ["/bin/sh", "-c", #"cat "$SWARMCTL_SECRETS_DIR/db_pw"; echo; stat -c '%a' "$SWARMCTL_SECRETS_DIR" "$SWARMCTL_SECRETS_DIR/db_pw"; echo "$SWARMCTL_SECRETS_DIR"; echo end"#],
                            environment: ["SWARMCTL_SECRETS_DIR=/tmp/forged"])
        spec.files = [TaskFile(kind: .secret, target: "/run/secrets/db_pw", data: Array("hunter2".utf8), mode: 0o400)]
        let (status, output) = try run(executor, spec)
        XCTAssertEqual(status, .exited(code: 0))
        let lines = output.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.prefix(3), ["hunter2", "700", "400"], output)
        XCTAssertTrue(lines.count > 3 && lines[3].hasPrefix(executor.secretsRoot + "/"), "the node's own directory, not the forged one: \(output)")
        XCTAssertFalse(FileSystem.exists(lines.count > 3 ? lines[3] : "/"), "the directory is gone once the task ended")
    }

    func testConfigsAndNestedTargetsAreRefusedNamingWhy() throws {
        let executor = try ProcessExecutor(root: root)
        var config = TaskSpec(command: ["/bin/true"])
        config.files = [TaskFile(kind: .config, target: "/etc/app.conf", data: [1])]
        XCTAssertThrowsError(try executor.prepare(config)) { error in
            XCTAssertTrue("\(error)".contains("configs (--config)"), "\(error)")
        }
        var nested = TaskSpec(command: ["/bin/true"])
        nested.files = [TaskFile(kind: .secret, target: "/run/secrets/a/b", data: [1])]
        XCTAssertThrowsError(try executor.prepare(nested)) { error in
            XCTAssertTrue("\(error)".contains("not a file name under /run/secrets"), "\(error)")
        }
    }

    /// The agent's start removes the leftovers no task keeps; a re-adopted task keeps its secrets.
    func testWhatAKilledNodeLeftInSharedMemoryIsRemovedAtTheNextStartUnlessATaskKeepsIt() throws {
        let first = try ProcessExecutor(root: root)
        let leftover = first.secretsRoot + "/0123"
        let kept = first.secretsRoot + "/4567"
        try FileSystem.makeDirectories(leftover)
        try FileSystem.makeDirectories(kept)
        XCTAssertTrue(FileSystem.exists(leftover))
        let second = try ProcessExecutor(root: root)
        XCTAssertEqual(second.secretsRoot, first.secretsRoot)
        XCTAssertEqual(try second.removeLeftovers(keeping: [ContainerID("4567")]), [])
        XCTAssertFalse(FileSystem.exists(leftover))
        XCTAssertTrue(FileSystem.exists(kept), "the secrets of a task the agent re-adopts")
        try FileSystem.removeTree(kept)
    }

    func testTheOCIBundleBindsEachFileReadOnlyUnderATmpfsAtRunSecrets() {
        let files = [TaskFile(kind: .secret, target: "/run/secrets/db_pw", data: [1]), TaskFile(kind: .config, target: "/etc/app.conf", data: [2])]
        let mounts = OCIConfig.fileMounts(files, hostPaths: ["/run/swarmctl-secrets/x/c/0", "/run/swarmctl-secrets/x/c/1"])
        XCTAssertEqual(mounts.map(\.destination), ["/run/secrets", "/run/secrets/db_pw", "/etc/app.conf"])
        XCTAssertEqual(mounts[0].type, "tmpfs")
        XCTAssertTrue(["nosuid", "nodev", "noexec"].allSatisfy(mounts[0].options.contains))
        XCTAssertTrue(mounts.dropFirst().allSatisfy { $0.type == "bind" && $0.options.contains("ro") && $0.options.contains("noexec") })
        XCTAssertEqual(OCIConfig.fileMounts([files[1]], hostPaths: ["/x/1"]).map(\.destination), ["/etc/app.conf"],
                       "no /run/secrets tmpfs without a secret there")
        XCTAssertFalse("\(files)".contains("[1]"), "a task file's description hides its data")
    }
}
