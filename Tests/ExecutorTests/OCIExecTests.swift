import Foundation
import Glibc
import Platform
import XCTest

@testable import Executor

/// `docker exec` on the OCI executor refuses a command that cannot run with a typed reason
/// before `runc exec` (which would exit 255 for any failure), looking it up as the container
/// sees its file system: a command in a bind mount is found, one only on the host is not.
final class OCIExecTests: OCITestCase {
    func testACommandIsLookedUpInTheContainersOwnViewAndRefusedWithItsReason() throws {
        let tools = root + "/tools"
        try FileSystem.makeDirectories(tools)
        XCTAssertTrue(FileManager.default.createFile(atPath: tools + "/greet", contents: Data("#!/bin/sh\necho hello from the mount\n".utf8),
                                                     attributes: [.posixPermissions: 0o755]))
        XCTAssertTrue(FileManager.default.createFile(atPath: tools + "/data", contents: Data("x".utf8), attributes: [.posixPermissions: 0o644]))
        let id = try run(containerShell("sleep 300", rootfs: rootfs, graceMillis: 0) {
            $0.mounts = [TaskMount(kind: .bind, source: tools, target: "/tools", readOnly: true)]
        })
        let cases: [(ExecSpec, CommandFailure)] = [
            (ExecSpec(command: ["no-such-command"]), .notFound),
            (ExecSpec(command: [tools + "/greet"]), .notFound),
            (ExecSpec(command: ["/tools/data"]), .notExecutable),
            (ExecSpec(command: ["/tools"]), .notExecutable),
            (ExecSpec(command: ["greet"], environment: ["PATH=/nowhere"]), .notFound),
        ]
        for (spec, reason) in cases {
            XCTAssertThrowsError(try executor.startExec(id, spec), "\(spec.command)") { error in
                XCTAssertEqual(error as? ExecutorError, .commandUnavailable(command: spec.command[0], reason: reason))
            }
        }
        let found = try executor.startExec(id, ExecSpec(command: ["greet"], environment: ["PATH=/tools:/bin"]))
        guard case let .pipes(nil, stdout, stderr) = found.streams else { return XCTFail("pipes without a stdin") }
        XCTAssertEqual(text(readToEnd(stdout)), "hello from the mount\n", "found in the bind mount, through the exec's PATH")
        XCTAssertEqual(found.waitForExit(), .exited(code: 0))
        [stdout, stderr].forEach { _ = Glibc.close($0) }
        _ = try executor.stop(id, graceMillis: 0)
        try executor.remove(id)
    }
}
