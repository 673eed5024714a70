/// A recorded register history: what `swarmctl chaos run --workload register` writes and
/// `swarmctl check linearizable` reads.
///
/// ## Format: JSON Lines, one operation per line
///
///     {"process": 3, "key": "k1", "kind": "write", "value": "v7", "invoke": 1200, "complete": 3400, "outcome": "ok"}
///     {"process": 1, "key": "k1", "kind": "read", "value": null, "invoke": 1000, "complete": 5000, "outcome": "ok"}
///     {"process": 2, "key": "k1", "kind": "cas", "expected": "v7", "value": "v8", "invoke": 3500, "complete": null, "outcome": "unknown"}
///
/// | field | type | meaning |
/// |---|---|---|
/// | `process` | integer ≥ 0 | the client; one outstanding operation per process (after an `unknown` outcome a client continues as a new process) |
/// | `key` | string | the register; keys are independent and checked separately |
/// | `kind` | `"read"`, `"write"`, `"cas"` | read, blind write, compare-and-set |
/// | `value` | string or null | write and cas: the new value (a string). read: the value observed, `null` when the key was absent. May be left out only where it means nothing (a read that did not end `ok`) |
/// | `expected` | string or null | cas only: the value the swap requires, `null` for "absent" |
/// | `invoke` | integer | nanoseconds when the client sent it (any epoch; all processes on one clock) |
/// | `complete` | integer or null | nanoseconds when the answer arrived; `null` when none did. Required for `ok`; ≥ `invoke` |
/// | `outcome` | `"ok"`, `"fail"`, `"unknown"` | `ok`: took effect once between invoke and complete. `fail`: definitely did not take effect (a refused write, a cas whose compare failed); dropped. `unknown` (timeout, connection lost): may take effect at any time after invoke, or never; its completion is taken as +∞ |
///
/// Lines may come in any order; blank lines are skipped; fields not listed here are ignored, so a
/// recorder may add its own (an error text, a server address). Every register starts absent.
/// Operations that touch at an instant (one completes at the very nanosecond another is invoked)
/// count as concurrent.
public struct History: Sendable, Equatable {
    public var operations: [RegisterOperation]

    public init(_ operations: [RegisterOperation]) {
        self.operations = operations
    }

    /// The history as JSON Lines, one operation per line, each line ending in a newline.
    public var jsonLines: String {
        operations.map { $0.jsonLine + "\n" }.joined()
    }

    /// Parses a JSON Lines history; the first malformed line stops it with an error naming that
    /// line.
    public static func parse(_ text: String) throws(HistoryParseError) -> History {
        try parse(bytes: Array(text.utf8))
    }

    public static func parse(bytes: [UInt8]) throws(HistoryParseError) -> History {
        var operations: [RegisterOperation] = []
        var lineNumber = 0
        var start = 0
        while start <= bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            lineNumber += 1
            let line = bytes[start..<end]
            if line.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) {
                operations.append(try parseLine(Array(line), number: lineNumber))
            }
            start = end + 1
        }
        return History(operations)
    }

    /// Parses one line (without its newline) into an operation, checking every field.
    public static func parseLine(_ line: [UInt8], number: Int) throws(HistoryParseError) -> RegisterOperation {
        func fail(_ message: String) -> HistoryParseError { HistoryParseError(line: number, message: message) }
        let parsed: JSONValue
        do {
            parsed = try JSONLine.parse(line)
        } catch {
            throw fail("invalid JSON at column \(error.column): \(error.message)")
        }
        guard case let .object(members) = parsed else {
            throw fail("expected a JSON object, got \(parsed.typeName)")
        }
        var fields: [String: JSONValue] = [:]
        for (name, member) in members {
            guard fields.updateValue(member, forKey: name) == nil else { throw fail("field \"\(name)\" appears twice") }
        }

        func required(_ name: String) throws(HistoryParseError) -> JSONValue {
            guard let field = fields[name] else { throw fail("missing field \"\(name)\"") }
            return field
        }
        func string(_ name: String) throws(HistoryParseError) -> String {
            let field = try required(name)
            guard case let .string(text) = field else { throw fail("\"\(name)\" must be a string, got \(field.typeName)") }
            return text
        }
        /// A string or null; a missing field is `.none`.
        func optionalString(_ name: String) throws(HistoryParseError) -> String?? {
            guard let field = fields[name] else { return .none }
            switch field {
            case let .string(text): return .some(text)
            case .null: return .some(nil)
            default: throw fail("\"\(name)\" must be a string or null, got \(field.typeName)")
            }
        }
        func nanoseconds(_ name: String, allowNull: Bool) throws(HistoryParseError) -> Int64? {
            let field = try required(name)
            switch field {
            case let .integer(number): return number
            case .null where allowNull: return nil
            case let .otherNumber(text):
                throw fail("\"\(name)\" must be a whole number of nanoseconds that fits in 64 bits, got \(text)")
            default:
                throw fail("\"\(name)\" must be a whole number of nanoseconds\(allowNull ? " or null" : ""), got \(field.typeName)")
            }
        }

        let processField = try required("process")
        guard case let .integer(process) = processField, process >= 0, process <= Int64(Int32.max) else {
            throw fail("\"process\" must be a whole number from 0 to \(Int32.max)")
        }
        let key = try string("key")
        let kindText = try string("kind")
        guard let kind = RegisterOperation.Kind(rawValue: kindText) else {
            throw fail("\"kind\" must be \"read\", \"write\" or \"cas\", got \"\(kindText)\"")
        }
        let outcomeText = try string("outcome")
        guard let outcome = RegisterOperation.Outcome(rawValue: outcomeText) else {
            throw fail("\"outcome\" must be \"ok\", \"fail\" or \"unknown\", got \"\(outcomeText)\"")
        }
        guard let invoke = try nanoseconds("invoke", allowNull: false) else { throw fail("\"invoke\" must not be null") }
        let complete = try nanoseconds("complete", allowNull: true)
        if let complete, complete < invoke {
            throw fail("\"complete\" (\(complete)) is before \"invoke\" (\(invoke))")
        }
        if outcome == .ok && complete == nil {
            throw fail("an operation with outcome \"ok\" needs a \"complete\" time")
        }

        let observed = try optionalString("value")
        let value: String?
        switch kind {
        case .read:
            if outcome == .ok {
                guard let observed else {
                    throw fail("a read with outcome \"ok\" needs \"value\": the value it saw, or null if the key was absent")
                }
                value = observed
            } else {
                value = observed ?? nil
            }
        case .write, .cas:
            guard case let .some(.some(written)) = observed else {
                throw fail("a \(kind.rawValue) needs \"value\": the new value, a string")
            }
            value = written
        }
        let expected: String?
        if kind == .cas {
            guard let required = try optionalString("expected") else {
                throw fail("a cas needs \"expected\": the value it compares with, or null for absent")
            }
            expected = required
        } else {
            if case .some(.some) = try optionalString("expected") {
                throw fail("\"expected\" is only for cas, not \(kind.rawValue)")
            }
            expected = nil
        }
        return RegisterOperation(process: Int(process), key: key, kind: kind, value: value, expected: expected,
                         invoke: invoke, complete: complete, outcome: outcome, line: number)
    }
}

/// A malformed history line: printed as `line N: MESSAGE`.
public struct HistoryParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 1-based line number in the file.
    public let line: Int
    public let message: String

    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { "line \(line): \(message)" }
}
