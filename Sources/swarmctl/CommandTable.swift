/// Every command and subcommand of `swarmctl` with its usage text: the one list the dispatcher
/// runs from and `--help` answers from.
///
/// It exists so a command cannot be reachable without a usage (the dispatcher only runs what is
/// in the table), and so the help test can walk every subcommand the binary has instead of a
/// hand-kept copy of the list.
struct CommandEntry: Sendable {
    let name: String
    var aliases: [String] = []
    /// Printed by `swarmctl PATH --help`, and for a group also when it is given no subcommand.
    let usage: String
    var subcommands: [CommandEntry] = []
    /// Top-level commands only: runs the command with the arguments after its name.
    var run: (@Sendable ([String]) throws -> Int32)? = nil

    func answers(to name: String) -> Bool { self.name == name || aliases.contains(name) }

    func subcommand(_ name: String?) -> CommandEntry? {
        guard let name else { return nil }
        return subcommands.first { $0.answers(to: name) }
    }
}

/// The table itself: every top-level command, its runner and its subcommands' usages.
enum CommandTable {
    static let commands: [CommandEntry] = [
        CommandEntry(name: "init", usage: NodeUsage.initialize, run: { try NodeCommands.run("init", $0) }),
        CommandEntry(name: "join", usage: NodeUsage.join, run: { try NodeCommands.run("join", $0) }),
        CommandEntry(name: "run", usage: NodeUsage.run, run: { try NodeCommands.run("run", $0) }),
        CommandEntry(name: "dev", usage: MiscUsage.dev, run: DevCommand.run),
        CommandEntry(name: "info", usage: MiscUsage.info, run: { try ClientCommands.run("info", $0) }),
        CommandEntry(name: "join-token", usage: MiscUsage.joinToken, run: { try ClientCommands.run("join-token", $0) }),
        CommandEntry(name: "leave", usage: MiscUsage.leave, run: { try ClientCommands.run("leave", $0) }),
        CommandEntry(name: "ca", usage: CACommand.help, run: { try ClientCommands.run("ca", $0) }),
        CommandEntry(name: "client-cert", usage: ClientCertificateCommand.usage, run: ClientCertificateCommand.run),
        CommandEntry(name: "node", usage: NodeUsage.group, subcommands: NodeUsage.subcommands, run: { try ClientCommands.run("node", $0) }),
        CommandEntry(name: "swarm", usage: SwarmCommand.group, subcommands: SwarmCommand.subcommands,
                     run: { try ClientCommands.run("swarm", $0) }),
        CommandEntry(name: "service", usage: ServiceUsage.group, subcommands: ServiceUsage.subcommands, run: ServiceClientCommands.run),
        CommandEntry(name: "network", usage: NetworkUsage.group, subcommands: NetworkUsage.subcommands, run: NetworkClientCommands.run),
        CommandEntry(name: "secret", usage: PayloadUsage.secretGroup, subcommands: PayloadUsage.subcommands("secret", update: true),
                     run: { try PayloadCommands.run(.secret, $0) }),
        CommandEntry(name: "config", usage: PayloadUsage.configGroup, subcommands: PayloadUsage.subcommands("config", update: false),
                     run: { try PayloadCommands.run(.config, $0) }),
        CommandEntry(name: "image", usage: ImageCommands.help, subcommands: MiscUsage.image, run: ImageCommands.run),
        CommandEntry(name: "simulate", usage: HelpText.simulate, run: SimulateCommand.run),
        CommandEntry(name: "testbed", usage: MiscUsage.testbed, subcommands: MiscUsage.testbedSubcommands, run: TestbedCommand.run),
        CommandEntry(name: "chaos", usage: HelpText.chaos, subcommands: ChaosUsage.subcommands, run: ChaosCommand.run),
        CommandEntry(name: "check", usage: CheckCommand.help, subcommands: [CommandEntry(name: "linearizable", usage: CheckCommand.help)],
                     run: CheckCommand.run),
        CommandEntry(name: "events", usage: EventsCommand.usage, run: EventsCommand.run),
        CommandEntry(name: "version", aliases: ["--version", "-v"], usage: MiscUsage.version, run: MiscUsage.printVersion),
        CommandEntry(name: "help", aliases: ["--help", "-h"], usage: HelpText.main, run: { arguments in
            // `swarmctl help service create` is `swarmctl service create --help`.
            let named = arguments.first.flatMap(CommandTable.command)
            print(named.map { usage(command: $0, positionals: Array(arguments.dropFirst())) } ?? HelpText.main)
            return 0
        }),
    ]

    static func command(_ name: String) -> CommandEntry? { commands.first { $0.answers(to: name) } }

    /// The usage to print for `swarmctl COMMAND POSITIONALS… --help`: the subcommand's when the
    /// first positional names one, else the command's.
    static func usage(command: CommandEntry, positionals: [String]) -> String {
        command.subcommand(positionals.first)?.usage ?? command.usage
    }

    /// Every command path (`["service", "create"]`, …), groups included, for the help test.
    static var allPaths: [[String]] {
        commands.filter { $0.name != "help" }.flatMap { command in
            [[command.name]] + command.subcommands.map { [command.name, $0.name] }
        }
    }
}
