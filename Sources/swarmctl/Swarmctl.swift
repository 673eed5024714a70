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
        // The docker CLI's TLS flags, also before the command.
        while let first = arguments.first {
            if arguments.count >= 2, ["-H", "--host"].contains(first) {
                setenv("SWARMCTL_HOST", arguments[1], 1)
                arguments.removeFirst(2)
            } else if first == "--tlsverify" {
                setenv(ClientTLS.flagVariables[first]!, "1", 1)
                arguments.removeFirst()
            } else if arguments.count >= 2, let variable = ClientTLS.flagVariables[first] {
                setenv(variable, arguments[1], 1)
                arguments.removeFirst(2)
            } else {
                break
            }
        }
        let command = arguments.isEmpty ? "--help" : arguments.removeFirst()
        do {
            switch command {
            case "--help", "-h", "help":
                print(HelpText.main)
            case "version", "--version", "-v":
                print("swarmctl version \(version)")
                print("raft: prevote, checkquorum, readindex, learners, leadership transfer, chunked snapshots")
            case "init", "join", "run":
                if arguments.contains("--help") || arguments.contains("-h") {
                    print(HelpText.node)
                } else {
                    exit(try NodeCommands.run(command, arguments))
                }
            case "dev":
                exit(try DevCommand.run(arguments))
            case "testbed":
                exit(try TestbedCommand.run(arguments))
            case "chaos":
                if arguments.first == "--help" || arguments.first == "-h" || arguments.isEmpty {
                    print(HelpText.chaos)
                } else {
                    exit(try ChaosCommand.run(arguments))
                }
            case "info", "join-token", "leave", "node":
                exit(try ClientCommands.run(command, arguments))
            case "client-cert":
                exit(try ClientCertificateCommand.run(arguments))
            case "service":
                if arguments.first == "--help" || arguments.first == "-h" || arguments.isEmpty {
                    print(HelpText.service)
                } else {
                    exit(try ServiceClientCommands.run(arguments))
                }
            case "image":
                exit(try ImageCommands.run(arguments))
            case "check":
                exit(try CheckCommand.run(arguments))
            case "simulate":
                if arguments.contains("--help") || arguments.contains("-h") {
                    print(HelpText.simulate)
                } else {
                    exit(try SimulateCommand.run(arguments))
                }
            default:
                throw UsageError(message: "unknown command '\(command)': see 'swarmctl --help'")
            }
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

/// Writes to fd 1 at once, unbuffered: long-running commands print before they block.
func writeStandardOutput(_ text: String) { writeAll(1, text) }

func writeAll(_ descriptor: Int32, _ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeMutableBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
        if written < 0 && errno == EINTR { continue }
        guard written > 0 else { return }
        offset += written
    }
}
