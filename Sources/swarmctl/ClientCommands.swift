import ClusterState
import Foundation

/// Commands that talk to a running node over its API: info, join-token, leave, node ….
enum ClientCommands {
    static func run(_ command: String, _ rawArguments: [String]) throws -> Int32 {
        // `-f` is `--filter` for `node ls|ps` and `--force` elsewhere, as in docker.
        let listing = command == "node" && ["ls", "list", "ps"].contains(rawArguments.first(where: { !$0.hasPrefix("-") }) ?? "")
        var arguments = try CommandLineArguments(rawArguments, switches: Set(["-q", "--quiet", "--rotate", "--force", "--pretty", "--no-trunc",
                                                                              "-d", "--detach"])
                                                     .union(listing ? [] : ["-f"]))
        let connection = try APIConnection(host: arguments.takeValue("-H", "--host"))
        switch command {
        case "info": return try info(connection, &arguments)
        case "join-token": return try joinToken(connection, &arguments)
        case "ca": return try CACommand.run(connection, &arguments)
        case "leave": return try leave(connection, &arguments)
        case "node": return try NodeClientCommands.run(connection, &arguments)
        case "swarm": return try SwarmCommand.run(connection, &arguments)
        default: throw UsageError(message: "unknown command '\(command)'")
        }
    }

    static func info(_ connection: APIConnection, _ arguments: inout CommandLineArguments) throws -> Int32 {
        let format = arguments.takeValue("--format")
        try arguments.finish(command: "info")
        guard let info = try connection.json("GET", "/info") as? [String: Any] else {
            throw CommandFailure(message: "unexpected /info answer")
        }
        if format == "json" {
            printJSON(info)
            return 0
        }
        let swarm = info["Swarm"] as? [String: Any] ?? [:]
        let cluster = swarm["Cluster"] as? [String: Any] ?? [:]
        let raft = swarm["Raft"] as? [String: Any] ?? [:]
        var lines = [
            "Cluster ID:     \(cluster["ID"] ?? "-")",
            "Node ID:        \(swarm["NodeID"] ?? "-")",
            "Node address:   \(swarm["NodeAddr"] ?? "-")",
            "Is manager:     \(swarm["ControlAvailable"] as? Bool == true ? "yes" : "no")",
            "Managers:       \(swarm["Managers"] ?? 0)",
            "Nodes:          \(swarm["Nodes"] ?? 0)",
        ]
        if !raft.isEmpty {
            lines.append("Raft leader:    \(raft["LeaderNodeID"] ?? raft["Leader"] ?? "-")")
            lines.append("Raft term:      \(raft["Term"] ?? "-")")
            lines.append("Raft commit:    \(raft["CommitIndex"] ?? "-")")
            lines.append("Raft applied:   \(raft["AppliedIndex"] ?? "-")")
        }
        if let dispatcher = swarm["Dispatcher"] as? [String: Any] {
            lines.append("Dispatcher:     \(dispatcher["Resyncs"] ?? 0) full resyncs, \(dispatcher["GapsSeen"] ?? 0) gaps seen, "
                + "\(dispatcher["UnacknowledgedResends"] ?? 0) unacknowledged resends, "
                + "\(dispatcher["UnacknowledgedFailures"] ?? 0) tasks failed unacknowledged")
        }
        writeStandardOutput(lines.joined(separator: "\n") + "\n")
        return 0
    }

    static func joinToken(_ connection: APIConnection, _ arguments: inout CommandLineArguments) throws -> Int32 {
        let quiet = arguments.takeSwitch("-q", "--quiet")
        let rotate = arguments.takeSwitch("--rotate")
        try arguments.finish(command: "join-token")
        guard arguments.positionals.count == 1, let role = NodeRole(rawValue: arguments.positionals[0]) else {
            throw UsageError(message: "join-token needs one argument: worker or manager")
        }
        if rotate {
            let cluster = try connection.decode(Cluster.self, "GET", "/swarm")
            let body = try JSONEncoder().encode(cluster.spec)
            _ = try connection.request("POST", "/swarm/update", query: [
                ("version", String(cluster.version.index)),
                (role == .worker ? "rotateWorkerToken" : "rotateManagerToken", "true"),
            ], body: Array(body))
            if !quiet { writeStandardOutput("Successfully rotated \(role.rawValue) join token.\n\n") }
        }
        let cluster = try connection.decode(Cluster.self, "GET", "/swarm")
        let token = role == .worker ? cluster.joinTokens.worker : cluster.joinTokens.manager
        if quiet {
            writeStandardOutput(token + "\n")
            return 0
        }
        let info = try connection.json("GET", "/info") as? [String: Any] ?? [:]
        let swarm = info["Swarm"] as? [String: Any] ?? [:]
        let address = (swarm["RemoteManagers"] as? [[String: Any]])?.first?["Addr"] as? String ?? "MANAGER_HOST:PORT"
        writeStandardOutput("""
        To add a \(role.rawValue) to this swarm, run the following command:

        \(JoinCommand.text(token: token, manager: address))


        """)
        return 0
    }

    static func leave(_ connection: APIConnection, _ arguments: inout CommandLineArguments) throws -> Int32 {
        let force = arguments.takeSwitch("--force", "-f")
        try arguments.finish(command: "leave")
        _ = try connection.request("POST", "/swarm/leave", query: [("force", force ? "true" : "false")])
        writeStandardOutput("Node left the swarm.\n")
        return 0
    }
}
