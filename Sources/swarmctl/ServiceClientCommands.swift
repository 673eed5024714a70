import ClusterState
import Foundation

/// `swarmctl service create|ls|ps|inspect|scale|update|rollback|rm`, through the node's Docker
/// API with docker's output shapes. Writes show per-slot progress until the service converges
/// unless `--detach` is given.
enum ServiceClientCommands {
    static func run(_ rawArguments: [String]) throws -> Int32 {
        // Flags end at the image of `create`: the task's command keeps its own flags.
        let named = rawArguments.first(where: { !$0.hasPrefix("-") })
        let limit = named == "create" ? 2 : nil
        // `-f` is `--follow` for logs and `--filter` for the lists, as in docker.
        let switches = named == "logs" ? ["--follow", "-f", "--timestamps", "-t"] : ListOptions.switches
        var arguments = try CommandLineArguments(rawArguments, switches: ServiceSpecFlags.switches.union(["--pretty", "--no-healthcheck"]).union(switches),
                                                 flagsEndAfter: limit)
        let connection = try APIConnection(host: arguments.takeValue("-H", "--host"))
        guard let subcommand = arguments.positionals.first else {
            throw UsageError(message: "service needs a subcommand: create, ls, ps, inspect, scale, update, rollback or rm")
        }
        let operands = Array(arguments.positionals.dropFirst())
        switch subcommand {
        case "create": return try create(connection, &arguments, operands)
        case "ls", "list": return try list(connection, &arguments)
        case "ps": return try tasks(connection, &arguments, operands)
        case "inspect": return try inspect(connection, &arguments, operands)
        case "scale": return try scale(connection, &arguments, operands)
        case "update": return try update(connection, &arguments, operands)
        case "rollback": return try rollback(connection, &arguments, operands)
        case "rm", "remove": return try remove(connection, &arguments, operands)
        case "logs": return try ServiceLogsCommand.run(connection, &arguments, operands)
        case "rebalance": return try rebalance(connection, &arguments, operands)
        default:
            throw UsageError(message: "unknown service subcommand '\(subcommand)': use create, ls, ps, inspect, scale, update, rollback or rm")
        }
    }

    // MARK: Writes

    static func create(_ connection: APIConnection, _ arguments: inout CommandLineArguments, _ operands: [String]) throws -> Int32 {
        guard let image = operands.first else {
            throw UsageError(message: "service create needs an image: swarmctl service create [OPTIONS] IMAGE [COMMAND [ARG...]]")
        }
        var spec = ServiceSpec(name: "", taskTemplate: TaskTemplate(containerSpec: ContainerSpec(image: image)),
                               mode: .replicated(replicas: 1))
        if operands.count > 1 { spec.taskTemplate.containerSpec.args = Array(operands.dropFirst()) }
        try ServiceSpecFlags.apply(&arguments, to: &spec, creating: true)
        let detach = arguments.takeSwitch("--detach", "-d")
        let quiet = arguments.takeSwitch("--quiet", "-q")
        _ = arguments.takeSwitch("--no-resolve-image")
        try arguments.finish(command: "service create")
        let answer = try connection.request("POST", "/services/create", body: Array(try JSONEncoder().encode(spec)))
        guard let created = try? JSONSerialization.jsonObject(with: Data(answer)) as? [String: Any], let id = created["ID"] as? String else {
            throw CommandFailure(message: "the node did not return the new service's id")
        }
        writeStandardOutput(id + "\n")
        if detach { return 0 }
        return try ServiceProgress(connection: connection, serviceID: id, quiet: quiet).waitForConvergence()
    }

    static func update(_ connection: APIConnection, _ arguments: inout CommandLineArguments, _ operands: [String]) throws -> Int32 {
        guard operands.count == 1 else { throw UsageError(message: "service update needs exactly one service: swarmctl service update [OPTIONS] SERVICE") }
        let service = try connection.decode(Service.self, "GET", "/services/\(operands[0])")
        var spec = service.spec
        if let args = arguments.takeValue("--args") {
            spec.taskTemplate.containerSpec.args = args.split(separator: " ").map(String.init)
        }
        // The spec names networks by id: a name given to --network-rm is looked up first.
        for removed in arguments.takeValues("--network-rm") {
            let network = try connection.decode(NetworkReference.self, "GET", "/networks/\(removed)")
            spec.taskTemplate.networks?.removeAll { $0.target == network.id || $0.target == removed }
            if spec.taskTemplate.networks?.isEmpty == true { spec.taskTemplate.networks = nil }
        }
        try ServiceSpecFlags.apply(&arguments, to: &spec, creating: false)
        if arguments.takeSwitch("--force") { spec.taskTemplate.forceUpdate = (spec.taskTemplate.forceUpdate ?? 0) + 1 }
        let detach = arguments.takeSwitch("--detach", "-d")
        let quiet = arguments.takeSwitch("--quiet", "-q")
        _ = arguments.takeSwitch("--no-resolve-image")
        try arguments.finish(command: "service update")
        _ = try connection.request("POST", "/services/\(service.id)/update", query: [("version", String(service.version.index))],
                                   body: Array(try JSONEncoder().encode(spec)))
        writeStandardOutput(operands[0] + "\n")
        if detach { return 0 }
        return try ServiceProgress(connection: connection, serviceID: service.id, quiet: quiet,
                                   statusBefore: service.updateStatus).waitForConvergence()
    }

    static func scale(_ connection: APIConnection, _ arguments: inout CommandLineArguments, _ operands: [String]) throws -> Int32 {
        let detach = arguments.takeSwitch("--detach", "-d")
        try arguments.finish(command: "service scale")
        guard !operands.isEmpty else { throw UsageError(message: "service scale needs SERVICE=REPLICAS, e.g. web=5") }
        var scaled: [(String, UpdateStatus?)] = []
        for operand in operands {
            let parts = operand.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let replicas = UInt64(parts[1]) else {
                throw UsageError(message: "service scale \(operand): expected SERVICE=REPLICAS, e.g. web=5")
            }
            let service = try connection.decode(Service.self, "GET", "/services/\(parts[0])")
            guard !service.spec.mode.isGlobal else {
                throw CommandFailure(message: "\(parts[0]): scale can only be used with replicated mode")
            }
            var spec = service.spec
            spec.mode = .replicated(replicas: replicas)
            _ = try connection.request("POST", "/services/\(service.id)/update", query: [("version", String(service.version.index))],
                                       body: Array(try JSONEncoder().encode(spec)))
            writeStandardOutput("\(parts[0]) scaled to \(replicas)\n")
            scaled.append((service.id, service.updateStatus))
        }
        if detach { return 0 }
        var status: Int32 = 0
        for (id, before) in scaled {
            status = max(status, try ServiceProgress(connection: connection, serviceID: id, quiet: false, statusBefore: before).waitForConvergence())
        }
        return status
    }

    static func rollback(_ connection: APIConnection, _ arguments: inout CommandLineArguments, _ operands: [String]) throws -> Int32 {
        let detach = arguments.takeSwitch("--detach", "-d")
        let quiet = arguments.takeSwitch("--quiet", "-q")
        try arguments.finish(command: "service rollback")
        guard operands.count == 1 else { throw UsageError(message: "service rollback needs exactly one service") }
        let service = try connection.decode(Service.self, "GET", "/services/\(operands[0])")
        _ = try connection.request("POST", "/services/\(service.id)/update",
                                   query: [("version", String(service.version.index)), ("rollback", "previous")],
                                   body: Array(try JSONEncoder().encode(service.spec)))
        writeStandardOutput(operands[0] + "\n")
        if detach { return 0 }
        return try ServiceProgress(connection: connection, serviceID: service.id, quiet: quiet, statusBefore: service.updateStatus,
                                   expectRollback: true).waitForConvergence()
    }

    /// Spreads a service's tasks evenly again (after nodes rejoined): while the running tasks
    /// differ by more than one between eligible nodes, the service is redeployed slot by slot
    /// under its update config, as `docker service update --force` would (start-first keeps
    /// capacity), and the spread scheduler places each new task on the least loaded node. A
    /// redeploy decides each placement while the old tasks still run, so up to three rounds.
    static func rebalance(_ connection: APIConnection, _ arguments: inout CommandLineArguments, _ operands: [String]) throws -> Int32 {
        let detach = arguments.takeSwitch("--detach", "-d")
        try arguments.finish(command: "service rebalance")
        guard operands.count == 1 else { throw UsageError(message: "service rebalance needs exactly one service") }
        for round in 1...3 {
            let service = try connection.decode(Service.self, "GET", "/services/\(operands[0])")
            guard !service.spec.mode.isGlobal else { throw CommandFailure(message: "\(operands[0]) is global: it already runs one task per node") }
            let counts = try runningPerEligibleNode(connection, service)
            let shape = "\(counts.values.sorted(by: >).map(String.init).joined(separator: "/")) tasks on \(counts.count) eligible nodes"
            guard (counts.values.max() ?? 0) - (counts.values.min() ?? 0) > 1 else {
                writeStandardOutput("\(operands[0]) is balanced: \(shape)\n")
                return 0
            }
            writeStandardOutput("\(operands[0]): \(shape); redeploying slot by slot (round \(round))\n")
            var spec = service.spec
            spec.taskTemplate.forceUpdate = (spec.taskTemplate.forceUpdate ?? 0) + 1
            _ = try connection.request("POST", "/services/\(service.id)/update", query: [("version", String(service.version.index))],
                                       body: Array(try JSONEncoder().encode(spec)))
            if detach { return 0 }
            let status = try ServiceProgress(connection: connection, serviceID: service.id, quiet: false, statusBefore: service.updateStatus).waitForConvergence()
            if status != 0 { return status }
        }
        let counts = try runningPerEligibleNode(connection, try connection.decode(Service.self, "GET", "/services/\(operands[0])"))
        writeStandardOutput("\(operands[0]): \(counts.values.sorted(by: >).map(String.init).joined(separator: "/")) tasks after three rounds (constraints or resources may keep it uneven)\n")
        return 0
    }

    /// Running tasks of `service` on each ready, active node (zero where none run).
    private static func runningPerEligibleNode(_ connection: APIConnection, _ service: Service) throws -> [String: Int] {
        let nodes = try connection.decode([Node].self, "GET", "/nodes").filter { $0.status.state == .ready && $0.spec.availability == .active }
        let filter = "{\"service\":{\"\(service.id)\":true},\"desired-state\":{\"running\":true}}"
        let tasks = try connection.decode([SwarmTask].self, "GET", "/tasks", query: [("filters", filter)])
        var counts = Dictionary(uniqueKeysWithValues: nodes.map { ($0.id, 0) })
        for task in tasks where task.status.state == .running { if let node = task.nodeID, counts[node] != nil { counts[node]! += 1 } }
        return counts
    }

    static func remove(_ connection: APIConnection, _ arguments: inout CommandLineArguments, _ operands: [String]) throws -> Int32 {
        try arguments.finish(command: "service rm")
        guard !operands.isEmpty else { throw UsageError(message: "service rm needs at least one service") }
        var failed = false
        for operand in operands {
            do {
                let service = try connection.decode(Service.self, "GET", "/services/\(operand)")
                _ = try connection.request("DELETE", "/services/\(service.id)")
                writeStandardOutput(operand + "\n")
            } catch let failure as CommandFailure {
                writeStandardError("swarmctl: \(failure.message)\n")
                failed = true
            }
        }
        return failed ? 1 : 0
    }

    // MARK: Reads

    static func list(_ connection: APIConnection, _ arguments: inout CommandLineArguments) throws -> Int32 {
        let options = try ListOptions(&arguments)
        let format = arguments.takeValue("--format")
        try arguments.finish(command: "service ls")
        let query = [("status", "true")] + options.query
        if format == "json" {
            printJSON(try connection.json("GET", "/services", query: query))
            return 0
        }
        let services = try connection.decode([ListedService].self, "GET", "/services", query: query).sorted { $0.spec.name < $1.spec.name }
        if options.quiet {
            writeStandardOutput(services.map { String($0.id.prefix(12)) + "\n" }.joined())
            return 0
        }
        let rows = services.map { service in
            [String(service.id.prefix(12)), service.spec.name, service.spec.mode.isGlobal ? "global" : "replicated",
             replicasText(service), service.spec.taskTemplate.containerSpec.image, service.portsText]
        }
        printTable(["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"], rows)
        return 0
    }

    static func replicasText(_ service: ListedService) -> String {
        let running = service.serviceStatus?.runningTasks ?? 0
        let desired = service.serviceStatus?.desiredTasks ?? 0
        var text = "\(running)/\(desired)"
        if let maximum = service.spec.taskTemplate.placement?.maxReplicas { text += " (max \(maximum) per node)" }
        return text
    }

    static func tasks(_ connection: APIConnection, _ arguments: inout CommandLineArguments, _ operands: [String]) throws -> Int32 {
        let options = try ListOptions(&arguments)
        let format = arguments.takeValue("--format")
        let noTrunc = arguments.takeSwitch("--no-trunc")
        try arguments.finish(command: "service ps")
        guard !operands.isEmpty else { throw UsageError(message: "service ps needs at least one service") }
        var filter = options
        var names: [String: String] = [:]
        for operand in operands {
            let service = try connection.decode(Service.self, "GET", "/services/\(operand)")
            names[service.id] = service.spec.name
            filter.require("service", service.id)
        }
        return try TaskListing(connection: connection, options: filter, format: format, noTrunc: noTrunc, serviceNames: names).print()
    }

    static func inspect(_ connection: APIConnection, _ arguments: inout CommandLineArguments, _ operands: [String]) throws -> Int32 {
        let pretty = arguments.takeSwitch("--pretty")
        try arguments.finish(command: "service inspect")
        guard !operands.isEmpty else { throw UsageError(message: "service inspect needs at least one service") }
        if pretty {
            for operand in operands {
                let service = try connection.decode(Service.self, "GET", "/services/\(operand)", query: [("insertDefaults", "true")])
                writeStandardOutput(ServicePrettyPrinter.text(service))
            }
            return 0
        }
        var objects: [Any] = []
        for operand in operands { objects.append(try connection.json("GET", "/services/\(operand)", query: [("insertDefaults", "false")])) }
        printJSON(objects)
        return 0
    }
}

/// A service as `GET /services?status=true` lists it: the object plus its running/desired counts.
struct ListedService: Decodable {
    struct Status: Decodable {
        var runningTasks: UInt64
        var desiredTasks: UInt64
        enum CodingKeys: String, CodingKey { case runningTasks = "RunningTasks", desiredTasks = "DesiredTasks" }
    }

    var id: String
    var spec: ServiceSpec
    var serviceStatus: Status?
    var endpoint: ServiceEndpoint?

    enum CodingKeys: String, CodingKey { case id = "ID", spec = "Spec", serviceStatus = "ServiceStatus", endpoint = "Endpoint" }

    /// docker's PORTS column: the ingress ports, `*:8080->80/tcp`.
    var portsText: String {
        (endpoint?.ports ?? []).filter { $0.publishMode == "ingress" }.map {
            "*:\($0.publishedPort ?? 0)->\($0.targetPort)/\($0.protocol ?? "tcp")"
        }.joined(separator: ", ")
    }
}
