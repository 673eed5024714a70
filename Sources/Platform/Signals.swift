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
}
