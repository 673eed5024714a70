/// One client operation on one register, as a workload recorded it: who did it, what it asked,
/// what it saw, and when it started and ended by the client's clock. See `History` for the file
/// format and the meaning of each field.
public struct RegisterOperation: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case read, write, cas
    }

    /// What the client learned about the operation's effect.
    public enum Outcome: String, Sendable, CaseIterable {
        /// It took effect exactly once, between `invoke` and `complete`.
        case ok
        /// It definitely did not take effect (the server refused it, or a compare failed); the
        /// checker drops it.
        case fail
        /// The client cannot tell (timeout, connection lost): it may take effect at any time after
        /// `invoke`, however late, or never. `complete` is ignored and taken as +∞.
        case unknown
    }

    /// The client that issued it. A client never has two operations outstanding; one whose
    /// operation ended `unknown` continues under a new process number, as Jepsen does.
    public var process: Int
    /// The register it acts on. Each key is an independent register, checked on its own.
    public var key: String
    public var kind: Kind
    /// write and cas: the new value. read: the value observed, `nil` when the key was absent.
    public var value: String?
    /// cas only: the value the register must hold for the swap to happen, `nil` for "absent".
    public var expected: String?
    /// When the client sent it, in nanoseconds on the client's clock (any epoch, one clock).
    public var invoke: Int64
    /// When the client got the answer; `nil` when none came (only for `unknown` or `fail`).
    public var complete: Int64?
    public var outcome: Outcome
    /// The 1-based line of the history file it came from, 0 when built in code. Used in messages.
    public var line: Int

    public init(process: Int, key: String, kind: Kind, value: String?, expected: String? = nil,
                invoke: Int64, complete: Int64?, outcome: Outcome, line: Int = 0) {
        self.process = process
        self.key = key
        self.kind = kind
        self.value = value
        self.expected = expected
        self.invoke = invoke
        self.complete = complete
        self.outcome = outcome
        self.line = line
    }

    public static func read(process: Int, key: String, observed: String?, invoke: Int64, complete: Int64?,
                            outcome: Outcome = .ok) -> RegisterOperation {
        RegisterOperation(process: process, key: key, kind: .read, value: observed, invoke: invoke, complete: complete, outcome: outcome)
    }

    public static func write(process: Int, key: String, value: String, invoke: Int64, complete: Int64?,
                             outcome: Outcome = .ok) -> RegisterOperation {
        RegisterOperation(process: process, key: key, kind: .write, value: value, invoke: invoke, complete: complete, outcome: outcome)
    }

    public static func cas(process: Int, key: String, expected: String?, value: String, invoke: Int64, complete: Int64?,
                           outcome: Outcome = .ok) -> RegisterOperation {
        RegisterOperation(process: process, key: key, kind: .cas, value: value, expected: expected, invoke: invoke,
                  complete: complete, outcome: outcome)
    }

    /// The operation as one line of the history format (no trailing newline).
    public var jsonLine: String {
        var fields = ["\"process\": \(process)", "\"key\": \(JSONLine.quote(key))", "\"kind\": \"\(kind.rawValue)\""]
        fields.append("\"value\": " + (value.map(JSONLine.quote) ?? "null"))
        if kind == .cas { fields.append("\"expected\": " + (expected.map(JSONLine.quote) ?? "null")) }
        fields.append("\"invoke\": \(invoke)")
        fields.append("\"complete\": " + (complete.map { String($0) } ?? "null"))
        fields.append("\"outcome\": \"\(outcome.rawValue)\"")
        return "{" + fields.joined(separator: ", ") + "}"
    }

    /// When the operation may last have taken effect: `complete` for `ok`, +∞ for `unknown`.
    /// (`fail` operations never reach the search.)
    var effectiveComplete: Int64 {
        guard outcome == .ok, let complete else { return .max }
        return max(complete, invoke)
    }

    /// The value this operation needs the register to hold when it takes effect, if any: an ok
    /// read's observation, or a cas's expected value (ok, or unknown since a swap that happened
    /// saw it). `.some(nil)` means "absent".
    var observedValue: String?? {
        switch (kind, outcome) {
        case (.read, .ok): return .some(value)
        case (.cas, .ok), (.cas, .unknown): return .some(expected)
        default: return nil
        }
    }

    /// Whether it may store `value`: a write or a cas that did not fail.
    var mayWrite: Bool { outcome != .fail && kind != .read }

    /// Whether the checker must consider it: `fail` operations never took effect and an `unknown`
    /// read changes nothing and promises nothing.
    var isRelevant: Bool {
        outcome != .fail && !(kind == .read && outcome == .unknown)
    }
}
