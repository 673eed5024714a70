import ClusterState
import Foundation

/// `swarmctl secret create|ls|inspect|rm|update` and `swarmctl config create|ls|inspect|rm`,
/// with docker's arguments. `secret update NAME [FILE|-]` is this cluster's extension: a new
/// revision of the secret under the same name, onto which every service using it rolls.
enum PayloadCommands {
    /// A secret or config as `ls` and `inspect` read it (a secret's data never comes back).
    struct Listed: Decodable {
        struct SpecFields: Decodable {
            var Name: String
            var Labels: [String: String]?
        }
        var ID: String
        var CreatedAt: String
        var UpdatedAt: String
        var Spec: SpecFields
        var Revision: UInt64?
    }

    static func run(_ kind: PayloadKind, _ rawArguments: [String]) throws -> Int32 {
        var arguments = try CommandLineArguments(rawArguments, switches: ListOptions.switches.union(["-d", "--detach"]))
        let connection = try APIConnection(host: arguments.takeValue("-H", "--host"))
        let noun = kind.noun
        guard let subcommand = arguments.positionals.first else {
            throw UsageError(message: "\(noun) needs a subcommand: create, ls, inspect, rm" + (kind == .secret ? " or update" : ""))
        }
        let targets = Array(arguments.positionals.dropFirst())
        let base = kind == .secret ? "/secrets" : "/configs"
        switch subcommand {
        case "create": return try create(kind, base, connection, &arguments, targets)
        case "ls", "list": return try list(kind, base, connection, &arguments)
        case "inspect": return try inspect(kind, base, connection, &arguments, targets)
        case "rm", "remove": return try remove(kind, base, connection, &arguments, targets)
        case "update" where kind == .secret: return try SecretRollout.run(connection, &arguments, targets)
        default:
            throw UsageError(message: "unknown \(noun) subcommand '\(subcommand)': use create, ls, inspect, rm" + (kind == .secret ? " or update" : ""))
        }
    }

    /// `create NAME FILE|-`: the data from the file or standard input.
    static func create(_ kind: PayloadKind, _ base: String, _ connection: APIConnection, _ arguments: inout CommandLineArguments,
                       _ targets: [String]) throws -> Int32 {
        var labels: [String: String] = [:]
        for entry in arguments.takeValues("--label") + arguments.takeValues("-l") {
            let (key, value) = try ServiceSpecFlags.keyValue(entry, flag: "--label")
            labels[key] = value
        }
        try arguments.finish(command: "\(kind.noun) create")
        guard targets.count == 2 else {
            throw UsageError(message: "\(kind.noun) create needs a NAME and a FILE (or - for standard input)")
        }
        let data = try readData(targets[1])
        let body: [String: Any] = ["Name": targets[0], "Labels": labels, "Data": data.base64EncodedString()]
        let answer = try connection.request("POST", base + "/create", body: Array(try JSONSerialization.data(withJSONObject: body)))
        let id = (try? JSONSerialization.jsonObject(with: Data(answer)) as? [String: Any])?["ID"] as? String ?? ""
        writeStandardOutput(id + "\n")
        return 0
    }

    static func list(_ kind: PayloadKind, _ base: String, _ connection: APIConnection, _ arguments: inout CommandLineArguments) throws -> Int32 {
        let options = try ListOptions(&arguments)
        let format = arguments.takeValue("--format")
        try arguments.finish(command: "\(kind.noun) ls")
        if format == "json" {
            printJSON(try connection.json("GET", base, query: options.query))
            return 0
        }
        let objects = try connection.decode([Listed].self, "GET", base, query: options.query)
        if options.quiet {
            writeStandardOutput(objects.map { $0.ID + "\n" }.joined())
            return 0
        }
        printTable(["ID", "NAME", "REVISION", "CREATED", "UPDATED"],
                   objects.map { [$0.ID, $0.Spec.Name, String($0.Revision ?? 1), $0.CreatedAt, $0.UpdatedAt] })
        return 0
    }

    static func inspect(_ kind: PayloadKind, _ base: String, _ connection: APIConnection, _ arguments: inout CommandLineArguments,
                        _ targets: [String]) throws -> Int32 {
        try arguments.finish(command: "\(kind.noun) inspect")
        guard !targets.isEmpty else { throw UsageError(message: "\(kind.noun) inspect needs at least one NAME or ID") }
        printJSON(try targets.map { try connection.json("GET", "\(base)/\($0)") })
        return 0
    }

    static func remove(_ kind: PayloadKind, _ base: String, _ connection: APIConnection, _ arguments: inout CommandLineArguments,
                       _ targets: [String]) throws -> Int32 {
        try arguments.finish(command: "\(kind.noun) rm")
        guard !targets.isEmpty else { throw UsageError(message: "\(kind.noun) rm needs at least one NAME or ID") }
        var failed = false
        for target in targets {
            do {
                _ = try connection.request("DELETE", "\(base)/\(target)")
                writeStandardOutput(target + "\n")
            } catch let failure as CommandFailure {
                writeStandardError("swarmctl: \(failure.message)\n")
                failed = true
            }
        }
        return failed ? 1 : 0
    }

    /// The bytes of FILE, or of standard input for `-`; at most 500 KiB are read.
    static func readData(_ source: String) throws -> Data {
        let data: Data
        if source == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let contents = FileManager.default.contents(atPath: source) else {
                throw CommandFailure(message: "cannot read \(source): give a readable file, or - for standard input")
            }
            data = contents
        }
        guard !data.isEmpty, data.count < PayloadLimits.maxDataBytes else {
            throw CommandFailure(message: "the data has \(data.count) bytes: it must be larger than 0 and less than 500 KiB")
        }
        return data
    }
}
