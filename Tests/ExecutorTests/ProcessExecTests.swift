import Foundation
import Glibc
import Platform
import XCTest

@testable import Executor

/// `docker exec` on the process executor: the command runs in the task's environment and
/// directory with the exec's additions, on pipes (exit code, separate streams, stdin to end of
/// file) or on a terminal (a real /dev/pts, resizable), and `terminate` ends it with what it started.
final class ProcessExecTests: XCTestCase {
    private var root: String!
    private var executor: ProcessExecutor!
    private var task: ContainerID!

    override func setUpWithError() throws {
        root = try FileSystem.makeTemporaryDirectory(prefix: "exec-tests-")
        executor = try ProcessExecutor(root: root)
        task = try executor.prepare(shell("sleep 1000", environment: ["TASK=yes", "X=task"], workingDirectory: root))
        try executor.start(task, onExit: { _ in })
    }

    override func tearDownWithError() throws {
        executor?.removeAll()
        try FileSystem.removeTree(root)
    }

    func testPipesCarryStdinStdoutStderrAndTheExitCode() throws {
        let process = try executor.startExec(task, ExecSpec(command: ["/bin/sh", "-c", "echo $TASK $X $(pwd); cat; echo oops >&2; exit 3"],
                                                            environment: ["X=exec"], stdin: true))
        guard case let .pipes(stdin?, stdout, stderr) = process.streams else { return XCTFail("pipes with a stdin") }
        _ = Array("typed".utf8).withUnsafeBytes { Glibc.write(stdin, $0.baseAddress!, $0.count) }
        _ = Glibc.close(stdin)
        XCTAssertEqual(text(readToEnd(stdout)), "yes exec \(root!)\ntyped", "the task's environment, the exec's value winning, its directory")
        XCTAssertEqual(text(readToEnd(stderr)), "oops\n")
        XCTAssertEqual(process.waitForExit(), .exited(code: 3))
        [stdout, stderr].forEach { _ = Glibc.close($0) }
    }

    /// A command that cannot run is refused with a typed reason (the API's exit codes 127 and
    /// 126), looked up in the exec's PATH (its own entry winning over the task's), never run.
    func testACommandNotFoundOrNotExecutableIsRefusedWithItsReason() throws {
        let plain = root + "/plain"
        XCTAssertTrue(FileManager.default.createFile(atPath: plain, contents: Data("echo ran\n".utf8), attributes: [.posixPermissions: 0o644]))
        let cases: [(ExecSpec, CommandFailure)] = [
            (ExecSpec(command: ["no-such-command-here"]), .notFound),
            (ExecSpec(command: ["./missing"]), .notFound),
            (ExecSpec(command: [plain]), .notExecutable),
            (ExecSpec(command: ["plain"], environment: ["PATH=\(root!)"]), .notExecutable),
            (ExecSpec(command: [root]), .notExecutable),
            (ExecSpec(command: ["sh", "-c", "true"], environment: ["PATH=/nowhere"]), .notFound),
        ]
        for (spec, reason) in cases {
            XCTAssertThrowsError(try executor.startExec(task, spec), "\(spec.command)") { error in
                XCTAssertEqual(error as? ExecutorError, .commandUnavailable(command: spec.command[0], reason: reason))
            }
        }
        XCTAssertEqual(CommandFailure.notFound.exitCode, 127)
        XCTAssertEqual(CommandFailure.notExecutable.exitCode, 126)
        let found = try executor.startExec(task, ExecSpec(command: ["sh", "-c", "echo $0"]))
        guard case let .pipes(nil, stdout, stderr) = found.streams else { return XCTFail("pipes without a stdin") }
        XCTAssertEqual(text(readToEnd(stdout)), "sh\n", "argv[0] stays as given")
        XCTAssertEqual(found.waitForExit(), .exited(code: 0))
        [stdout, stderr].forEach { _ = Glibc.close($0) }
    }

    func testATerminalIsTheControllingTerminalAndCanBeResized() throws {
        let process = try executor.startExec(task, ExecSpec(command: ["/bin/sh", "-c", "tty; stty size; exit 7"], tty: true,
                                                            consoleSize: (rows: 33, columns: 99)))
        guard case let .terminal(master) = process.streams else { return XCTFail("a terminal") }
        let output = text(readToEnd(master))
        XCTAssertTrue(output.contains("/dev/pts/"), output)
        XCTAssertTrue(output.contains("33 99"), "the console size at start: \(output)")
        XCTAssertEqual(process.waitForExit(), .exited(code: 7))
        XCTAssertTrue(process.resize(rows: 10, columns: 10), "the master still takes a size")
        _ = Glibc.close(master)
    }

    func testTerminateEndsTheCommandAndWhatItStarted() throws {
        let process = try executor.startExec(task, ExecSpec(command: ["/bin/sh", "-c", "sleep 4711 & echo started; wait"]))
        guard case let .pipes(nil, stdout, stderr) = process.streams else { return XCTFail("pipes without stdin") }
        var buffer = [UInt8](repeating: 0, count: 64)
        XCTAssertGreaterThan(buffer.withUnsafeMutableBytes { Glibc.read(stdout, $0.baseAddress!, $0.count) }, 0)
        let children = ProcessTable.allPIDs().filter { ProcessTable.parent(of: $0) == process.processID }
        XCTAssertEqual(children.count, 1, "the background sleep")
        process.terminate()
        XCTAssertEqual(process.waitForExit(), .signaled(signal: SIGKILL))
        XCTAssertTrue(eventually { children.allSatisfy { [.gone, .zombie].contains(ProcessTable.state(of: $0)) } }, "the sleep was killed too")
        [stdout, stderr].forEach { _ = Glibc.close($0) }
    }

    func testExecIntoAStoppedContainerIsRefused() throws {
        _ = try executor.stop(task, graceMillis: 0)
        XCTAssertThrowsError(try executor.startExec(task, ExecSpec(command: ["true"]))) { error in
            guard case ExecutorError.invalidState(_, .exited, _) = error else { return XCTFail("\(error)") }
        }
    }
}
