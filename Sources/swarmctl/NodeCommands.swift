import ClusterState
import Executor
import Glibc
import Platform
import SwarmNode

/// `swarmctl init | join | run`: start a node in the foreground until SIGTERM or SIGINT.
enum NodeCommands {
    static func run(_ command: String, _ rawArguments: [String]) throws -> Int32 {
        var arguments = try CommandLineArguments(rawArguments, switches: Set(NodeConfiguration.switchKeys.map { "--" + $0 }))
        var configuration = NodeConfiguration()
        do {
            if let file = arguments.takeValue("--config") { try configuration.load(file: file) }
            for key in NodeConfiguration.keys {
                if NodeConfiguration.switchKeys.contains(key) {
                    if arguments.takeSwitch("--" + key) { try configuration.set(key, "true") }
                } else if let value = arguments.takeValue("--" + key) {
                    try configuration.set(key, value)
                }
            }
            try configuration.validate()
        } catch {
            throw UsageError(message: error.message)
        }
        // A node whose executor cannot work must say so before it initialises or joins a cluster
        // (`run` checks once its saved settings are restored, when the node starts its agent).
        if command != "run", let kind = ExecutorKind(rawValue: configuration.executor) {
            do {
                _ = try ExecutorFactory.choose(kind: kind, isRoot: geteuid() == 0, runtimePath: OCIRuntime.find())
            } catch {
                throw CommandFailure(message: "\(error)")
            }
        }
        let token = arguments.takeValue("--token")
        let addressPool = command == "init" ? try AddressPoolFlags.take(&arguments) : nil
        try arguments.finish(command: command)
        let signals = blockTerminationSignals()

        let node: SwarmNode
        do {
            switch command {
            case "init":
                try requireNoPositionals(arguments, command)
                let (started, result) = try SwarmNode.initialize(configuration, addressPool: addressPool)
                node = started
                printInitMessage(result)
            case "join":
                guard let token else { throw UsageError(message: "join needs --token TOKEN: get one with 'swarmctl join-token worker' on a manager") }
                guard arguments.positionals.count == 1 else {
                    throw UsageError(message: "join needs exactly one MANAGER_HOST:PORT argument")
                }
                node = try SwarmNode.join(configuration, token: token, manager: arguments.positionals[0])
                if node.isManager { waitUntilVoting(node) }
                writeStandardOutput("This node joined a swarm as a \(node.isManager ? "manager" : "worker").\n")
            default:
                try requireNoPositionals(arguments, command)
                guard let dataDirectory = configuration.dataDirectory else {
                    throw UsageError(message: "run needs --data-dir DIR (the directory given to init or join)")
                }
                do {
                    configuration = try NodeConfiguration.restored(in: dataDirectory, overriddenBy: configuration)
                } catch {
                    throw CommandFailure(message: "\(error.message): fix or remove \(NodeConfiguration.savedPath(in: dataDirectory))")
                }
                node = try SwarmNode.run(configuration, stopRequested: { terminationPending(signals) })
            }
            _ = try? node.onLoop { $0.onRemoved = { _ = kill(getpid(), SIGTERM) } }
            try saveSettings(configuration)
        } catch let error as NodeError {
            throw CommandFailure(message: error.message)
        }
        waitForTermination(signals)
        node.stop(leavingTasksRunning: true)
        return 0
    }

    /// A manager joins as a Raft learner and votes once it has caught up; until then it does not
    /// count toward a quorum, so success is printed only once it votes (progress meanwhile).
    private static func waitUntilVoting(_ node: SwarmNode, timeoutSeconds: Int = 300) {
        writeStandardError("Waiting for this manager to catch up with the leader and become a Raft voter…\n")
        for _ in 0..<(timeoutSeconds * 10) {
            if (try? node.onLoop { $0.isRaftVoter }) == true { return }
            usleep(100_000)
        }
        writeStandardError("swarmctl: warning: this manager is still catching up after \(timeoutSeconds) s: "
            + "wait until 'swarmctl node ls' shows it Reachable before stopping another manager\n")
    }

    /// Keeps the settings the node runs with in its data dir, so a later `run` restores them.
    private static func saveSettings(_ configuration: NodeConfiguration) throws {
        guard let dataDirectory = configuration.dataDirectory else { return }
        let path = NodeConfiguration.savedPath(in: dataDirectory)
        do {
            try FileSystem.replaceAtomically(path, with: Array(configuration.savedText().utf8), mode: 0o600)
        } catch {
            writeStandardError("swarmctl: warning: could not save the node's settings to \(path) (\(error)); 'swarmctl run' will need them as flags\n")
        }
    }

    private static func requireNoPositionals(_ arguments: CommandLineArguments, _ command: String) throws {
        guard arguments.positionals.isEmpty else {
            throw UsageError(message: "\(command) takes no arguments, got '\(arguments.positionals[0])'")
        }
    }

    private static func printInitMessage(_ result: InitResult) {
        writeStandardOutput("""
        Swarm initialized: current node (\(result.nodeID)) is now a manager.

        To add a worker to this swarm, run the following command:

        \(JoinCommand.text(token: result.workerToken, manager: result.advertiseAddress))

        To add a manager to this swarm, run 'swarmctl join-token manager' and follow the instructions.


        """)
    }

    /// Blocks SIGINT and SIGTERM in every thread (call before any thread starts) so the main
    /// thread can wait for them with sigwait.
    private static func blockTerminationSignals() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        return set
    }

    /// True once SIGINT or SIGTERM is pending (blocked, not yet taken by `waitForTermination`).
    private static func terminationPending(_ signals: sigset_t) -> Bool {
        var pending = sigset_t()
        sigpending(&pending)
        return sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1
    }

    private static func waitForTermination(_ signals: sigset_t) {
        var set = signals
        var received: Int32 = 0
        sigwait(&set, &received)
        writeStandardError("swarmctl: received signal \(received), stopping\n")
    }
}
