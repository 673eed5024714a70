import CPlatform

/// Process-wide signal set-up for a program that writes to sockets.
///
/// It exists because a write to a socket whose peer has gone raises SIGPIPE, which kills the
/// process by default; `send` uses MSG_NOSIGNAL, but plain `write(2)` cannot, so the node ignores
/// the signal once at start-up and handles EPIPE as an ordinary error.
public enum Signals {
    /// Sets SIGPIPE to ignored. Idempotent and cheap; call it before opening sockets.
    public static func ignoreBrokenPipe() {
        cplatform_ignore_sigpipe()
    }

    /// Linux's signal numbers by name (x86-64 and arm64 agree on these).
    private static let numbers: [String: Int32] = [
        "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8, "KILL": 9, "USR1": 10,
        "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19,
        "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28,
        "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
    ]

    /// A stop signal as docker takes it (`SIGKILL`, `KILL`, `kill`, `9`, `SIGRTMIN+3`), or nil
    /// when it names no signal.
    public static func number(named text: String) -> Int32? {
        if let value = Int32(text) { return (1...64).contains(value) ? value : nil }
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        if let value = numbers[name] { return value }
        for (base, origin) in [("RTMIN", Int32(34)), ("RTMAX", Int32(64))] where name.hasPrefix(base) {
            let offset = name.dropFirst(base.count)
            if offset.isEmpty { return origin }
            guard let delta = Int32(offset), origin + delta >= 34, origin + delta <= 64 else { return nil }
            return origin + delta
        }
        return nil
    }
}
