import Foundation
import Glibc
import Networking
import Platform
import XCTest

/// A `swarmctl testbed up --netns` cluster for the cluster-level networking tests (issue 16): the
/// real binary, each node in its own network namespace on the 192.0.2.0/24 underlay, OCI tasks
/// on the testbed image, a client namespace at 192.0.2.200. One cluster is shared by the tests of
/// a class (they create services with names of their own), so the slow part, bringing it up,
/// happens once.
///
/// Cleanup: `down()` runs `testbed down`, which removes the nodes, their containers and every
/// namespace under the testbed's prefix; a run that died before that (a crash, a timeout) is
/// swept by the next run, which brings down every harness directory whose test process is gone.
final class NetnsTestbedHarness {
    static let dockerBinary = "/usr/local/bin/docker"
    static let directoryPrefix = "swarmctl-e2e-netns-"

    let binary: String
    let directory: String
    private(set) var environment: [String: String] = [:]

    /// What a command printed (stdout and stderr together) and how it ended.
    struct Output: CustomStringConvertible {
        var status: Int32
        var text: String
        var lines: [String] { text.split(separator: "\n").map(String.init) }
        var description: String { "exit \(status): \(text)" }
    }

    /// Skips, naming what is missing, unless this machine can run the cluster: root, ip, nsenter,
    /// nft, runc, a static busybox, VXLAN and nftables NAT in the kernel, the docker CLI, docker-py
    /// and curl. Returns the swarmctl binary built next to the test bundle.
    static func requirements() throws -> String {
        guard getuid() == 0 else { throw XCTSkip("the netns cluster tests need root (network namespaces, runc)") }
        for (tool, package) in [("ip", "iproute2"), ("nsenter", "util-linux"), ("nft", "nftables"), ("curl", "curl")]
        where !HostNetworkPlumbing.toolExists(tool) {
            throw XCTSkip("the netns cluster tests need \(tool): apt-get install -y \(package)")
        }
        guard ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc"].contains(where: FileSystem.exists) else {
            throw XCTSkip("the netns cluster tests run OCI tasks: apt-get install -y runc")
        }
        guard FileSystem.exists("/bin/busybox") else { throw XCTSkip("the netns cluster tests need a static busybox: apt-get install -y busybox-static") }
        if let missing = kernelSupport { throw XCTSkip("the netns cluster tests need kernel support: \(missing)") }
        guard FileSystem.exists(dockerBinary) else { throw XCTSkip("the docker CLI is not installed at \(dockerBinary)") }
        guard let python = try? run(["python3", "-c", "import docker"], seconds: 30), python.status == 0 else {
            throw XCTSkip("docker-py is not installed: python3 -m pip install docker==7.1.0")
        }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("swarmctl").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        throw XCTSkip("swarmctl is not built next to the test bundle; run `swift build` first")
    }

    /// Probed once in a scratch namespace: nil when VXLAN links and an nftables NAT table work.
    static let kernelSupport: String? = {
        let scratch = "e2eprobe\(getpid())"
        defer { _ = try? run(["ip", "netns", "del", scratch], seconds: 10) }
        let steps: [[String]] = [["ip", "netns", "add", scratch],
                                 ["ip", "-n", scratch, "link", "add", "vxprobe", "type", "vxlan", "id", "42", "dstport", "4789", "nolearning"],
                                 ["ip", "netns", "exec", scratch, "nft", "add table ip probe; add chain ip probe c { type nat hook output priority -100; }"]]
        for step in steps {
            guard let output = try? run(step, seconds: 10), output.status == 0 else {
                return "\(step.joined(separator: " ")) failed (no VXLAN or nf_tables NAT in this kernel?)"
            }
        }
        return nil
    }()

    /// Brings up `managers` managers and `workers` workers (`testbed up --netns`); on failure
    /// whatever was created is removed before the error is thrown.
    init(binary: String, managers: Int, workers: Int) throws {
        self.binary = binary
        Self.sweepAbandoned()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(Self.directoryPrefix)\(getpid())-\(UUID().uuidString.prefix(6))").path
        let up = try Self.run([binary, "testbed", "up", "--netns", "--managers", String(managers), "--workers", String(workers), "--dir", directory],
                              seconds: 180)
        guard up.status == 0 else {
            down()
            throw HarnessError("testbed up --netns failed: \(up)\n\(nodeLogs())")
        }
        environment = try Self.load(directory + "/testbed.env")
    }

    /// `testbed down`: stops every node, deletes its containers, removes every namespace.
    func down() {
        if FileSystem.exists(directory) {
            _ = try? Self.run([binary, "testbed", "down", "--dir", directory], seconds: 120)
        }
        if let prefix = environment["TESTBED_NETNS_PREFIX"] { UnderlayNetwork.destroy(prefix: prefix) }
    }

    /// Brings down the testbeds of earlier runs whose test process is gone (it crashed or was
    /// killed before its `down`).
    static func sweepAbandoned() {
        let temporary = FileManager.default.temporaryDirectory.path
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? [] where name.hasPrefix(directoryPrefix) {
            let owner = name.dropFirst(directoryPrefix.count).split(separator: "-").first.flatMap { pid_t($0) }
            guard let owner, owner != getpid(), kill(owner, 0) != 0 else { continue }
            let binary = (try? requirements()) ?? "swarmctl"
            _ = try? run([binary, "testbed", "down", "--dir", "\(temporary)/\(name)"], seconds: 120)
        }
    }

    // MARK: Running things

    /// Runs `arguments` (no shell), stdout and stderr together, killed after `seconds`.
    static func run(_ arguments: [String], seconds: Double) throws -> Output {
        let quoted = arguments.map { "'" + $0.replacingOccurrences(of: "'", with: #"'\''"#) + "'" }.joined(separator: " ")
        return try shellScript("exec \(quoted)", seconds: seconds)
    }

    static func shellScript(_ script: String, seconds: Double) throws -> Output {
        let child = try ChildProcess.spawn("/bin/sh", arguments: ["-c", "exec 2>&1 </dev/null; " + script])
        let deadline = monotonicNanoseconds() + UInt64(seconds * 1e9)
        var output: [UInt8] = []
        var timedOut = false
        while true {
            guard monotonicNanoseconds() < deadline else {
                timedOut = true
                try? child.kill(SIGKILL)
                break
            }
            guard let chunk = try child.readOutput(timeoutMilliseconds: 200) else { break }
            output += chunk
        }
        let (code, signal) = try child.wait()
        let text = String(decoding: output, as: UTF8.self) + (timedOut ? "\n(killed after \(Int(seconds)) s)" : "")
        return Output(status: timedOut ? 124 : code ?? 128 + (signal ?? 0), text: text)
    }

    /// A shell script with the testbed's variables exported (DOCKER_HOST, SWARMCTL_HOST,
    /// TESTBED_CLIENT_NETNS, MANAGER_1_NETNS …) and a private docker config.
    func shell(_ script: String, seconds: Double = 60) throws -> Output {
        let prologue = "set -a; . '\(directory)/testbed.env'; set +a; export DOCKER_CONFIG='\(directory)/docker-config' DOCKER_CLI_HINTS=false; "
        return try Self.shellScript(prologue + script, seconds: seconds)
    }

    func docker(_ arguments: [String], seconds: Double = 60) throws -> Output {
        try shell(([Self.dockerBinary] + arguments).map(Self.quote).joined(separator: " "), seconds: seconds)
    }

    func swarmctl(_ arguments: [String], seconds: Double = 60) throws -> Output {
        try shell(([binary] + arguments).map(Self.quote).joined(separator: " "), seconds: seconds)
    }

    /// docker-py with `client` connected to the testbed (`docker.DockerClient(base_url=$DOCKER_HOST)`).
    func dockerPy(_ body: String, seconds: Double = 60) throws -> Output {
        let program = "import os, json, docker\nclient = docker.DockerClient(base_url=os.environ['DOCKER_HOST'], version='1.41')\n" + body
        return try shell("python3 -c \(Self.quote(program))", seconds: seconds)
    }

    /// A script in the client namespace (the outside user at 192.0.2.200).
    func fromClient(_ script: String, seconds: Double = 60) throws -> Output {
        try shell("ip netns exec \"$TESTBED_CLIENT_NETNS\" sh -c \(Self.quote(script))", seconds: seconds)
    }

    /// A script in a node's network namespace (nft, ip, conntrack of that node).
    func inNode(_ node: String, _ script: String, seconds: Double = 60) throws -> Output {
        let variable = node.uppercased().replacingOccurrences(of: "-", with: "_") + "_NETNS"
        return try shell("nsenter --net=\"$\(variable)\" sh -c \(Self.quote(script))", seconds: seconds)
    }

    /// A script inside a running task's container (its mount, UTS and network namespaces, its
    /// root): what `docker exec` would run, with the image's busybox shell.
    func inTask(pid: Int, _ script: String, seconds: Double = 60) throws -> Output {
        try shell("nsenter -t \(pid) -m -u -n -r -w /bin/sh -c \(Self.quote(script))", seconds: seconds)
    }

    static func quote(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'" }

    // MARK: Reading the cluster

    /// One task as the managers record it.
    struct Task {
        var id: String
        var serviceID: String
        var nodeID: String
        var desiredState: String
        var state: String
        var pid: Int
        /// Network name → the task's address on it (without the prefix length).
        var addresses: [String: String]
    }

    /// The tasks of the service named `service` (all of them, including ended ones).
    func tasks(service: String) throws -> [Task] {
        let output = try shell("curl -sf --unix-socket \"${SWARMCTL_HOST#unix:}\" 'http://localhost/v1.41/tasks?filters=%7B%22service%22%3A%5B%22\(service)%22%5D%7D'")
        guard output.status == 0, let list = try JSONSerialization.jsonObject(with: Data(output.text.utf8)) as? [[String: Any]] else {
            throw HarnessError("GET /tasks failed: \(output)")
        }
        return list.map { task in
            let status = task["Status"] as? [String: Any] ?? [:]
            let container = status["ContainerStatus"] as? [String: Any] ?? [:]
            var addresses: [String: String] = [:]
            for attachment in task["NetworksAttachments"] as? [[String: Any]] ?? [] {
                let name = ((attachment["Network"] as? [String: Any])?["Spec"] as? [String: Any])?["Name"] as? String ?? "?"
                if let address = (attachment["Addresses"] as? [String])?.first { addresses[name] = String(address.split(separator: "/")[0]) }
            }
            return Task(id: task["ID"] as? String ?? "", serviceID: task["ServiceID"] as? String ?? "", nodeID: task["NodeID"] as? String ?? "",
                        desiredState: task["DesiredState"] as? String ?? "", state: status["State"] as? String ?? "",
                        pid: container["PID"] as? Int ?? 0, addresses: addresses)
        }
    }

    /// The running tasks of `service`, once `count` of them run with a container pid.
    func runningTasks(service: String, count: Int, seconds: Double = 90) throws -> [Task] {
        var running: [Task] = []
        try waitUntil("\(count) tasks of \(service) run", seconds: seconds) {
            running = try self.tasks(service: service).filter { $0.state == "running" && $0.desiredState == "running" && $0.pid > 0 }
            return running.count == count
        }
        return running
    }

    /// Testbed node name (manager-1 …) by node id: every node runs on this machine (one hostname),
    /// so nodes are told apart by their underlay address (`Status.Addr`, `*_UNDERLAY` in testbed.env).
    func nodeNames() throws -> [String: String] {
        let output = try shell("\(Self.dockerBinary) node inspect --format '{{.ID}} {{.Status.Addr}}' $(\(Self.dockerBinary) node ls -q)")
        var byAddress: [String: String] = [:]
        for (key, value) in environment where key.hasSuffix("_UNDERLAY") {
            byAddress[value] = key.dropLast("_UNDERLAY".count).lowercased().replacingOccurrences(of: "_", with: "-")
        }
        var names: [String: String] = [:]
        for line in output.lines {
            let fields = line.split(separator: " ")
            // Status.Addr is the cluster address here (192.0.2.N:2377); dockerd shows the IP alone.
            let address = fields.count == 2 ? String(fields[1].split(separator: ":")[0]) : ""
            if let name = byAddress[address] { names[String(fields[0])] = name }
        }
        return names
    }

    /// The underlay address of a node (192.0.2.N).
    func underlay(_ node: String) -> String {
        environment[node.uppercased().replacingOccurrences(of: "-", with: "_") + "_UNDERLAY"] ?? "?"
    }

    var nodes: [String] { (environment["TESTBED_NODES"] ?? "").split(separator: " ").map(String.init) }

    /// Polls `condition` every 200 ms until it holds or `seconds` pass; the failure names `what`
    /// and carries the tail of the node logs.
    func waitUntil(_ what: String, seconds: Double, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        var lastError: Error?
        while Date() < deadline {
            do {
                if try condition() { return }
            } catch {
                lastError = error
            }
            usleep(200_000)
        }
        throw HarnessError("timed out after \(Int(seconds)) s waiting until \(what)\(lastError.map { " (last error: \($0))" } ?? "")\n\(nodeLogs())")
    }

    /// The last lines of every node's log, for failure messages.
    func nodeLogs(lines: Int = 15) -> String {
        let logs = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".log") }.sorted()
        return logs.map { name in
            let text = (try? String(contentsOfFile: "\(directory)/\(name)", encoding: .utf8)) ?? ""
            return "--- \(name)\n" + text.split(separator: "\n").suffix(lines).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    private static func load(_ path: String) throws -> [String: String] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...]).trimmingCharacters(in: CharacterSet(charactersIn: "'"))
        }
        return values
    }
}

/// A harness failure with what was seen.
struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
