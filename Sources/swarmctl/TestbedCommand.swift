import Foundation
import Glibc
import Executor
import Networking
import Platform

/// `swarmctl testbed up|down|kill|stop|cont|restart|ls`: a local cluster of real node processes
/// with chaos enabled, left running for failure-injection scripts. `up` records every node in
/// `DIR/testbed.env` (shell `KEY=VALUE` lines) so scripts can `source` it; the other
/// subcommands read it back and act on the processes by pid.
enum TestbedCommand {
    static let defaultDirectory = NSTemporaryDirectory() + "swarmctl-testbed"

    static func run(_ rawArguments: [String]) throws -> Int32 {
        var arguments = try CommandLineArguments(rawArguments, switches: ["--keep", "--netns"])
        let directory = arguments.takeValue("--dir") ?? defaultDirectory
        guard let subcommand = arguments.positionals.first else {
            throw UsageError(message: "testbed needs a subcommand: up, down, ls, kill, stop, cont or restart")
        }
        let operands = Array(arguments.positionals.dropFirst())
        switch subcommand {
        case "up":
            let managers = try arguments.takeInt("--managers", in: 1...7) ?? 3
            let workers = try arguments.takeInt("--workers", in: 0...20) ?? 2
            let netns = arguments.takeSwitch("--netns")
            let executor = try TestbedSettings.executor(arguments.takeValue("--executor"), netns: netns)
            var initFlags = try AddressPoolFlags.pass(&arguments)
            if initFlags.isEmpty && netns { initFlags = TestbedSettings.netnsAddressPool }
            try arguments.finish(command: "testbed up")
            let settings = TestbedSettings(executor: executor, initFlags: initFlags)
            return try up(directory: directory, managers: managers, workers: workers, netns: netns, settings: settings)
        case "down":
            let keep = arguments.takeSwitch("--keep")
            try arguments.finish(command: "testbed down")
            return try down(directory: directory, keep: keep)
        case "ls":
            try arguments.finish(command: "testbed ls")
            return try list(directory: directory)
        case "kill", "stop", "cont", "restart":
            try arguments.finish(command: "testbed \(subcommand)")
            guard operands.count == 1 else { throw UsageError(message: "testbed \(subcommand) needs one node name (see 'swarmctl testbed ls')") }
            return try act(subcommand, on: operands[0], directory: directory)
        default:
            throw UsageError(message: "unknown testbed subcommand '\(subcommand)': use up, down, ls, kill, stop, cont or restart")
        }
    }

    // MARK: up / down

    static func up(directory: String, managers: Int, workers: Int, netns: Bool = false,
                   settings: TestbedSettings = TestbedSettings()) throws -> Int32 {
        if FileSystem.exists(directory + "/testbed.env") || FileSystem.exists(directory + "/" + TestbedNamespaces.prefixFile) {
            throw CommandFailure(message: "a testbed already runs in \(directory): run 'swarmctl testbed down --dir \(directory)' first, or pick another --dir")
        }
        try settings.check()
        try FileSystem.makeDirectories(directory, mode: 0o700)
        var launcher = LocalClusterLauncher(directory: directory, nodeFlags: settings.nodeFlags)
        launcher.initFlags = settings.initFlags
        let names = (1...max(1, managers)).map { "manager-\($0)" } + (0..<workers).map { "worker-\($0 + 1)" }
        if settings.executor == "oci" {
            try TestbedImage.install(directory: directory, dataDirectories: names.map { "\(directory)/\($0)" })
        }
        let namespaces = netns ? try TestbedNamespaces.create(directory: directory, nodes: names) : nil
        if let namespaces {
            launcher.placements = namespaces.placements
            launcher.flagsByNode = namespaces.nodeFlags
        }
        var members: [LocalClusterLauncher.Member] = []
        do {
            _ = try launcher.launch(managers: managers, workers: workers) { members.append($0) }
        } catch {
            for member in members { try? member.process.kill(SIGKILL) }
            for member in members { _ = try? member.process.wait() }
            namespaces?.destroy()
            throw error
        }
        for member in members { member.process.release() }
        var environment = TestbedEnvironment(directory: directory)
        environment.set(members: members)
        settings.record(in: &environment)
        if let namespaces { namespaces.record(in: &environment) }
        try environment.save()
        writeStandardOutput("""
        Testbed is up: \(managers) managers, \(workers) workers, chaos enabled, in \(directory)\(namespaces.map { "\n\($0.summary)" } ?? "")
        \(settings.summary)

            set -a; . \(directory)/testbed.env; set +a   # exports SWARMCTL_HOST, DOCKER_HOST, NODE_PID …
            swarmctl node ls                 # uses $SWARMCTL_HOST
            swarmctl testbed kill worker-1   # SIGKILL a node and its tasks; restart, stop, cont likewise
            swarmctl testbed down            # stop everything and remove \(directory)

        """)
        return 0
    }

    static func down(directory: String, keep: Bool) throws -> Int32 {
        if !FileSystem.exists(directory + "/testbed.env"), let prefix = TestbedNamespaces.recordedPrefix(directory: directory) {
            // `up` crashed before recording its nodes: only the namespaces are known.
            try TestbedNamespaces.remove(prefix: prefix, directory: directory)
            if !keep { try FileSystem.removeTree(directory) }
            return 0
        }
        let environment = try TestbedEnvironment.load(directory: directory)
        for node in environment.nodes {
            guard let pid = environment.pid(of: node) else { continue }
            _ = kill(pid, SIGCONT)
            _ = kill(pid, SIGTERM)
        }
        for node in environment.nodes {
            guard let pid = environment.pid(of: node) else { continue }
            if !waitForExit(pid, seconds: 10) { _ = kill(pid, SIGKILL) }
            endTasks(of: environment.dataDirectory(of: node))
        }
        for node in environment.nodes { removeContainers(of: environment.dataDirectory(of: node)) }
        writeStandardOutput("stopped \(environment.nodes.count) nodes\n")
        if let prefix = environment.value(TestbedNamespaces.prefixKey) ?? TestbedNamespaces.recordedPrefix(directory: directory) {
            try TestbedNamespaces.remove(prefix: prefix, directory: directory)
        }
        if keep {
            try? FileSystem.remove(directory + "/testbed.env")
        } else {
            try FileSystem.removeTree(directory)
        }
        return 0
    }

    static func list(directory: String) throws -> Int32 {
        let environment = try TestbedEnvironment.load(directory: directory)
        let rows = environment.nodes.map { node -> [String] in
            let pid = environment.pid(of: node)
            let state = pid.map { processState($0) } ?? "down"
            return [node, pid.map(String.init) ?? "-", state, environment.value("\(TestbedEnvironment.prefix(node))_ADDR") ?? "",
                    environment.value("\(TestbedEnvironment.prefix(node))_API") ?? ""]
        }
        printTable(["NODE", "PID", "STATE", "CLUSTER ADDRESS", "API"], rows)
        return 0
    }

    // MARK: Acting on one node

    static func act(_ action: String, on node: String, directory: String) throws -> Int32 {
        var environment = try TestbedEnvironment.load(directory: directory)
        guard environment.nodes.contains(node) else {
            throw CommandFailure(message: "no node \(node) in the testbed at \(directory): see 'swarmctl testbed ls'")
        }
        let pid = environment.pid(of: node)
        switch action {
        case "kill":
            guard let pid else { throw CommandFailure(message: "\(node) is not running: 'swarmctl testbed restart \(node)' starts it") }
            // A crashed machine loses its tasks too: SIGKILL the node, then what it ran.
            _ = kill(pid, SIGKILL)
            _ = waitForExit(pid, seconds: 5)
            endTasks(of: environment.dataDirectory(of: node))
            environment.setPID(nil, of: node)
        case "stop", "cont":
            guard let pid else { throw CommandFailure(message: "\(node) is not running") }
            _ = kill(pid, action == "stop" ? SIGSTOP : SIGCONT)
        default: // restart
            if let pid {
                _ = kill(pid, SIGCONT)
                _ = kill(pid, SIGTERM)
                if !waitForExit(pid, seconds: 10) { _ = kill(pid, SIGKILL) }
            }
            var launcher = LocalClusterLauncher(directory: directory, nodeFlags: TestbedSettings(recordedIn: environment).nodeFlags)
            launcher.placements = TestbedNamespaces.placements(from: environment)
            let process = try launcher.restart(node)
            process.release()
            environment.setPID(process.pid, of: node)
        }
        try environment.save()
        writeStandardOutput("\(action) \(node)\n")
        return 0
    }

    private static func waitForExit(_ pid: pid_t, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if [.gone, .zombie].contains(ProcessTable.state(of: pid)) { return true }
            usleep(50_000)
        }
        return false
    }

    /// "running", "stopped", "zombie" or "down", as `testbed ls` shows it.
    static func processState(_ pid: pid_t) -> String {
        let state = ProcessTable.state(of: pid)
        return state == .gone ? "down" : state.rawValue
    }

    /// Deletes the OCI containers a stopped node leaves in its runtime state and unmounts their
    /// root file systems (deepest first), so the data dir can be removed.
    static func removeContainers(of dataDirectory: String) {
        guard FileSystem.isDirectory(dataDirectory + "/runc"), let runtime = OCIRuntime.find() else { return }
        // The runtime and the directory go in as positional arguments (never into the script's
        // text), and mount points are matched as a literal prefix.
        let script = """
        for id in $("$1" --root "$2/runc" list -q); do "$1" --root "$2/runc" delete --force "$id"; done
        cut -d' ' -f5 /proc/self/mountinfo | awk -v p="$2/" 'index($0, p) == 1' | sort -r | xargs -r -n1 umount -l
        """
        guard let child = try? ChildProcess.spawn("/bin/sh", arguments: ["-c", "{ " + script + "\n} >/dev/null 2>&1", "sh", "\(runtime)", dataDirectory])
        else { return }
        _ = try? child.wait()
    }

    /// Ends the tasks a node started: the process executor's recorded task processes (pid and
    /// start time under DATA/containers) and the containers in the node's runtime state (DATA/runc).
    static func endTasks(of dataDirectory: String) {
        TaskProcessRecord.endAll(nodeDirectory: dataDirectory)
        if FileSystem.isDirectory(dataDirectory + "/runc"), let runtime = OCIRuntime.find() {
            OCIRuntime(path: runtime, stateDirectory: dataDirectory + "/runc").killAll()
        }
    }
}

/// `DIR/testbed.env`: shell `KEY=VALUE` lines naming every node's pid, data dir and addresses.
struct TestbedEnvironment {
    let directory: String
    private(set) var values: [(String, String)] = []

    init(directory: String) { self.directory = directory }

    static func prefix(_ node: String) -> String { node.uppercased().replacingOccurrences(of: "-", with: "_") }

    static func load(directory: String) throws -> TestbedEnvironment {
        guard let text = try? String(contentsOfFile: directory + "/testbed.env", encoding: .utf8) else {
            throw CommandFailure(message: "no testbed in \(directory): start one with 'swarmctl testbed up --dir \(directory)'")
        }
        var environment = TestbedEnvironment(directory: directory)
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            var value = String(line[line.index(after: equals)...])
            if value.hasPrefix("'") && value.hasSuffix("'") && value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            environment.values.append((String(line[..<equals]), value))
        }
        return environment
    }

    func value(_ key: String) -> String? { values.last { $0.0 == key }?.1 }

    mutating func setValue(_ key: String, _ value: String) {
        if let index = values.firstIndex(where: { $0.0 == key }) { values[index].1 = value } else { values.append((key, value)) }
    }

    var nodes: [String] { (value("TESTBED_NODES") ?? "").split(separator: " ").map(String.init) }

    func pid(of node: String) -> pid_t? { value("\(Self.prefix(node))_PID").flatMap { pid_t($0) } }

    func dataDirectory(of node: String) -> String { value("\(Self.prefix(node))_DATA") ?? "\(directory)/\(node)" }

    mutating func setPID(_ pid: pid_t?, of node: String) { setValue("\(Self.prefix(node))_PID", pid.map(String.init) ?? "") }

    mutating func set(members: [LocalClusterLauncher.Member]) {
        setValue("TESTBED_DIR", directory)
        setValue("SWARMCTL_HOST", members[0].api)
        setValue("DOCKER_HOST", members[0].api.replacingOccurrences(of: "unix:", with: "unix://"))
        setValue("TESTBED_NODES", members.map(\.name).joined(separator: " "))
        for member in members {
            let prefix = Self.prefix(member.name)
            setValue("\(prefix)_PID", String(member.process.pid))
            setValue("\(prefix)_DATA", member.dataDirectory)
            setValue("\(prefix)_API", member.api)
            setValue("\(prefix)_ADDR", member.clusterAddress)
        }
    }

    func save() throws {
        let text = "# swarmctl testbed: `set -a; . testbed.env; set +a` exports these to a shell\n"
            + values.map { "\($0.0)='\($0.1)'" }.joined(separator: "\n") + "\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: directory + "/testbed.env"), options: .atomic)
    }
}
