import SwarmNode

/// A command-line mistake: printed as `swarmctl: MESSAGE` and exits 2. With `helpFor` set it is
/// not a mistake but `-h`/`--help` where a flag may stand: the dispatcher prints the usage of the
/// (sub)command the positionals read so far name, and exits 0.
struct UsageError: Error {
    let message: String
    var helpFor: [String]? = nil

    init(message: String) { self.message = message }

    init(helpFor positionals: [String]) {
        message = "help requested"
        helpFor = positionals
    }
}

/// A failure that is not the user's typing: printed as `swarmctl: MESSAGE` and exits 1.
struct CommandFailure: Error {
    let message: String
}

/// The flags and positional arguments of one subcommand, consumed as the command reads them so
/// anything left over is reported as unknown.
struct CommandLineArguments {
    private var flags: [(name: String, value: String?)] = []
    private(set) var positionals: [String] = []

    /// Splits `--name value`, `--name=value` and bare `--switch` forms. `switches` names the flags
    /// that take no value; `-h` and `--help` are everyone's and end the parse with a help request.
    /// `flagsEndAfter` positionals, everything else is positional too (the command of
    /// `service create IMAGE COMMAND -c …` keeps its own flags).
    init(_ arguments: [String], switches: Set<String>, flagsEndAfter: Int? = nil) throws(UsageError) {
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if let limit = flagsEndAfter, positionals.count >= limit {
                positionals.append(argument)
                continue
            }
            guard argument.hasPrefix("-"), argument != "-" else {
                positionals.append(argument)
                continue
            }
            if argument == "--help" || argument == "-h" { throw UsageError(helpFor: positionals) }
            if let equals = argument.firstIndex(of: "=") {
                flags.append((String(argument[..<equals]), String(argument[argument.index(after: equals)...])))
            } else if switches.contains(argument) {
                flags.append((argument, nil))
            } else {
                guard index < arguments.count else { throw UsageError(message: "flag \(argument) needs a value") }
                flags.append((argument, arguments[index]))
                index += 1
            }
        }
    }

    mutating func takeSwitch(_ names: String...) -> Bool {
        let before = flags.count
        flags.removeAll { names.contains($0.name) }
        return flags.count != before
    }

    mutating func takeValue(_ names: String...) -> String? {
        guard let position = flags.lastIndex(where: { names.contains($0.name) }) else { return nil }
        let value = flags[position].value
        flags.removeAll { names.contains($0.name) }
        return value
    }

    /// Each occurrence of a switch that may also take `=VALUE` (`--read-only`, `--read-only=false`):
    /// nil for the bare form, in order.
    mutating func takeSwitchValues(_ name: String) -> [String?] {
        let values = flags.filter { $0.name == name }.map(\.value)
        flags.removeAll { $0.name == name }
        return values
    }

    /// Every value of a repeatable flag, in order.
    mutating func takeValues(_ name: String) -> [String] {
        let values = flags.filter { $0.name == name }.compactMap(\.value)
        flags.removeAll { $0.name == name }
        return values
    }

    /// Every value of a repeatable flag with several spellings (`-p`, `--publish`), in the order given.
    mutating func takeValues(anyOf names: String...) -> [String] {
        let values = flags.filter { names.contains($0.name) }.compactMap(\.value)
        flags.removeAll { names.contains($0.name) }
        return values
    }

    mutating func takeInt(_ name: String, in range: ClosedRange<Int>) throws(UsageError) -> Int? {
        guard let text = takeValue(name) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw UsageError(message: "\(name) \(text): expected a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// Fails on any flag nobody asked for.
    func finish(command: String) throws(UsageError) {
        if let unknown = flags.first {
            throw UsageError(message: "unknown flag \(unknown.name) for '\(command)': see 'swarmctl \(command) --help'")
        }
    }
}

/// Docker-style durations in milliseconds (`1h`, `2m`, `30s`, `250ms`, `1m30s`; a bare number
/// means seconds): the same parser the config file uses.
func parseDurationMillis(_ text: String) -> Int? {
    Duration.parseMillis(text)
}
