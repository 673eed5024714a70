import ClusterState
import Foundation

/// `swarmctl node ls | inspect | update | promote | demote | rm`, with docker's output shapes.
enum NodeClientCommands {
    static func run(_ connection: APIConnection, _ arguments: inout CommandLineArguments) throws -> Int32 {
        guard !arguments.positionals.isEmpty else {
            throw UsageError(message: "node needs a subcommand: ls, inspect, update, promote, demote, rm or ps")
        }
        let subcommand = arguments.positionals[0]
        let targets = Array(arguments.positionals.dropFirst())
        switch subcommand {
        case "ls", "list": return try list(connection, &arguments)
        case "inspect": return try inspect(connection, &arguments, targets)
        case "update": return try update(connection, &arguments, targets)
        case "promote", "demote": return try changeRole(connection, &arguments, targets, to: subcommand == "promote" ? .manager : .worker)
        case "rm", "remove": return try remove(connection, &arguments, targets)
        case "ps": return try tasks(connection, &arguments, targets)
        default: throw UsageError(message: "unknown node subcommand '\(subcommand)': use ls, inspect, update, promote, demote, rm or ps")
        }
    }

    static func list(_ connection: APIConnection, _ arguments: inout CommandLineArguments) throws -> Int32 {
        let options = try ListOptions(&arguments)
        let format = arguments.takeValue("--format")
        try arguments.finish(command: "node ls")
        if format == "json" {
            printJSON(try connection.json("GET", "/nodes", query: options.query))
            return 0
        }
        let nodes = try connection.decode([Node].self, "GET", "/nodes", query: options.query)
        if options.quiet {
            writeStandardOutput(nodes.sorted { $0.description.hostname + $0.id < $1.description.hostname + $1.id }.map { $0.id + "\n" }.joined())
            return 0
        }
        let info = try connection.json("GET", "/info") as? [String: Any] ?? [:]
        let selfID = (info["Swarm"] as? [String: Any])?["NodeID"] as? String
        let rows = nodes.sorted { $0.description.hostname + $0.id < $1.description.hostname + $1.id }.map { node in
            [
                node.id + (node.id == selfID ? " *" : ""),
                node.description.hostname,
                node.status.state.rawValue.capitalized,
                node.spec.availability.rawValue.capitalized,
                managerStatusText(node),
                node.description.engine.engineVersion,
            ]
        }
        printTable(["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS", "ENGINE VERSION"], rows)
        return 0
    }

    /// `node ps [NODE|self]...`: the tasks on the nodes (this node without NODE), docker's columns.
    static func tasks(_ connection: APIConnection, _ arguments: inout CommandLineArguments, _ targets: [String]) throws -> Int32 {
        var options = try ListOptions(&arguments)
        let format = arguments.takeValue("--format")
        let noTrunc = arguments.takeSwitch("--no-trunc")
        try arguments.finish(command: "node ps")
        for reference in targets.isEmpty ? ["self"] : targets {
            options.require("node", reference == "self" ? try selfNodeID(connection) : reference)
        }
        return try TaskListing(connection: connection, options: options, format: format, noTrunc: noTrunc, quietFullIDs: false).print()
    }

    static func managerStatusText(_ node: Node) -> String {
        guard let status = node.managerStatus else { return "" }
        if status.leader == true { return "Leader" }
        return (status.reachability ?? "unknown").capitalized
    }

    static func inspect(_ connection: APIConnection, _ arguments: inout CommandLineArguments, _ targets: [String]) throws -> Int32 {
        let pretty = arguments.takeSwitch("--pretty")
        try arguments.finish(command: "node inspect")
        let references = targets.isEmpty ? ["self"] : targets
        var objects: [Any] = []
        for reference in references {
            let id = reference == "self" ? try selfNodeID(connection) : reference
            if pretty {
                let node = try connection.decode(Node.self, "GET", "/nodes/\(id)")
                writeStandardOutput("""
                ID:                     \(node.id)
                Hostname:               \(node.description.hostname)
                Joined at:              \(RFC3339.format(node.createdAt.millisecondsSinceEpoch))
                Status:
                 State:                 \(node.status.state.rawValue.capitalized)
                 Availability:          \(node.spec.availability.rawValue.capitalized)
                 Address:               \(node.status.addr)
                \(node.managerStatus.map { "Manager Status:\n Address:               \($0.addr)\n Raft Status:           \(managerStatusText(node))\n Leader:                \($0.leader == true ? "Yes" : "No")\n" } ?? "")Platform:
                 Operating System:      \(node.description.platform.os)
                 Architecture:          \(node.description.platform.architecture)
                Resources:
                 CPUs:                  \(node.description.resources.nanoCPUs / 1_000_000_000)
                 Memory:                \(node.description.resources.memoryBytes / (1 << 20))MiB
                Engine Version:         \(node.description.engine.engineVersion)

                """)
            } else {
                objects.append(try connection.json("GET", "/nodes/\(id)"))
            }
        }
        if !pretty { printJSON(objects) }
        return 0
    }

    static func selfNodeID(_ connection: APIConnection) throws -> String {
        let info = try connection.json("GET", "/info") as? [String: Any] ?? [:]
        guard let id = (info["Swarm"] as? [String: Any])?["NodeID"] as? String else {
            throw CommandFailure(message: "the node did not report its id")
        }
        return id
    }

    static func update(_ connection: APIConnection, _ arguments: inout CommandLineArguments, _ targets: [String]) throws -> Int32 {
        let availability = arguments.takeValue("--availability")
        let role = arguments.takeValue("--role")
        let additions = arguments.takeValues("--label-add")
        let removals = arguments.takeValues("--label-rm")
        try arguments.finish(command: "node update")
        guard targets.count == 1 else { throw UsageError(message: "node update needs exactly one NODE") }
        let newAvailability = try availability.map { text throws(UsageError) -> NodeAvailability in
            guard let value = NodeAvailability(rawValue: text) else {
                throw UsageError(message: "--availability \(text): use active, pause or drain")
            }
            return value
        }
        let newRole = try role.map { text throws(UsageError) -> NodeRole in
            guard let value = NodeRole(rawValue: text) else { throw UsageError(message: "--role \(text): use worker or manager") }
            return value
        }
        try updateSpec(connection, targets[0]) { spec in
            if let newAvailability { spec.availability = newAvailability }
            if let newRole { spec.role = newRole }
            for label in additions {
                let parts = label.split(separator: "=", maxSplits: 1)
                spec.labels[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
            }
            for key in removals { spec.labels[key] = nil }
        }
        writeStandardOutput(targets[0] + "\n")
        return 0
    }

    static func changeRole(_ connection: APIConnection, _ arguments: inout CommandLineArguments, _ targets: [String], to role: NodeRole) throws -> Int32 {
        try arguments.finish(command: role == .manager ? "node promote" : "node demote")
        guard !targets.isEmpty else { throw UsageError(message: "node \(role == .manager ? "promote" : "demote") needs at least one NODE") }
        for target in targets {
            try updateSpec(connection, target) { $0.role = role }
            writeStandardOutput("Node \(target) \(role == .manager ? "promoted to a manager" : "demoted") in the swarm.\n")
        }
        return 0
    }

    /// Reads the node, edits its spec, and writes it back with the version it read.
    static func updateSpec(_ connection: APIConnection, _ target: String, _ edit: (inout NodeSpec) -> Void) throws {
        let node = try connection.decode(Node.self, "GET", "/nodes/\(target)")
        var spec = node.spec
        edit(&spec)
        _ = try connection.request("POST", "/nodes/\(node.id)/update", query: [("version", String(node.version.index))],
                                   body: Array(try JSONEncoder().encode(spec)))
    }

    static func remove(_ connection: APIConnection, _ arguments: inout CommandLineArguments, _ targets: [String]) throws -> Int32 {
        let force = arguments.takeSwitch("--force", "-f")
        try arguments.finish(command: "node rm")
        guard !targets.isEmpty else { throw UsageError(message: "node rm needs at least one NODE") }
        for target in targets {
            _ = try connection.request("DELETE", "/nodes/\(target)", query: [("force", force ? "true" : "false")])
            writeStandardOutput(target + "\n")
        }
        return 0
    }
}
