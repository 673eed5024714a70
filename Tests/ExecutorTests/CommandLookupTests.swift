import Foundation
import Glibc
import Platform
import XCTest

@testable import Executor

/// The look-up of a command as `execvp` in the command's own environment would do it, inside a
/// container's root file system without ever leaving it: links are followed as the container
/// sees them, and the reason a command cannot run is typed (not found, not executable).
final class CommandLookupTests: XCTestCase {
    private var root = ""

    override func setUpWithError() throws {
        root = try FileSystem.makeTemporaryDirectory(prefix: "command-lookup-")
        for directory in ["bin", "usr/bin", "opt/tools", "home"] { try FileSystem.makeDirectories("\(root)/\(directory)") }
        try file("bin/busybox", mode: 0o755)
        try file("usr/bin/owned", mode: 0o700)
        try file("opt/tools/data", mode: 0o644)
        XCTAssertEqual(symlink("/bin/busybox", "\(root)/bin/sh"), 0, "an absolute link, as in images")
        XCTAssertEqual(symlink("../../bin/busybox", "\(root)/usr/bin/env"), 0)
        XCTAssertEqual(symlink("/etc/passwd", "\(root)/bin/escape"), 0, "names the host's file outside the root")
        XCTAssertEqual(symlink("loop2", "\(root)/bin/loop1"), 0)
        XCTAssertEqual(symlink("loop1", "\(root)/bin/loop2"), 0)
    }

    override func tearDownWithError() throws {
        try Tree.remove(root)
    }

    private func file(_ path: String, mode: Int) throws {
        XCTAssertTrue(FileManager.default.createFile(atPath: "\(root)/\(path)", contents: Data("#!/bin/sh\n".utf8),
                                                     attributes: [.posixPermissions: mode]))
    }

    private func lookup(_ name: String, _ environment: [String] = [], cwd: String? = nil,
                        runner: CommandLookup.Runner = .root) -> Result<String, CommandFailure> {
        CommandLookup.resolve(name, environment: environment, workingDirectory: cwd, root: root, runner: runner)
    }

    func testLinksAreFollowedInsideTheRootAndNeverOutOfIt() {
        XCTAssertEqual(RootedPath.resolve("/bin/sh", in: root), "\(root)/bin/busybox")
        XCTAssertEqual(RootedPath.resolve("/usr/bin/env", in: root), "\(root)/bin/busybox")
        XCTAssertEqual(RootedPath.resolve("/../../../bin/./sh", in: root), "\(root)/bin/busybox", "`..` stops at the root")
        XCTAssertEqual(RootedPath.resolve("/bin/escape", in: root), "\(root)/etc/passwd", "an absolute target starts at the root")
        XCTAssertNil(RootedPath.resolve("/bin/loop1", in: root), "a link loop")
    }

    func testACommandIsLookedUpInThePathOfItsEnvironment() {
        XCTAssertEqual(lookup("sh"), .success("/bin/sh"), "the default PATH")
        XCTAssertEqual(lookup("env", ["PATH=/opt/tools:/usr/bin"]), .success("/usr/bin/env"))
        XCTAssertEqual(lookup("sh", ["PATH=/usr/bin"]), .failure(.notFound), "only the environment's PATH")
        XCTAssertEqual(lookup("escape"), .failure(.notFound), "the host's /etc/passwd is not the container's")
        XCTAssertEqual(lookup("loop1"), .failure(.notFound))
        XCTAssertEqual(lookup("nothing"), .failure(.notFound))
        XCTAssertEqual(lookup("../bin/busybox", cwd: "/home"), .success("/home/../bin/busybox"), "a relative path, from the working directory")
    }

    func testACommandThatCannotRunSaysWhy() {
        XCTAssertEqual(lookup("/opt/tools/data"), .failure(.notExecutable), "no execute bit")
        XCTAssertEqual(lookup("data", ["PATH=/opt/tools"]), .failure(.notExecutable))
        XCTAssertEqual(lookup("/opt/tools"), .failure(.notExecutable), "a directory")
        XCTAssertEqual(lookup("/usr/bin/owned"), .success("/usr/bin/owned"), "root runs any file with an execute bit")
        let other = CommandLookup.Runner(uid: 4242, gids: [4242])
        XCTAssertEqual(lookup("/usr/bin/owned", runner: other), .failure(.notExecutable), "mode 0700 of another user")
        XCTAssertEqual(lookup("/bin/sh", runner: other), .success("/bin/sh"))
        XCTAssertEqual(CommandFailure.notFound.exitCode, 127)
        XCTAssertEqual(CommandFailure.notExecutable.exitCode, 126)
    }
}
