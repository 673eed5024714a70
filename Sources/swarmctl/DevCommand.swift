import ClusterState
import Foundation
import Glibc
import Platform

/// `swarmctl dev`: a local cluster of real node processes on 127.0.0.1 for development and
/// demos. Starts the managers and workers, waits until every node is ready, deploys a demo
/// service with live progress, and stops every process it started on SIGINT or SIGTERM.
enum DevCommand {
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
        var members: [LocalClusterLauncher.Member] = []
        defer {
            for member in members.reversed() {
                try? member.process.kill(SIGTERM)
                _ = try? member.process.wait()
            }
            OrphanReaper.endAdoptedChildren()
            // A directory we made ourselves goes with the cluster; a chosen one is kept for inspection.
            if chosenDirectory == nil { try? FileManager.default.removeItem(atPath: directory) }
        }
        let launcher = LocalClusterLauncher(directory: directory, nodeFlags: ["--executor", "process"])
        let first = try launcher.launch(managers: managers, workers: workers) { members.append($0) }
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
        let script = "while true; do echo \"hello from a demo task on $(hostname)\"; sleep 5; done"
        var create = try CommandLineArguments(["create", "--name", "demo", "--replicas", "6", "--restart-delay", "1s",
                                               "busybox", "sh", "-c", script],
                                              switches: ServiceSpecFlags.switches, flagsEndAfter: 2)
        let status = try ServiceClientCommands.create(connection, &create, Array(create.positionals.dropFirst()))
        guard status == 0 else { throw CommandFailure(message: "the demo service did not converge: see the node logs in the --dir directory") }
        writeStandardOutput("\n$ swarmctl service ps demo\n")
        var ps = try CommandLineArguments(["ps", "demo"], switches: [])
        _ = try ServiceClientCommands.tasks(connection, &ps, ["demo"])
    }
}
