import ClusterState
import Foundation
import Glibc
import SwarmNode

/// `swarmctl swarm update|unlock|unlock-key`, like `docker swarm …`: cluster-wide settings
/// (autolock, node certificate validity, task history) and the unlock key of locked managers.
/// Everything goes through the API as the docker CLI sends it (`POST /swarm/update` with the
/// full spec, `?rotateManagerUnlockKey=true`, `GET /swarm/unlockkey`, `POST /swarm/unlock`).
enum SwarmCommand {
    static let group = """
    Usage:  swarmctl swarm COMMAND

    Manage the swarm's settings and the unlock key of its managers.

    Commands:
      update       Update the swarm's settings (autolock, certificate expiry, task history)
      unlock       Unlock a locked manager (the key is read from stdin)
      unlock-key   Show or rotate the unlock key

    Run 'swarmctl swarm COMMAND --help' for more information on a command.
    """

    static let subcommands = [
        CommandEntry(name: "update", usage: """
        Usage:  swarmctl swarm update [--autolock=true|false] [--cert-expiry DURATION] [--task-history-limit N]

        Update the swarm's settings. Turning autolock on prints the unlock key: a restarted manager
        then stays locked (no Raft, no cluster port, its API answers 503) until 'swarmctl swarm
        unlock' is given that key. Workers are never locked.

        Options:
          --autolock=true|false        Wrap the managers' Raft keys and TLS keys under an unlock key
          --cert-expiry DURATION       Validity of node certificates issued from now on (at least 1h, like 720h)
          --task-history-limit N       Finished tasks kept per slot
        """),
        CommandEntry(name: "unlock", usage: """
        Usage:  swarmctl swarm unlock

        Unlock a locked manager (the one -H names). The unlock key is read from stdin (prompted for
        on a terminal); a wrong key is refused and nothing changes.
        """),
        CommandEntry(name: "unlock-key", usage: """
        Usage:  swarmctl swarm unlock-key [-q] [--rotate]

        Show the managers' unlock key (autolock must be on).

        Options:
          -q, --quiet    Print only the key
          --rotate       Replace the key; managers rewrap their keys under the new one at once,
                         and the old key no longer unlocks them
        """),
    ]

    static func run(_ connection: APIConnection, _ arguments: inout CommandLineArguments) throws -> Int32 {
        guard let subcommand = arguments.positionals.first else {
            print(group)
            return 0
        }
        switch subcommand {
        case "update": return try update(connection, &arguments)
        case "unlock": return try unlock(connection, &arguments)
        case "unlock-key": return try unlockKey(connection, &arguments)
        default: throw UsageError(message: "unknown command 'swarm \(subcommand)': see 'swarmctl swarm --help'")
        }
    }

    private static func update(_ connection: APIConnection, _ arguments: inout CommandLineArguments) throws -> Int32 {
        let autolock = try arguments.takeValue("--autolock").map { text -> Bool in
            switch text.lowercased() {
            case "true", "1": return true
            case "false", "0": return false
            default: throw UsageError(message: "--autolock '\(text)': expected --autolock=true or --autolock=false")
            }
        }
        let expiry = try arguments.takeValue("--cert-expiry").map { text -> Int64 in
            guard let millis = Duration.parseMillis(text), millis >= 3_600_000 else {
                throw UsageError(message: "--cert-expiry '\(text)': expected a duration of at least 1h, like 720h")
            }
            return Int64(millis) * 1_000_000
        }
        let history = try arguments.takeInt("--task-history-limit", in: 0...1_000_000)
        try arguments.finish(command: "swarm update")
        guard arguments.positionals.count == 1 else { throw UsageError(message: "swarm update takes no arguments") }
        guard autolock != nil || expiry != nil || history != nil else {
            throw UsageError(message: "swarm update needs at least one of --autolock, --cert-expiry, --task-history-limit")
        }
        let cluster = try connection.decode(Cluster.self, "GET", "/swarm")
        var spec = cluster.spec
        if let autolock { spec.encryptionConfig = ClusterSpec.EncryptionConfig(autoLockManagers: autolock) }
        if let expiry {
            var caConfig = spec.caConfig ?? ClusterSpec.CAConfig()
            caConfig.nodeCertExpiry = expiry
            spec.caConfig = caConfig
        }
        if let history { spec.orchestration.taskHistoryRetentionLimit = Int64(history) }
        _ = try connection.request("POST", "/swarm/update", query: [("version", String(cluster.version.index))],
                                   body: Array(try JSONEncoder().encode(spec)))
        writeStandardOutput("Swarm updated.\n")
        if autolock == true && !cluster.spec.autoLockManagers {
            let key = try currentKey(connection)
            writeStandardOutput(keyMessage(key))
        }
        return 0
    }

    private static func unlock(_ connection: APIConnection, _ arguments: inout CommandLineArguments) throws -> Int32 {
        try arguments.finish(command: "swarm unlock")
        guard arguments.positionals.count == 1 else { throw UsageError(message: "swarm unlock takes no arguments: the key is read from stdin") }
        if isatty(0) == 1 { writeStandardError("Please enter unlock key: ") }
        guard let line = readLine(strippingNewline: true)?.trimmingCharacters(in: .whitespaces), !line.isEmpty else {
            throw CommandFailure(message: "no unlock key on stdin: pipe it in (echo SWMKEY-1-… | swarmctl swarm unlock) or type it")
        }
        let body = try JSONSerialization.data(withJSONObject: ["UnlockKey": line])
        _ = try connection.request("POST", "/swarm/unlock", body: Array(body))
        writeStandardError("The manager is unlocked: it is starting Raft and rejoining the cluster.\n")
        return 0
    }

    private static func unlockKey(_ connection: APIConnection, _ arguments: inout CommandLineArguments) throws -> Int32 {
        let quiet = arguments.takeSwitch("-q", "--quiet")
        let rotate = arguments.takeSwitch("--rotate")
        try arguments.finish(command: "swarm unlock-key")
        guard arguments.positionals.count == 1 else { throw UsageError(message: "swarm unlock-key takes no arguments") }
        if rotate {
            let cluster = try connection.decode(Cluster.self, "GET", "/swarm")
            guard cluster.spec.autoLockManagers else {
                throw CommandFailure(message: "cannot rotate the unlock key: autolock is off: turn it on with 'swarmctl swarm update --autolock=true'")
            }
            _ = try connection.request("POST", "/swarm/update",
                                       query: [("version", String(cluster.version.index)), ("rotateManagerUnlockKey", "true")],
                                       body: Array(try JSONEncoder().encode(cluster.spec)))
            if !quiet { writeStandardOutput("Successfully rotated manager unlock key.\n\n") }
        }
        let key = try currentKey(connection)
        writeStandardOutput(quiet ? key + "\n" : keyMessage(key))
        return 0
    }

    private static func currentKey(_ connection: APIConnection) throws -> String {
        let answer = try connection.json("GET", "/swarm/unlockkey") as? [String: Any]
        guard let key = answer?["UnlockKey"] as? String, !key.isEmpty else {
            throw CommandFailure(message: "no unlock key is set: autolock is off (turn it on with 'swarmctl swarm update --autolock=true')")
        }
        return key
    }

    private static func keyMessage(_ key: String) -> String {
        """
        To unlock a swarm manager after it restarts, run `swarmctl swarm unlock` and enter the
        following key:

            \(key)

        Keep this key safe (a password manager): without it a restarted manager cannot start, and it
        cannot be recovered from the cluster once every manager has restarted.

        """
    }
}
