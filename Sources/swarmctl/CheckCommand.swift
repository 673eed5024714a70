import Glibc
import Linearizability
import Platform

/// `swarmctl check linearizable --history FILE [--timeout D] [--max-states N]`: checks a recorded
/// register history (the format is documented on `Linearizability.History`) and prints the
/// verdict. Exit 0 linearizable; 1 not linearizable, or unknown when the budget ran out; 2 for
/// usage mistakes and unreadable or malformed files.
enum CheckCommand {
    static func run(_ rawArguments: [String]) throws -> Int32 {
        guard let what = rawArguments.first, !what.hasPrefix("-") else {
            if rawArguments.contains("--help") || rawArguments.contains("-h") {
                print(help)
                return 0
            }
            throw UsageError(message: "check needs a subcommand: 'swarmctl check linearizable --history FILE'")
        }
        guard what == "linearizable" else {
            throw UsageError(message: "unknown check '\(what)': the only one is 'linearizable'")
        }
        if rawArguments.contains("--help") || rawArguments.contains("-h") {
            print(help)
            return 0
        }
        var arguments = try CommandLineArguments(Array(rawArguments.dropFirst()), switches: [])
        guard let path = arguments.takeValue("--history") else {
            throw UsageError(message: "check linearizable needs --history FILE (JSON Lines, one operation per line)")
        }
        var timeoutMillis = 60_000
        if let text = arguments.takeValue("--timeout") {
            guard let millis = parseDurationMillis(text), millis > 0 else {
                throw UsageError(message: "--timeout \(text): expected a duration like 60s or 5m")
            }
            timeoutMillis = millis
        }
        let maxStates = try arguments.takeInt("--max-states", in: 1...1_000_000_000) ?? CheckBudget().maxStates
        try arguments.finish(command: "check")
        guard arguments.positionals.isEmpty else {
            throw UsageError(message: "check linearizable takes no arguments, got '\(arguments.positionals[0])'")
        }

        let bytes: [UInt8]
        do {
            bytes = try File.openForReading(path).readAll()
        } catch {
            throw UsageError(message: "cannot read history \(path): \(error)")
        }
        let history: History
        do {
            history = try History.parse(bytes: bytes)
        } catch {
            throw UsageError(message: "\(path): \(error)")
        }

        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start.advanced(by: .milliseconds(timeoutMillis))
        let verdict = LinearizabilityChecker.check(history, budget: CheckBudget(maxStates: maxStates, shouldStop: {
            ContinuousClock().now >= deadline
        }))
        let elapsed = clock.now - start
        let summary = Summary(history)

        switch verdict {
        case .linearizable:
            print("linearizable: \(summary) checked in \(format(elapsed))")
            return 0
        case let .unknown(reason):
            print("unknown: \(reason)")
            print("checked \(summary) for \(format(elapsed)) (--timeout \(timeoutMillis / 1000)s, --max-states \(maxStates));"
                + " raise them to try harder")
            return 1
        case let .notLinearizable(key, window):
            let onKey = history.operations.filter { $0.key == key }.count
            print("NOT linearizable: key \(quote(key)) (\(summary) checked in \(format(elapsed)))")
            print("")
            print("Smallest window that cannot be linearized: \(window.count) of the \(onKey) operations on this key")
            print(table(window, origin: history.operations.map(\.invoke).min() ?? 0))
            print("")
            print("why: " + LinearizabilityChecker.explain(window))
            return 1
        }
    }

    /// Counts for the verdict line.
    struct Summary: CustomStringConvertible {
        var operations = 0, keys = 0, failed = 0, unknown = 0

        init(_ history: History) {
            operations = history.operations.count
            keys = Set(history.operations.map(\.key)).count
            failed = history.operations.filter { $0.outcome == .fail }.count
            unknown = history.operations.filter { $0.outcome == .unknown }.count
        }

        var description: String {
            "\(operations) operation\(operations == 1 ? "" : "s") on \(keys) key\(keys == 1 ? "" : "s")"
                + " (\(failed) failed and ignored, \(unknown) with unknown outcome)"
        }
    }

    /// The window as a table; times are milliseconds after the history's first invoke.
    static func table(_ window: [RegisterOperation], origin: Int64) -> String {
        let header = ["PROCESS", "KIND", "VALUE", "INVOKE", "COMPLETE", "OUTCOME", "LINE"]
        var rows = [header]
        for operation in window {
            let value: String = switch operation.kind {
            case .cas: "\(shown(operation.expected)) -> \(shown(operation.value))"
            case .read where operation.outcome != .ok: "-"
            default: shown(operation.value)
            }
            let complete = operation.outcome == .unknown
                ? "never (unknown)"
                : operation.complete.map { relative($0, origin) } ?? "-"
            rows.append([String(operation.process), operation.kind.rawValue, value, relative(operation.invoke, origin),
                         complete, operation.outcome.rawValue, operation.line > 0 ? String(operation.line) : "-"])
        }
        var widths = [Int](repeating: 0, count: header.count)
        for row in rows { for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) } }
        let lines = rows.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] - cell.count + 2)
            }.joined()
        }
        return lines.joined(separator: "\n") + "\n(times in ms after the history's first invoke, at \(origin) ns)"
    }

    static func shown(_ value: String?) -> String {
        value.map(quote) ?? "absent"
    }

    /// A value as JSON would write it, shortened so the table stays readable.
    static func quote(_ value: String) -> String {
        let clipped = value.count > 40 ? String(value.prefix(37)) + "..." : value
        var result = "\""
        for scalar in clipped.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case _ where scalar.value < 0x20: result += "\\u{\(String(scalar.value, radix: 16))}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    /// `time - origin` in milliseconds, or the raw nanoseconds if the difference overflows.
    static func relative(_ time: Int64, _ origin: Int64) -> String {
        let (difference, overflow) = time.subtractingReportingOverflow(origin)
        return overflow ? "\(time) ns" : milliseconds(difference)
    }

    /// Nanoseconds as milliseconds with three decimals (microsecond resolution).
    static func milliseconds(_ nanoseconds: Int64) -> String {
        let micros = nanoseconds / 1000
        let sign = micros < 0 ? "-" : ""
        let magnitude = micros.magnitude
        let fraction = String(magnitude % 1000)
        return "\(sign)\(magnitude / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }

    static func format(_ duration: Duration) -> String {
        let millis = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return millis < 10_000 ? "\(millis) ms" : "\(millis / 1000) s"
    }

    /// Kept here rather than in HelpText.swift: the one line there points to it.
    static let help = """
    Usage:  swarmctl check linearizable --history FILE [--timeout D] [--max-states N]

    Checks a register history for linearizability: per key, is there an order of the operations
    that respects real time in which every read sees the latest write? Operations that failed are
    ignored; those with unknown outcome may take effect at any time after their invoke, or never.

    FILE is JSON Lines, one operation per line:
      {"process": 3, "key": "k1", "kind": "read"|"write"|"cas", "value": "v" (read: seen, null if absent),
       "expected": "v" (cas only), "invoke": NS, "complete": NS|null, "outcome": "ok"|"fail"|"unknown"}

    On a violation it prints the key and the smallest window of operations that cannot be
    linearized, with a one-line explanation.

    Options:
      --timeout D      Give up with "unknown" after D (default 60s)
      --max-states N   Give up with "unknown" when one search remembers N states (default 1000000)

    Exit codes: 0 linearizable, 1 not linearizable or unknown, 2 usage error or malformed file.
    """
}
