import Foundation
import Glibc
import Platform
import XCTest
@testable import SwarmNode

/// The data dir holds join tokens, credentials and task env values: another local user must not
/// read any of it, also when the directory existed before the node (with a 0755 mode) and after
/// someone loosened it between runs.
final class DataDirectoryPermissionTests: XCTestCase {
    private var cluster: TestCluster!
    private var base = ""

    override func setUpWithError() throws {
        guard geteuid() == 0 else { throw XCTSkip("needs root: the check reads the data dir as the user nobody") }
        cluster = try TestCluster()
        base = try FileSystem.makeTemporaryDirectory(prefix: "swarmctl-perm-")
        // Traversable by everyone, so only the data dir's own modes can keep nobody out.
        XCTAssertEqual(chmod(base, 0o755), 0)
    }

    override func tearDown() {
        cluster?.tearDown()
        if !base.isEmpty { try? FileSystem.removeTree(base) }
    }

    func testNobodyReadsNothingUnderADataDirThatExistedWith0755() throws {
        let data = base + "/data"
        XCTAssertEqual(mkdir(data, 0o755), 0)
        XCTAssertEqual(chmod(data, 0o755), 0)
        let secret = "PASSWORD=hunter2-\(UInt32.random(in: 0...UInt32.max))"
        try cluster.initialize("m1", dataDirectory: data)
        let created = try cluster.cli("m1", ["service", "create", "--detach", "--name", "holder", "--env", secret,
                                             "busybox", "sh", "-c", "echo $PASSWORD; exec sleep 3600"])
        XCTAssertEqual(created.status, 0, created.output)
        try cluster.waitUntil("the task printed its env value", timeoutSeconds: 30) {
            try self.files(under: data).contains { (try? String(contentsOfFile: $0, encoding: .utf8))?.contains(secret.dropFirst(9)) == true
                && $0.hasSuffix(".log") }
        }
        XCTAssertEqual(try mode(of: data), 0o700)
        // Each file on its own is private too (WAL, snapshots, node.json, agent store, task logs).
        let loose = try files(under: data).filter { (try mode(of: $0)) & 0o077 != 0 }
        XCTAssertEqual(loose, [], "files or directories others may read")
        try assertNobodyReadsNothing(under: data, secret: secret)

        // Loosened between runs: `run` makes it private again before anything else.
        cluster.kill("m1")
        XCTAssertEqual(chmod(data, 0o755), 0)
        try cluster.restart("m1")
        try cluster.waitUntil("m1 answers after the restart", timeoutSeconds: 20) { (try? self.cluster.cli("m1", ["info"]))?.status == 0 }
        XCTAssertEqual(try mode(of: data), 0o700)
        try assertNobodyReadsNothing(under: data, secret: secret)
    }

    func testADataDirOfAnotherUserIsRefusedAndWritableParentsAreNamed() throws {
        let open = base + "/open"
        XCTAssertEqual(mkdir(open, 0o777), 0)
        XCTAssertEqual(chmod(open, 0o777), 0)
        let data = open + "/data"
        XCTAssertEqual(mkdir(data, 0o755), 0)
        let warnings = try DataDirectory.secure(data)
        XCTAssertEqual(try mode(of: data), 0o700)
        XCTAssertEqual(warnings.count, 1, "\(warnings)")
        XCTAssertTrue(warnings.first?.contains("its parent \(open) is writable by other users") == true, "\(warnings)")

        XCTAssertEqual(chown(data, 65534, 65534), 0)
        XCTAssertThrowsError(try DataDirectory.secure(data)) { error in
            XCTAssertTrue("\(error)".contains("belongs to uid 65534"), "\(error)")
        }
        XCTAssertTrue(DataDirectory.writableParents(of: "/tmp").isEmpty, "/tmp is sticky and root's: no warning")
    }

    // MARK: Helpers

    private func mode(of path: String) throws -> mode_t {
        var info = stat()
        guard stat(path, &info) == 0 else { throw SystemError("stat", path) }
        return info.st_mode & 0o7777
    }

    /// Every file and directory under `root` (as root sees them), without following links.
    private func files(under root: String) throws -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: root) else { return [] }
        return enumerator.compactMap { ($0 as? String).map { root + "/" + $0 } }
    }

    /// As nobody: every path under `data` fails to open and to list, while a 0644 control file
    /// next to it is readable (so a refusal is the data dir's doing, not the method's).
    private func assertNobodyReadsNothing(under data: String, secret: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let paths = [data] + (try files(under: data))
        XCTAssertTrue(paths.contains(data + "/node.json") && paths.contains { $0.contains("/wal/") }, "\(paths)", file: file, line: line)
        let list = base + "/paths"
        try paths.joined(separator: "\n").appending("\n").write(toFile: list, atomically: true, encoding: .utf8)
        let control = base + "/control"
        try "control\n".write(toFile: control, atomically: true, encoding: .utf8)
        XCTAssertEqual(chmod(list, 0o644), 0)
        XCTAssertEqual(chmod(control, 0o644), 0)
        let script = """
        while read -r p; do
          if [ -d "$p" ]; then ls "$p" >/dev/null 2>&1 && echo "LISTED $p"
          else cat "$p" >/dev/null 2>&1 && echo "READ $p"; fi
        done < '\(list)'
        grep -rqs '\(secret.dropFirst(9))' '\(data)' && echo "FOUND-SECRET"
        cat '\(control)' >/dev/null && echo CONTROL-READ
        """
        let process = try ChildProcess.spawn("/usr/bin/setpriv", arguments: [
            "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/bin/sh", "-c", "{\n" + script + "\n} 2>&1",
        ])
        var output: [UInt8] = []
        while let chunk = try process.readOutput(timeoutMilliseconds: 30_000), !chunk.isEmpty { output += chunk }
        _ = try process.wait()
        let text = String(decoding: output, as: UTF8.self)
        XCTAssertTrue(text.contains("CONTROL-READ"), "nobody could not read the control file: \(text)", file: file, line: line)
        XCTAssertFalse(text.contains("READ /") || text.contains("LISTED ") || text.contains("FOUND-SECRET"),
                       "nobody read under the data dir:\n\(text)", file: file, line: line)
    }
}
