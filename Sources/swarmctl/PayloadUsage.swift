/// Usage texts of `swarmctl secret …` and `swarmctl config …`.
enum PayloadUsage {
    static let secretGroup = """
    Usage:  swarmctl secret COMMAND

    Manages secrets: data kept in the encrypted Raft log, sent only to nodes running a task that
    references it, and seen by the task as a read-only file in memory at /run/secrets/NAME
    (process executor: $SWARMCTL_SECRETS_DIR/NAME). No route ever returns a secret's data.

    Commands:
      create      Create a secret from a file or standard input
      ls          List secrets
      inspect     Show secrets (without their data)
      rm          Remove secrets (refused while a service uses one)
      update      Replace a secret's data: revision n+1 under the same name; every service using it rolls onto it
    """

    static let configGroup = """
    Usage:  swarmctl config COMMAND

    Manages configs: like secrets, but their data is shown by inspect, and a task may see one
    at any absolute path (default /NAME). They need the OCI executor.

    Commands:
      create      Create a config from a file or standard input
      ls          List configs
      inspect     Show configs (with their data, base64)
      rm          Remove configs (refused while a service uses one)
    """

    static func subcommands(_ noun: String, update: Bool) -> [CommandEntry] {
        var entries = [
            CommandEntry(name: "create", usage: """
            Usage:  swarmctl \(noun) create [--label K=V]... NAME FILE|-

            Creates a \(noun) from FILE, or from standard input with -. The data is 1 byte to 500 KiB.
            Prints the new \(noun)'s id.

            Options:
              -l, --label K=V       A label of the \(noun)
            """),
            CommandEntry(name: "ls", aliases: ["list"], usage: """
            Usage:  swarmctl \(noun) ls [-q] [--filter KEY=VALUE]... [--format json]

            Lists the current revision of each \(noun): ID, NAME, REVISION, CREATED, UPDATED.

            Options:
              -q, --quiet            Only print the ids
              -f, --filter K=V       Keep \(noun)s matching: id (prefix), name (prefix), label (KEY or KEY=VALUE)
              --format json          Print the API's objects
            """),
            CommandEntry(name: "inspect", usage: """
            Usage:  swarmctl \(noun) inspect NAME|ID...

            Shows \(noun)s as JSON\(noun == "secret" ? " (never their data)" : ""). An id names any revision, a name the current one.
            """),
            CommandEntry(name: "rm", aliases: ["remove"], usage: """
            Usage:  swarmctl \(noun) rm NAME|ID...

            Removes \(noun)s with all their revisions. Refused, naming the services, while a service
            uses one: remove it from them first (service update --\(noun)-rm NAME).
            """),
        ]
        if update {
            entries.append(CommandEntry(name: "update", usage: """
            Usage:  swarmctl secret update [-d] [-q] NAME [FILE|-]

            Creates revision n+1 of secret NAME with the data of FILE or standard input (the default),
            with a new id; the name then means the new revision. Every service referencing NAME is
            updated to the new revision and replaces its tasks under its update config (parallelism,
            delay, monitor, failure action, health checks), as `service update` would: each new task
            reads the new value, each old one keeps the value it started with until it is replaced.
            Earlier revisions are kept while a service spec (or its previous spec, for rollback) or
            a task still references them.

            Without --detach it then shows each referencing service's progress, as `service update`
            does, until its tasks have run for its update monitor period; it exits 1, naming the
            services, if a rollout paused, rolled back or had every task rejected.

            Options:
              -d, --detach          Return once the revision is stored; do not follow the rollouts
              -q, --quiet           Do not print the progress (still wait for it)
            """))
        }
        return entries
    }
}
