import ClusterState
import Foundation

/// `swarmctl network create|ls|inspect|rm`: overlay networks through the node's Docker API,
/// with docker's output shapes.
enum NetworkClientCommands {
    static func run(_ rawArguments: [String]) throws -> Int32 {
        var arguments = try CommandLineArguments(rawArguments, switches: ListOptions.switches.union(["--attachable"]))
        let connection = try APIConnection(host: arguments.takeValue("-H", "--host"))
        guard let subcommand = arguments.positionals.first else {
            throw UsageError(message: "network needs a subcommand: create, ls, inspect or rm")
        }
        let operands = Array(arguments.positionals.dropFirst())
        switch subcommand {
        case "create": return try create(connection, &arguments, operands)
        case "ls", "list": return try list(connection, &arguments)
        case "inspect": return try inspect(connection, &arguments, operands)
        case "rm", "remove": return try remove(connection, &arguments, operands)
        default: throw UsageError(message: "unknown network subcommand '\(subcommand)': use create, ls, inspect or rm")
        }
    }

    static func create(_ connection: APIConnection, _ arguments: inout CommandLineArguments, _ operands: [String]) throws -> Int32 {
        guard operands.count == 1 else { throw UsageError(message: "network create needs one name: swarmctl network create [OPTIONS] NETWORK") }
        let driver = arguments.takeValue("--driver", "-d") ?? NetworkSpec.overlayDriver
        guard driver == NetworkSpec.overlayDriver else {
            throw UsageError(message: "--driver \(driver): only overlay networks exist in this cluster (-d overlay)")
        }
        var body: [String: Any] = ["Name": operands[0], "Driver": driver, "Attachable": arguments.takeSwitch("--attachable")]
        var labels: [String: String] = [:]
        for label in arguments.takeValues("--label") {
            let (key, value) = try ServiceSpecFlags.keyValue(label, flag: "--label")
            labels[key] = value
        }
        body["Labels"] = labels
        let subnet = arguments.takeValue("--subnet")
        let gateway = arguments.takeValue("--gateway")
        if gateway != nil && subnet == nil { throw UsageError(message: "--gateway needs --subnet") }
        if let subnet {
            var config = ["Subnet": subnet]
            if let gateway { config["Gateway"] = gateway }
            body["IPAM"] = ["Config": [config]]
        }
        try arguments.finish(command: "network create")
        let answer = try connection.request("POST", "/networks/create", body: Array(try JSONSerialization.data(withJSONObject: body)))
        guard let created = try? JSONSerialization.jsonObject(with: Data(answer)) as? [String: Any], let id = created["Id"] as? String else {
            throw CommandFailure(message: "the node did not return the new network's id")
        }
        writeStandardOutput(id + "\n")
        return 0
    }

    static func list(_ connection: APIConnection, _ arguments: inout CommandLineArguments) throws -> Int32 {
        let options = try ListOptions(&arguments)
        let format = arguments.takeValue("--format")
        try arguments.finish(command: "network ls")
        if format == "json" {
            printJSON(try connection.json("GET", "/networks", query: options.query))
            return 0
        }
        let networks = try connection.decode([NetworkReference].self, "GET", "/networks", query: options.query)
        if options.quiet {
            writeStandardOutput(networks.map { String($0.id.prefix(12)) + "\n" }.joined())
            return 0
        }
        printTable(["NETWORK ID", "NAME", "DRIVER", "SCOPE", "SUBNET"], networks.map { network in
            [String(network.id.prefix(12)), network.name, network.driver, network.scope, network.ipam.config.first?.subnet ?? ""]
        })
        return 0
    }

    static func inspect(_ connection: APIConnection, _ arguments: inout CommandLineArguments, _ operands: [String]) throws -> Int32 {
        try arguments.finish(command: "network inspect")
        guard !operands.isEmpty else { throw UsageError(message: "network inspect needs at least one network") }
        printJSON(try operands.map { try connection.json("GET", "/networks/\($0)") })
        return 0
    }

    static func remove(_ connection: APIConnection, _ arguments: inout CommandLineArguments, _ operands: [String]) throws -> Int32 {
        try arguments.finish(command: "network rm")
        guard !operands.isEmpty else { throw UsageError(message: "network rm needs at least one network") }
        var failed = false
        for name in operands {
            do {
                _ = try connection.request("DELETE", "/networks/\(name)")
                writeStandardOutput(name + "\n")
            } catch let failure as CommandFailure {
                writeStandardError("swarmctl: \(failure.message)\n")
                failed = true
            }
        }
        return failed ? 1 : 0
    }
}

/// What the CLI reads of a network in the API's answer.
struct NetworkReference: Decodable {
    struct IPAM: Decodable {
        struct Config: Decodable {
            var subnet: String?
            enum CodingKeys: String, CodingKey { case subnet = "Subnet" }
        }
        var config: [Config]
        enum CodingKeys: String, CodingKey { case config = "Config" }
    }

    var id: String
    var name: String
    var driver: String
    var scope: String
    var ipam: IPAM

    enum CodingKeys: String, CodingKey { case id = "Id", name = "Name", driver = "Driver", scope = "Scope", ipam = "IPAM" }
}

enum NetworkUsage {
    static let group = """
    Usage:
      swarmctl network create [-d overlay] [--subnet CIDR [--gateway IP]] [--attachable] [--label K=V]... NETWORK
      swarmctl network ls [-q] [--filter K=V]... [--format json]
      swarmctl network inspect NETWORK...
      swarmctl network rm NETWORK...

    Overlay networks: tasks of services on one network reach each other by service name (a virtual
    IP) and by tasks.NAME, across nodes. Every cluster has the ingress network, which carries
    published ports. Subnets default to the next free /24 of 10.0.0.0/8.
    """

    static let subcommands = [
        CommandEntry(name: "create", usage: """
        Usage:  swarmctl network create [OPTIONS] NETWORK

        Creates an overlay network and prints its id.

        Options:
          -d, --driver overlay   The only driver there is
          --subnet CIDR          The network's IPv4 subnet (default: the next free /24 of 10.0.0.0/8)
          --gateway IP           The gateway address in the subnet (default: its first address)
          --attachable           Mark the network attachable (recorded, as docker shows it)
          --label K=V            A label of the network
        """),
        CommandEntry(name: "ls", aliases: ["list"], usage: """
        Usage:  swarmctl network ls [-q] [--filter KEY=VALUE]... [--format json]

        Lists networks.

        Options:
          -q, --quiet            Only print the network IDs
          -f, --filter K=V       Keep networks matching: id, name, label (KEY or KEY=VALUE), driver, type (custom|builtin), dangling
          --format json          Print the API's network objects
        """),
        CommandEntry(name: "inspect", usage: """
        Usage:  swarmctl network inspect NETWORK...

        Shows networks as JSON.
        """),
        CommandEntry(name: "rm", aliases: ["remove"], usage: """
        Usage:  swarmctl network rm NETWORK...

        Removes networks. A network that a service or a running task uses is not removed; the error
        names them.
        """),
    ]
}
