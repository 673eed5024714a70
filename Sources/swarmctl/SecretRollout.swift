import ClusterState
import Foundation

/// `swarmctl secret update NAME [FILE|-] [-d] [-q]`: creates revision n+1 of a secret, then
/// follows every service that rolls onto it with the same progress display as `service update`
/// (per slot, with the stability wait), one service after the other.
///
/// It exists because a secret's revision starts one rolling update per referencing service,
/// asynchronously: without following them the user learns neither when the new value is live
/// nor that a rollout paused or rolled back. `--detach` returns once the revision is stored.
enum SecretRollout {
    /// Exit 0 once every referencing service converged on the new revision, 1 if one of them
    /// paused, rolled back or had every task rejected (the services are named on stderr).
    static func run(_ connection: APIConnection, _ arguments: inout CommandLineArguments, _ targets: [String]) throws -> Int32 {
        let detach = arguments.takeSwitch("-d", "--detach")
        let quiet = arguments.takeSwitch("-q", "--quiet")
        try arguments.finish(command: "secret update")
        guard targets.count == 1 || targets.count == 2 else {
            throw UsageError(message: "secret update needs a NAME, and a FILE or - (standard input, the default) with the new data")
        }
        let data = try PayloadCommands.readData(targets.count == 2 ? targets[1] : "-")
        let secret = try connection.decode(PayloadCommands.Listed.self, "GET", "/secrets/\(targets[0])")
        // Read before the write: each service's update status now is not this command's.
        let users = try connection.decode([Service].self, "GET", "/services")
            .filter { references($0, secretName: secret.Spec.Name, id: secret.ID) }
            .sorted { $0.spec.name < $1.spec.name }
        let answer = try connection.request("POST", "/secrets/\(targets[0])/revisions",
                                            body: Array(try JSONSerialization.data(withJSONObject: ["Data": data.base64EncodedString()])))
        let object = (try? JSONSerialization.jsonObject(with: Data(answer)) as? [String: Any]) ?? [:]
        writeStandardOutput("secret \(secret.Spec.Name): revision \(object["Revision"] ?? "?") (\(object["ID"] ?? "?"))\n")
        if users.isEmpty {
            writeStandardOutput("no service uses secret \(secret.Spec.Name): nothing to roll\n")
            return 0
        }
        if detach {
            for service in users {
                writeStandardOutput("rolling service \(service.spec.name) onto it (follow with: swarmctl service ps \(service.spec.name))\n")
            }
            return 0
        }
        return try follow(connection, users, secretName: secret.Spec.Name, quiet: quiet)
    }

    /// Whether `service`'s current spec references the secret (by name, or by the id of the
    /// revision being replaced): exactly the services the revision rolls.
    static func references(_ service: Service, secretName: String, id: String) -> Bool {
        (service.spec.taskTemplate.containerSpec.secrets ?? []).contains { $0.secretName == secretName || $0.secretID == id }
    }

    /// Follows each service's rollout to its end; every failure is reported, not just the first.
    private static func follow(_ connection: APIConnection, _ users: [Service], secretName: String, quiet: Bool) throws -> Int32 {
        var failed: [String] = []
        for service in users {
            if !quiet { writeStandardOutput("rolling service \(service.spec.name) onto it\n") }
            let status = try ServiceProgress(connection: connection, serviceID: service.id, quiet: quiet,
                                             statusBefore: service.updateStatus).waitForConvergence()
            if status != 0 { failed.append(service.spec.name) }
        }
        guard !failed.isEmpty else { return 0 }
        let noun = failed.count == 1 ? "service" : "services"
        writeStandardError("swarmctl: secret update \(secretName): the rollout of \(noun) \(failed.joined(separator: ", ")) did not complete: "
            + "see 'swarmctl service ps SERVICE', then run 'swarmctl service update SERVICE' again or 'swarmctl service rollback SERVICE'\n")
        return 1
    }
}
