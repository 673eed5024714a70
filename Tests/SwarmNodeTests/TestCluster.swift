import API
import Foundation
import Glibc
import Platform
import XCTest

/// Real `swarmctl` processes on 127.0.0.1 in a temporary directory, for end-to-end tests.
/// Every process it starts is killed and reaped, and the directory removed, in `tearDown()` —
/// also when a test fails.
final class TestCluster {
    struct Member {
        var name: String
        var dataDirectory: String
        var clusterAddress: String
        var apiAddress: String
        var process: ChildProcess?
    }

    let binary: String
    let directory: String
    /// Flags every node gets (add `--enable-chaos` before starting nodes to inject faults).
    var nodeFlags = ["--raft-tick", "50ms", "--executor", "process"]
    private(set) var members: [String: Member] = [:]
    /// Nodes placed in their own network namespace (entered with `nsenter --net`, as
    /// `testbed up --netns` does), by name: the namespace file and the address the node's cluster
    /// port listens on. Set before starting the node; the others run on 127.0.0.1.
    var placements: [String: (namespacePath: String, address: String)] = [:]

    init() throws {
        binary = try Self.locateBinary()
        directory = try FileSystem.makeTemporaryDirectory(prefix: "swarmctl-e2e-")
        // Tasks of a node killed with SIGKILL are re-parented to us, so tearDown can end them.
        try OrphanReaper.adoptOrphans()
    }

    func tearDown() {
        for name in members.keys.sorted() { kill(name) }
        OrphanReaper.endAdoptedChildren()
        // SWARMCTL_KEEP_E2E=1 keeps the data dirs and logs for a post-mortem.
        if ProcessInfo.processInfo.environment["SWARMCTL_KEEP_E2E"] == nil { try? FileSystem.removeTree(directory) }
    }

    private static func locateBinary() throws -> String {
        let executable = (try? FileSystem.readLink("/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = FileSystem.parentDirectory(of: executable)
        for _ in 0..<4 {
            let candidate = directory + "/swarmctl"
            if FileSystem.exists(candidate) { return candidate }
            directory = FileSystem.parentDirectory(of: directory)
        }
        throw XCTSkip("swarmctl is not built next to the test bundle (\(executable)); run `swift build` before `swift test`")
    }

    /// A free loopback port (bound then released; the node binds it right after).
    static func freePort() throws -> Int {
        let socket = try Socket.listen(on: try SocketAddress(parsing: "127.0.0.1:0"))
        let port = Int(try socket.localAddress().port ?? 0)
        socket.close()
        return port
    }

    private func newMember(_ name: String, dataDirectory: String? = nil, apiAddress: String? = nil) throws -> Member {
        Member(name: name, dataDirectory: dataDirectory ?? "\(directory)/\(name)",
               clusterAddress: try placements[name].map { "\($0.address):2377" } ?? "127.0.0.1:\(try Self.freePort())",
               apiAddress: apiAddress ?? "unix:\(directory)/\(name).sock", process: nil)
    }

    /// Starts `swarmctl ARGS` with stderr appended to NAME.log; stdout is the returned process's pipe.
    private func spawnNode(_ name: String, _ arguments: [String]) throws -> ChildProcess {
        let entry = placements[name].map { ["nsenter", "--net=\($0.namespacePath)"] } ?? []
        let quoted = (entry + [binary] + arguments).map { "'\($0)'" }.joined(separator: " ")
        return try ChildProcess.spawn("/bin/sh", arguments: ["-c", "exec \(quoted) 2>>'\(directory)/\(name).log'"])
    }

    /// Starts NAME as a new cluster's first manager; `dataDirectory` and `apiAddress` replace the
    /// defaults under the test directory, `extraFlags` are added to `nodeFlags`. Without `ready`
    /// it waits until `swarmctl info` answers through the API.
    func initialize(_ name: String, dataDirectory: String? = nil, apiAddress: String? = nil, extraFlags: [String] = [],
                    ready: (() throws -> Bool)? = nil) throws {
        var member = try newMember(name, dataDirectory: dataDirectory, apiAddress: apiAddress)
        member.process = try spawnNode(name, ["init", "--data-dir", member.dataDirectory, "--listen-addr", member.clusterAddress,
                                              "--api-addr", member.apiAddress] + nodeFlags + extraFlags)
        members[name] = member
        try waitUntil("\(name) answers", timeoutSeconds: 20) { try ready?() ?? ((try? self.cli(name, ["info"]))?.status == 0) }
    }

    func join(_ name: String, as role: String, via manager: String, managerAddress: String? = nil, extraFlags: [String] = []) throws {
        let token = try cli(manager, ["join-token", role, "-q"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        var member = try newMember(name)
        member.process = try spawnNode(name, ["join", "--data-dir", member.dataDirectory, "--listen-addr", member.clusterAddress,
                                              "--api-addr", member.apiAddress] + nodeFlags + extraFlags + [
                                              "--token", token, managerAddress ?? members[manager]!.clusterAddress])
        members[name] = member
    }

    func kill(_ name: String, signal: Int32 = SIGKILL) {
        guard let process = members[name]?.process else { return }
        try? process.kill(signal)
        _ = try? process.wait()
        members[name]?.process = nil
    }

    /// Restarts NAME from its data dir with `flags` (default: the flags every node gets).
    func restart(_ name: String, flags: [String]? = nil) throws {
        guard let member = members[name] else { return }
        members[name]?.process = try spawnNode(name, ["run", "--data-dir", member.dataDirectory] + (flags ?? nodeFlags))
    }

    /// Runs a client command against NAME's API and returns its exit status and output
    /// (stdout and stderr together).
    @discardableResult
    func cli(_ name: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let quoted = ([binary, "-H", members[name]!.apiAddress] + arguments).map { "'\($0)'" }.joined(separator: " ")
        return try Self.finish(try ChildProcess.spawn("/bin/sh", arguments: ["-c", "exec \(quoted) 2>&1"]), silenceMillis: 30_000)
    }

    /// Starts a client command against NAME's API without waiting for it (e.g. an update whose
    /// progress the test samples meanwhile).
    func spawnCLI(_ name: String, _ arguments: [String]) throws -> BackgroundCommand {
        let quoted = ([binary, "-H", members[name]!.apiAddress] + arguments).map { "'\($0)'" }.joined(separator: " ")
        return BackgroundCommand(process: try ChildProcess.spawn("/bin/sh", arguments: ["-c", "exec \(quoted) 2>&1"]))
    }

    /// Runs `swarmctl ARGS` to completion (no -H), returning status and combined output.
    func runOnce(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let quoted = ([binary] + arguments).map { "'\($0)'" }.joined(separator: " ")
        return try Self.finish(try ChildProcess.spawn("/bin/sh", arguments: ["-c", "exec \(quoted) 2>&1"]), silenceMillis: 60_000)
    }

    /// Runs a shell command line to completion, returning status and combined output.
    func shell(_ command: String) throws -> (status: Int32, output: String) {
        try Self.finish(try ChildProcess.spawn("/bin/sh", arguments: ["-c", "exec 2>&1; " + command]), silenceMillis: 30_000)
    }

    /// Reads `process`'s output until it closes it (or is silent for `silenceMillis`), then reaps it.
    private static func finish(_ process: ChildProcess, silenceMillis: Int32) throws -> (status: Int32, output: String) {
        var output: [UInt8] = []
        while let chunk = try process.readOutput(timeoutMilliseconds: silenceMillis) {
            if chunk.isEmpty { break }
            output += chunk
        }
        let result = try process.wait()
        return (result.exitCode ?? -1, String(decoding: output, as: UTF8.self))
    }

    /// `node ls --format json` as seen by NAME.
    func nodes(via name: String) throws -> [[String: Any]] {
        let result = try cli(name, ["node", "ls", "--format", "json"])
        guard result.status == 0, let data = result.output.data(using: .utf8),
              let nodes = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else { return [] }
        return nodes
    }

    private var standardOutputs: [String: [UInt8]] = [:]

    /// What NAME's node process has written to stdout so far (read without blocking).
    func output(_ name: String) -> String {
        if let process = members[name]?.process {
            while let chunk = try? process.readOutput(timeoutMilliseconds: 0), !chunk.isEmpty {
                standardOutputs[name, default: []] += chunk
            }
        }
        return String(decoding: standardOutputs[name] ?? [], as: UTF8.self)
    }

    /// An HTTP client of NAME's API (its unix socket).
    func apiClient(_ name: String) throws -> HTTPClient {
        HTTPClient(address: try SocketAddress(parsing: members[name]!.apiAddress), timeoutMillis: 15_000)
    }

    /// NAME's fault-injection settings (`GET /swarmctl/chaos`).
    func chaosStatus(_ name: String) throws -> [String: Any] {
        let response = try apiClient(name).send("GET", "/swarmctl/chaos")
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
    }

    /// Sets NAME's fault-injection settings (JSON, as `POST /swarmctl/chaos` takes them).
    func setChaos(_ name: String, _ settings: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let response = try apiClient(name).send("POST", "/swarmctl/chaos", body: Array(settings.utf8),
                                                headers: HTTPHeaders([("Content-Type", "application/json")]))
        XCTAssertEqual(response.status, 200, String(decoding: response.body, as: UTF8.self), file: file, line: line)
    }

    func log(_ name: String) -> String {
        (try? String(contentsOfFile: "\(directory)/\(name).log", encoding: .utf8)) ?? ""
    }

    /// Polls `condition` every 100 ms until it holds or the deadline passes.
    func waitUntil(_ what: String, timeoutSeconds: Double, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            if try condition() { return }
            usleep(100_000)
        }
        XCTFail("timed out after \(timeoutSeconds)s waiting until \(what)")
        throw CancellationError()
    }
}

/// A client command running in the background; its output is collected as it arrives.
final class BackgroundCommand {
    private let process: ChildProcess
    private var output: [UInt8] = []
    private var finishedOutput = false

    init(process: ChildProcess) { self.process = process }

    /// True until the command has closed its output (it exits right after).
    var isRunning: Bool {
        drain(timeoutMilliseconds: 0)
        return !finishedOutput
    }

    /// Waits for the command to end (at most 120 s of silence) and returns its status and output.
    func finish() throws -> (status: Int32, output: String) {
        while !finishedOutput {
            let before = output.count
            drain(timeoutMilliseconds: 120_000)
            if output.count == before && !finishedOutput { try process.kill(); break }
        }
        let result = try process.wait()
        return (result.exitCode ?? -1, String(decoding: output, as: UTF8.self))
    }

    private func drain(timeoutMilliseconds: Int32) {
        while !finishedOutput {
            guard let chunk = try? process.readOutput(timeoutMilliseconds: timeoutMilliseconds) else {
                finishedOutput = true
                return
            }
            if chunk.isEmpty { return }
            output += chunk
        }
    }
}

extension Dictionary where Key == String, Value == Any {
    subscript(path path: String...) -> Any? {
        var current: Any? = self
        for key in path { current = (current as? [String: Any])?[key] }
        return current
    }
}
