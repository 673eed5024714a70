import Glibc

/// The one binary's entry point: dispatches subcommands, maps errors to exit codes
/// (0 ok, 1 failure, 2 usage) and messages of the form `swarmctl: WHAT: WHAT TO DO`.
@main
struct Swarmctl {
    static let version = "0.1.0"

    static func main() {
        var arguments = Array(CommandLine.arguments.dropFirst())
        // Global `-H ADDR` before the command, as docker takes it: it becomes $SWARMCTL_HOST for
        // this process (a flag appended after `service create IMAGE CMD` would be the command's).
        while arguments.count >= 2, ["-H", "--host"].contains(arguments[0]) {
            setenv("SWARMCTL_HOST", arguments[1], 1)
            arguments.removeFirst(2)
        }
        let name = arguments.isEmpty ? "help" : arguments.removeFirst()
        guard let command = CommandTable.command(name) else {
            writeStandardError("swarmctl: unknown command '\(name)': see 'swarmctl --help'\n")
            exit(2)
        }
        do {
            // A group without a subcommand shows what it offers, as docker does.
            if arguments.isEmpty, !command.subcommands.isEmpty {
                print(command.usage)
                exit(0)
            }
            guard let run = command.run else { preconditionFailure("top-level command \(command.name) has no runner in CommandTable") }
            exit(try run(arguments))
        } catch let error as UsageError where error.helpFor != nil {
            print(CommandTable.usage(command: command, positionals: error.helpFor ?? []))
            exit(0)
        } catch let error as UsageError {
            writeStandardError("swarmctl: \(error.message)\n")
            exit(2)
        } catch let error as CommandFailure {
            writeStandardError("swarmctl: \(error.message)\n")
            exit(1)
        } catch {
            writeStandardError("swarmctl: \(error)\n")
            exit(1)
        }
    }
}

/// Writes to fd 2 directly (the C `stderr` global is not concurrency-safe in Swift 6).
func writeStandardError(_ text: String) { writeAll(2, text) }

/// Writes to fd 1 at once, unbuffered: long-running commands print before they block, also
/// into a pipe. False when the reader is gone (EPIPE with SIGPIPE ignored), so a follower stops.
@discardableResult
func writeStandardOutput(_ text: String) -> Bool { writeAll(1, text) }

@discardableResult
func writeAll(_ descriptor: Int32, _ text: String) -> Bool {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeMutableBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
        if written < 0 && errno == EINTR { continue }
        guard written > 0 else { return false }
        offset += written
    }
    return true
}
