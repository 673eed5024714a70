import Foundation
import Glibc
import Networking
import Platform
import XCTest

/// `swarmctl testbed up --netns` and `down` on the real binary: nodes in their own network
/// namespaces, and nothing left behind, also when `up` crashed. Needs root, ip and nsenter.
final class TestbedNetnsTests: XCTestCase {
    private func requirements() throws -> String {
        guard getuid() == 0 else { throw XCTSkip("testbed --netns needs root (network namespaces)") }
        for tool in ["ip", "nsenter"] where !HostNetworkPlumbing.toolExists(tool) { throw XCTSkip("testbed --netns needs \(tool)") }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("swarmctl").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        throw XCTSkip("swarmctl is not built next to the test bundle; run `swift build` first")
    }

    /// Runs the binary through posix_spawn (Platform's ChildProcess) and reaps it with waitpid:
    /// `testbed up` leaves its nodes running, and it must be seen to exit on its own.
    private func run(_ binary: String, _ arguments: [String], seconds: Double) throws -> (status: Int32, output: String) {
        let quoted = ([binary] + arguments).map { "'\($0)'" }.joined(separator: " ")
        let child = try ChildProcess.spawn("/bin/sh", arguments: ["-c", "exec \(quoted) 2>&1"])
        let deadline = monotonicNanoseconds() + UInt64(seconds * 1e9)
        var output: [UInt8] = []
        while monotonicNanoseconds() < deadline, let chunk = try child.readOutput(timeoutMilliseconds: 200) { output += chunk }
        if monotonicNanoseconds() >= deadline {
            try? child.kill(SIGKILL)
            XCTFail("swarmctl \(arguments.joined(separator: " ")) did not finish within \(Int(seconds)) s")
        }
        let (code, signal) = try child.wait()
        return (code ?? 128 + (signal ?? 0), String(decoding: output, as: UTF8.self))
    }

    private func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tbnetns-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func testDownRemovesTheNamespacesOfAnUpThatCrashed() throws {
        let binary = try requirements()
        let directory = try temporaryDirectory()
        let prefix = "tb" + String(format: "%03x", UInt32.random(in: 0..<0x1000))
        defer {
            UnderlayNetwork.destroy(prefix: prefix)
            try? FileManager.default.removeItem(atPath: directory)
        }
        // What `up` leaves when it dies after creating the namespaces: the prefix file, no testbed.env.
        try Data((prefix + "\n").utf8).write(to: URL(fileURLWithPath: directory + "/netns-prefix"))
        _ = try UnderlayNetwork.create(prefix: prefix, hosts: 2)
        XCTAssertEqual(UnderlayNetwork.namespaces(prefix: prefix).count, 4)
        let down = try run(binary, ["testbed", "down", "--dir", directory], seconds: 30)
        XCTAssertEqual(down.status, 0, down.output)
        XCTAssertEqual(UnderlayNetwork.namespaces(prefix: prefix), [], down.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory))
    }

    func testUpPutsEachNodeInItsNamespaceAndDownRemovesThem() throws {
        let binary = try requirements()
        let directory = try temporaryDirectory()
        var prefix: String? { (try? String(contentsOfFile: directory + "/netns-prefix", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) }
        var recorded: String?
        defer {
            if FileManager.default.fileExists(atPath: directory + "/testbed.env") {
                _ = try? run(binary, ["testbed", "down", "--dir", directory], seconds: 60)
            }
            if let recorded { UnderlayNetwork.destroy(prefix: recorded) }
            try? FileManager.default.removeItem(atPath: directory)
        }
        let up = try run(binary, ["testbed", "up", "--netns", "--executor", "process", "--managers", "1", "--workers", "1", "--dir", directory], seconds: 120)
        recorded = prefix
        XCTAssertEqual(up.status, 0, up.output)
        let prefixNow = try XCTUnwrap(recorded, up.output)
        let environment = try String(contentsOfFile: directory + "/testbed.env", encoding: .utf8)
        XCTAssertTrue(environment.contains("MANAGER_1_UNDERLAY='192.0.2.1'"), environment)
        XCTAssertTrue(environment.contains("WORKER_1_UNDERLAY='192.0.2.2'"), environment)
        XCTAssertTrue(environment.contains("MANAGER_1_ADDR='192.0.2.1:2377'"), environment)
        // The manager's cluster port answers from the client namespace across the underlay.
        let client = UnderlayNetwork(prefix: prefixNow, hostCount: 2).clientNamespace
        let reachable = try NetworkNamespace.perform(NetworkNamespace.path(client)) { () -> Bool in
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(descriptor) }
            var target = sockaddr_in()
            target.sin_family = sa_family_t(AF_INET)
            target.sin_port = UInt16(2377).bigEndian
            target.sin_addr.s_addr = IPv4Address(192, 0, 2, 1).value.bigEndian
            return withUnsafePointer(to: &target) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
        }
        XCTAssertTrue(reachable, "manager-1 listens on 192.0.2.1:2377 inside its namespace")
        let down = try run(binary, ["testbed", "down", "--dir", directory], seconds: 60)
        XCTAssertEqual(down.status, 0, down.output)
        XCTAssertEqual(UnderlayNetwork.namespaces(prefix: prefixNow), [], down.output)
    }
}
