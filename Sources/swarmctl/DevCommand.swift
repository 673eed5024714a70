import ClusterState
import Foundation
import Glibc
import Platform

/// `swarmctl dev`: a local cluster of real node processes on 127.0.0.1 for development and
/// demos. Starts the managers and workers, waits until every node is ready, prints how to
/// reach the cluster, and stops every process it started on SIGINT or SIGTERM.
enum DevCommand {
    struct Member {
        var name: String
        var process: ChildProcess
        var api: String
    }

    static func run(_ rawArguments: [String]) throws -> Int32 {
        var arguments = try CommandLineArguments(rawArguments, switches: [])
        let managers = try arguments.takeInt("--managers", in: 1...7) ?? 3
        let workers = try arguments.takeInt("--workers", in: 0...20) ?? 2
        let chosenDirectory = arguments.takeValue("--dir")
        let directory = chosenDirectory ?? (NSTemporaryDirectory() + "swarmctl-dev-\(getpid())")
        try arguments.finish(command: "dev")
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        // The nodes' task processes outlive a node that dies; as their reaper we end them at exit.
        try OrphanReaper.adoptOrphans()
        try FileSystem.makeDirectories(directory, mode: 0o700)
        let binary = (try? FileSystem.readLink("/proc/self/exe")) ?? CommandLine.arguments[0]
        var members: [Member] = []
        defer {
            for member in members.reversed() {
                try? member.process.kill(SIGTERM)
                _ = try? member.process.wait()
            }
            OrphanReaper.endAdoptedChildren()
            // A directory we made ourselves goes with the cluster; a chosen one is kept for inspection.
            if chosenDirectory == nil { try? FileManager.default.removeItem(atPath: directory) }
        }
        func start(_ name: String, _ command: [String]) throws -> Member {
            let port = try freePort()
            let api = "unix:\(directory)/\(name).sock"
            let arguments = command + ["--data-dir", "\(directory)/\(name)", "--listen-addr", "127.0.0.1:\(port)", "--api-addr", api]
            let quoted = ([binary] + arguments).map { "'\($0)'" }.joined(separator: " ")
            let process = try ChildProcess.spawn("/bin/sh", arguments: ["-c", "exec \(quoted) >/dev/null 2>>'\(directory)/\(name).log'"])
            writeStandardError("dev: started \(name) (pid \(process.pid), cluster port 127.0.0.1:\(port), API \(api))\n")
            return Member(name: name, process: process, api: api)
        }
        members.append(try start("manager-1", ["init"]))
        let first = try APIConnection(host: members[0].api)
        try waitUntil("manager-1 answers", seconds: 30) { (try? first.request("GET", "/info")) != nil }
        let cluster = try first.decode(Cluster.self, "GET", "/swarm")
        let firstAddress = try managerAddress(first)
        for index in 2...max(2, managers) where index <= managers {
            members.append(try start("manager-\(index)", ["join", "--token", cluster.joinTokens.manager, firstAddress]))
        }
        for index in 1...max(1, workers) where workers > 0 {
            members.append(try start("worker-\(index)", ["join", "--token", cluster.joinTokens.worker, firstAddress]))
        }
        try waitUntil("all \(members.count) nodes are ready", seconds: 60) {
            guard let nodes = try? first.decode([Node].self, "GET", "/nodes") else { return false }
            writeStandardError("dev: \(nodes.filter { $0.status.state == .ready }.count)/\(members.count) nodes ready\n")
            return nodes.count == members.count && nodes.allSatisfy { $0.status.state == .ready }
        }
        writeStandardOutput("""
        Local cluster is up: \(managers) managers, \(workers) workers, data and logs in \(directory)

            export SWARMCTL_HOST=\(members[0].api)
            swarmctl node ls
            DOCKER_HOST=\(members[0].api.replacingOccurrences(of: "unix:", with: "unix://")) docker node ls

        """)
        var nodeArguments = try CommandLineArguments(["ls"], switches: [])
        _ = try NodeClientCommands.run(first, &nodeArguments)
        try deployDemoService(first)
        writeStandardOutput("\nThe demo service heals itself: kill a task's process or a worker and watch 'swarmctl service ps demo'.\nPress Ctrl-C to stop every node.\n")
        var received: Int32 = 0
        sigwait(&signals, &received)
        writeStandardError("dev: stopping \(members.count) nodes\n")
        return 0
    }

    /// The demo: a replicated service whose tasks print a line every few seconds, created with
    /// live per-slot progress, then its `service ps` table.
    private static func deployDemoService(_ connection: APIConnection) throws {
        writeStandardOutput("\nDeploying the demo service (6 replicas):\n")
        let script = "while true; do echo \"hello from task $TASK_SLOT on $(hostname)\"; sleep 5; done"
        var create = try CommandLineArguments(["create", "--name", "demo", "--replicas", "6", "--env", "TASK_SLOT=demo",
                                               "--restart-delay", "1s", "busybox", "sh", "-c", script],
                                              switches: ServiceSpecFlags.switches, flagsEndAfter: 2)
        let status = try ServiceClientCommands.create(connection, &create, Array(create.positionals.dropFirst()))
        guard status == 0 else { throw CommandFailure(message: "the demo service did not converge: see the node logs in the --dir directory") }
        writeStandardOutput("\n$ swarmctl service ps demo\n")
        var ps = try CommandLineArguments(["ps", "demo"], switches: [])
        _ = try ServiceClientCommands.tasks(connection, &ps, ["demo"])
    }

    private static func managerAddress(_ connection: APIConnection) throws -> String {
        let info = try connection.json("GET", "/info") as? [String: Any] ?? [:]
        guard let address = ((info["Swarm"] as? [String: Any])?["RemoteManagers"] as? [[String: Any]])?.first?["Addr"] as? String else {
            throw CommandFailure(message: "the first manager did not report its address")
        }
        return address
    }

    private static func freePort() throws -> Int {
        let socket = try Socket.listen(on: try SocketAddress(parsing: "127.0.0.1:0"))
        defer { socket.close() }
        return Int(try socket.localAddress().port ?? 0)
    }

    private static func waitUntil(_ what: String, seconds: Double, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return }
            usleep(250_000)
        }
        throw CommandFailure(message: "timed out after \(Int(seconds))s waiting until \(what): see the logs in the --dir directory")
    }
}
