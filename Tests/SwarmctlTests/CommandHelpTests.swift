import Foundation
import XCTest
@testable import swarmctl

/// Every command and subcommand the dispatcher knows (its table, not a copy of it) answers
/// `--help` and `-h` with its usage on stdout and exit 0, without doing anything else.
final class CommandHelpTests: XCTestCase {
    private func binary() throws -> String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("swarmctl").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        throw XCTSkip("swarmctl is not built next to the test bundle; run `swift build` first")
    }

    /// Runs the binary with no node to talk to (a command that ignored --help would fail or hang;
    /// it is killed after 10 s) and returns its status, stdout and stderr.
    private func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try binary())
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["SWARMCTL_HOST"] = "unix:/nonexistent/swarmctl-help-test.sock"
        environment["TESTBED_DIR"] = "/nonexistent/swarmctl-help-testbed"
        process.environment = environment
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            XCTFail("swarmctl \(arguments.joined(separator: " ")) did not exit within 10 s")
        }
        let stdout = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, stdout, stderr)
    }

    func testEverySubcommandAnswersHelpWithItsUsage() throws {
        let paths = CommandTable.allPaths
        XCTAssertTrue(paths.contains(["service", "create"]) && paths.contains(["node", "ps"]) && paths.contains(["chaos", "run"]),
                      "the table lists subcommands: \(paths)")
        for path in paths {
            for flag in ["--help", "-h"] {
                let result = try run(path + [flag])
                let command = "swarmctl " + path.joined(separator: " ")
                XCTAssertEqual(result.status, 0, "\(command) \(flag): \(result.stderr)")
                XCTAssertTrue(result.stdout.hasPrefix("Usage:"), "\(command) \(flag) printed: \(result.stdout.prefix(200))")
                XCTAssertTrue(result.stdout.contains(command), "\(command) \(flag) does not show its own usage: \(result.stdout.prefix(300))")
                XCTAssertEqual(result.stderr, "", "\(command) \(flag)")
            }
        }
    }

    func testHelpAmongOtherFlagsAndTheHelpCommand() throws {
        let create = try run(["service", "create", "--name", "web", "--replicas", "2", "--help"])
        XCTAssertEqual(create.status, 0, create.stderr)
        XCTAssertTrue(create.stdout.hasPrefix("Usage:  swarmctl service create [OPTIONS] IMAGE"), create.stdout)
        let viaHelp = try run(["help", "node", "ps"])
        XCTAssertEqual(viaHelp.status, 0)
        XCTAssertTrue(viaHelp.stdout.hasPrefix("Usage:  swarmctl node ps"), viaHelp.stdout)
        let unknown = try run(["nonsense", "--help"])
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stderr.contains("unknown command 'nonsense'"), unknown.stderr)
    }

    /// After the image, `-h` belongs to the task's command, not to swarmctl.
    func testHelpFlagAfterTheImageIsTheTasksArgument() throws {
        let arguments = try CommandLineArguments(["create", "--name", "x", "busybox", "ls", "-h"], switches: ServiceSpecFlags.switches,
                                                 flagsEndAfter: 2)
        XCTAssertEqual(arguments.positionals, ["create", "busybox", "ls", "-h"])
        XCTAssertThrowsError(try CommandLineArguments(["ps", "-q", "--help"], switches: ["-q"])) { error in
            XCTAssertEqual((error as? UsageError)?.helpFor, ["ps"])
        }
    }

    func testTheMainHelpNamesEveryCommand() {
        for command in CommandTable.commands where command.name != "help" {
            XCTAssertTrue(HelpText.main.contains("  \(command.name) "), "swarmctl --help does not mention \(command.name)")
        }
    }
}
