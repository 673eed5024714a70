import Foundation

/// The usage of each node-process command and `node` subcommand (`swarmctl node ls --help` …).
enum NodeUsage {
    private static let nodeOptions = """


    Runs a node in the foreground (logs to stderr; SIGTERM or SIGINT stops it cleanly, leaving
    its tasks running for the next run to re-adopt; `leave` stops them).
    ADDR is unix:PATH or tcp:HOST:PORT. Every flag is also a key in the config file
    (see cluster.conf.example); flags win.

    Options:
      --executor auto|oci|process   How tasks run (default auto)
      --runtime auto|runc|crun      The OCI runtime (default auto: runc when installed, else crun)
      --enable-chaos                Accept fault-injection requests
      --cert-expiry DURATION        init: validity of node certificates (default 2160h, at least 1h;
                                    1m with --enable-chaos, to exercise renewal on a test cluster)
      --api-group GROUP             unix: API socket (0660, root-owned) is also open to GROUP
      --api-tlscert FILE --api-tlskey FILE --api-tlscacert FILE
                                    Serve a tcp: API over TLS; clients need a certificate from the CA
                                    (default on a cluster node: its own certificate and the cluster CA)
      --api-insecure                Serve a tcp: API without TLS (anyone who connects is root); warns
      --insecure-registries LIST    Registries pulled from over plain HTTP (loopback always is)
      --network-prefix PREFIX       Names of this node's task-network links, namespaces, nft table
                                    (2-6 chars; default sw + the node id's first 4)
      --network-gateway-subnet CIDR Node-local outbound bridge of tasks on networks (default 172.30.0.0/16)
      --drain-delay DURATION        A task on a network stops this long after leaving load balancing (default 2s)

    The data dir is made 0700 at every start; files in it are 0600. init, join and run keep the
    settings they were given in DIR/node.conf; run restores them (its own flags win and are kept).

    The cluster port speaks mutual TLS 1.3 only. init creates the cluster's root CA and this node's
    certificate in DIR/certificates (0600); join checks that the manager's CA matches the digest in
    the token before sending the token's secret, and receives a certificate naming the node id the
    manager assigned.
    """

    static let initialize = """
    Usage:  swarmctl init --data-dir DIR --listen-addr HOST:PORT --api-addr ADDR [--advertise-addr HOST:PORT] [--config FILE]
                          [--default-addr-pool CIDR [--default-addr-pool-mask-length N]]

    Starts a new cluster with this node as its first manager and prints the command that joins a worker.

    Cluster options (init only; flags, not config-file keys):
    """ + "\n" + AddressPoolFlags.usage + nodeOptions

    static let join = """
    Usage:  swarmctl join --data-dir DIR --listen-addr HOST:PORT --api-addr ADDR [--advertise-addr HOST:PORT] [--config FILE] --token TOKEN MANAGER_HOST:PORT

    Joins an existing cluster; the token ('swarmctl join-token worker|manager' on a manager) decides the role.
    """ + nodeOptions

    static let run = """
    Usage:  swarmctl run --data-dir DIR [--config FILE]

    Restarts an existing node from its data directory.
    """ + nodeOptions

    static let group = """
    Usage:  swarmctl node COMMAND

    Manage the nodes of the swarm (run against a manager).

    Commands:
      ls        List nodes
      inspect   Show a node's details
      update    Change a node's availability, role or labels
      promote   Make workers managers
      demote    Make managers workers
      rm        Remove nodes from the swarm
      ps        List the tasks on a node

    Run 'swarmctl node COMMAND --help' for more information on a command.
    """

    static let subcommands = [
        CommandEntry(name: "ls", aliases: ["list"], usage: """
        Usage:  swarmctl node ls [-q] [--filter KEY=VALUE]... [--format json]

        Lists the nodes of the swarm with docker's columns.

        Options:
          -q, --quiet            Only print the node IDs
          -f, --filter K=V       Keep nodes matching: id, name, role (manager|worker), membership
                                 (accepted|pending), label, node.label (KEY or KEY=VALUE)
          --format json          Print the API's node objects
        """),
        CommandEntry(name: "inspect", usage: """
        Usage:  swarmctl node inspect [--pretty] [NODE|self]...

        Shows the nodes as JSON (or readable with --pretty); without NODE, this node.
        """),
        CommandEntry(name: "update", usage: """
        Usage:  swarmctl node update [--availability active|pause|drain] [--role worker|manager] [--label-add K=V]... [--label-rm K]... NODE

        Changes a node's availability, role or labels.
        """),
        CommandEntry(name: "promote", usage: """
        Usage:  swarmctl node promote NODE...

        Makes each worker NODE a manager.
        """),
        CommandEntry(name: "demote", usage: """
        Usage:  swarmctl node demote NODE...

        Makes each manager NODE a worker.
        """),
        CommandEntry(name: "rm", aliases: ["remove"], usage: """
        Usage:  swarmctl node rm [--force] NODE...

        Removes nodes from the swarm; --force removes a node that is still up.
        """),
        CommandEntry(name: "ps", usage: """
        Usage:  swarmctl node ps [-q] [--filter KEY=VALUE]... [--no-trunc] [--format json] [NODE|self]...

        Lists the tasks on one or more nodes (default: this node) with docker's columns.

        Options:
          -q, --quiet            Only print the task IDs (12 characters unless --no-trunc)
          -f, --filter K=V       Keep tasks matching: id, name, desired-state (running|shutdown|accepted), label
          --no-trunc             Do not truncate ids, images and errors
          --format json          Print the API's task objects
        """),
    ]
}

/// The usage of each `service` subcommand.
enum ServiceUsage {
    static let group = HelpText.service

    static let specOptions = """

    Options:
      --name NAME                          Service name
      --mode replicated|global             Service mode (create only)
      --replicas N                         Number of tasks
      -e, --env K=V                        Environment variable (update: --env-add K=V, --env-rm K)
      --label K=V                          Service label (update: --label-add, --label-rm)
      --constraint EXPR                    Placement constraint (update: --constraint-add, --constraint-rm)
      --placement-pref spread=node.labels.K  Spread tasks over a node label's values
      --replicas-max-per-node N            At most N tasks on one node
      --reserve-cpu C  --reserve-memory M  Resources the scheduler sets aside per task
      --limit-cpu C  --limit-memory M  --limit-pids N   Resource limits of each task
      --restart-condition any|on-failure|none  --restart-delay D  --restart-max-attempts N  --restart-window D
      --update-parallelism N  --update-delay D  --update-failure-action pause|continue|rollback
      --update-monitor D                   How long tasks must stay running after an update (default 5s);
                                           also the stability wait of the progress display
      --update-max-failure-ratio R  --update-order stop-first|start-first
      --rollback-parallelism N …           The same keys as --update-* for rollbacks
      --health-cmd CMD  --health-interval D  --health-timeout D  --health-retries N  --health-start-period D
      --no-healthcheck                     Disable the image's health check
      --entrypoint "CMD ARGS"              Run this instead of the image's entrypoint ("" restores it)
      --stop-grace-period D  --stop-signal SIG (e.g. SIGINT, KILL)  -w, --workdir DIR  -u, --user USER[:GROUP]  --hostname H
      --mount type=bind|volume|tmpfs,src=…,dst=PATH[,readonly][,bind-propagation=P][,tmpfs-size=S][,tmpfs-mode=M]
                                           A mount of each task (update: --mount-add, --mount-rm TARGET); bind
                                           sources must exist on the node, volumes live in DATA/volumes/NAME
      --read-only                          Mount the task's root file system read-only
      --init                               Run the command under an init that forwards signals and reaps orphans
      --cap-add CAP  --cap-drop CAP        Add or drop capabilities (NET_ADMIN, …, ALL) (update: --cap-add-rm, --cap-drop-rm)
      --ulimit NAME=SOFT[:HARD]            A resource limit, e.g. nofile=512 (update: --ulimit-add, --ulimit-rm NAME)
      --sysctl K=V                         A namespaced sysctl (kernel.shm*, fs.mqueue.*) (update: --sysctl-add, --sysctl-rm)
      --dns IP  --dns-search D  --dns-option O   The task's resolv.conf (update: --dns-add, --dns-rm, …)
      --host NAME:IP                       An extra /etc/hosts entry (update: --host-add, --host-rm)
      --group G                            A supplementary group (update: --group-add, --group-rm)
      --security-opt seccomp=unconfined    Run without the default seccomp filter (seccomp=default restores it)
      --network NAME|name=NAME,alias=A     Join an overlay network (update: --network-add, --network-rm)
      -p, --publish [PUBLISHED:]TARGET[/udp]   Publish a port on every node (the routing mesh); without
                                           PUBLISHED the cluster picks one in 30000-32767
      --publish published=P,target=T[,protocol=udp][,mode=host|ingress][,policy=local]
                                           mode=host binds P only on nodes running a task (two such tasks
                                           never share a node); policy=local (ingress) sends a connection
                                           only to a task on the node it reached, keeping the client address
                                           (update: --publish-add, --publish-rm [PUBLISHED:]TARGET[/udp])
      --endpoint-mode vip|dnsrr            A virtual IP per network (default), or DNS answers with every task
      --secret NAME|source=NAME[,target=T][,uid=N][,gid=N][,mode=0444]
                                           A secret the task sees at /run/secrets/T (update: --secret-add, --secret-rm NAME)
      --config NAME|source=NAME[,target=/PATH][,uid=N][,gid=N][,mode=0444]
                                           A config the task sees at PATH, default /NAME (update: --config-add, --config-rm NAME)
      -d, --detach                         Return at once instead of showing progress until converged
      -q, --quiet                          Do not show the progress

    --tty and other settings of docker's that are
    not listed are not implemented: the node refuses a spec that sets them, naming the field. Container
    settings (--mount … --security-opt) need a node with the OCI executor; the process executor
    rejects such tasks saying so.
    """

    static let subcommands = [
        CommandEntry(name: "create", usage: """
        Usage:  swarmctl service create [OPTIONS] IMAGE [COMMAND [ARG...]]

        Creates a service. Without --detach it shows per-slot progress, waits until the tasks have
        been running for the update monitor period (default 5s), and exits 0; it exits 1 with the
        task's error when the update fails or every task is rejected.

        """ + specOptions),
        CommandEntry(name: "ls", aliases: ["list"], usage: """
        Usage:  swarmctl service ls [-q] [--filter KEY=VALUE]... [--format json]

        Lists services with docker's columns.

        Options:
          -q, --quiet            Only print the service IDs
          -f, --filter K=V       Keep services matching: id, name, label (KEY or KEY=VALUE), mode (replicated|global)
          --format json          Print the API's service objects
        """),
        CommandEntry(name: "ps", usage: """
        Usage:  swarmctl service ps [-q] [--filter KEY=VALUE]... [--no-trunc] [--format json] SERVICE...

        Lists the tasks of services with docker's columns, each slot's history indented below it.

        Options:
          -q, --quiet            Only print the task IDs (in full)
          -f, --filter K=V       Keep tasks matching: id, name, node, desired-state (running|shutdown|accepted)
          --no-trunc             Do not truncate ids, images and errors
          --format json          Print the API's task objects
        """),
        CommandEntry(name: "inspect", usage: """
        Usage:  swarmctl service inspect [--pretty] SERVICE...

        Shows services as JSON, or readable with --pretty.
        """),
        CommandEntry(name: "scale", usage: """
        Usage:  swarmctl service scale [--detach] SERVICE=REPLICAS...

        Sets the number of tasks of replicated services, then shows progress unless --detach.
        """),
        CommandEntry(name: "update", usage: """
        Usage:  swarmctl service update [OPTIONS] [--image IMAGE] [--args "CMD ARGS"] [--force] SERVICE

        Changes a service; a changed task template rolls out under the update config.
        --force redeploys the tasks even when nothing changed.

        """ + specOptions),
        CommandEntry(name: "rollback", usage: """
        Usage:  swarmctl service rollback [--detach] SERVICE

        Returns a service to the spec it had before its last update.
        """),
        CommandEntry(name: "logs", usage: """
        Usage:  swarmctl service logs [OPTIONS] SERVICE|TASK

        Prints the output of a service's tasks (or of one task), prefixed with service.slot.task@node,
        stdout and stderr of every task merged in the order the lines were written.

        Options:
          -f, --follow           Keep printing new output (ends when the reader of the output goes away)
          -n, --tail N           Only the last N lines of the merged output (default all)
          -t, --timestamps       Show when each line was written
              --since TIME       Only lines written from TIME on (seconds since the epoch, RFC 3339, or a
                                 duration ago such as 5s)
              --until TIME       Only lines written up to TIME (same forms)
              --details          Show the swarm attributes of each line
        """),
        CommandEntry(name: "rebalance", usage: """
        Usage:  swarmctl service rebalance [--detach] SERVICE

        Spreads a service's tasks evenly again (after nodes rejoined) by redeploying it slot by slot.
        """),
        CommandEntry(name: "rm", aliases: ["remove"], usage: """
        Usage:  swarmctl service rm SERVICE...

        Removes services and their tasks.
        """),
    ]
}

/// The usage of `chaos` subcommands: the lines of the chaos help that name each.
enum ChaosUsage {
    static let names = ["partition", "heal", "delay", "loss", "duplicate", "kill-node", "pause-node", "kill-task", "pause-task",
                        "fsync-fail", "fsync-slow", "disk-full", "skew", "run"]

    static let subcommands = names.map { name in
        let (usage, explanation) = description(of: name)
        return CommandEntry(name: name, usage: """
        Usage:  swarmctl chaos \(usage) [--dir TESTBED_DIR]

        \(explanation)
        The testbed is --dir, else $TESTBED_DIR, else the default one; see 'swarmctl chaos --help'.
        """)
    }

    /// The subcommand's line of `HelpText.chaos` split into its usage and its explanation (the
    /// text after a run of spaces, and any indented lines below it).
    static func description(of name: String) -> (usage: String, explanation: String) {
        let lines = HelpText.chaos.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let start = lines.firstIndex(where: { $0.hasPrefix("  \(name) ") || $0 == "  \(name)" }) else { return (name, "") }
        let first = String(lines[start].drop(while: { $0 == " " }))
        var usage = first
        var explanation: [String] = []
        if let gap = first.range(of: "   ") {
            usage = String(first[..<gap.lowerBound])
            explanation.append(first[gap.upperBound...].trimmingCharacters(in: .whitespaces))
        }
        for line in lines[(start + 1)...] {
            guard line.hasPrefix("      ") else { break }
            explanation.append(line.trimmingCharacters(in: .whitespaces))
        }
        return (usage, explanation.joined(separator: "\n"))
    }
}

/// The usage of the remaining commands.
enum MiscUsage {
    static let dev = """
    Usage:  swarmctl dev [--managers N] [--workers N] [--dir DIR]

    Starts a local cluster of real node processes on 127.0.0.1 (default 3 managers, 2 workers),
    deploys a demo service, and stops every node on Ctrl-C. A chosen --dir is kept afterwards.
    """

    static let info = """
    Usage:  swarmctl info [--format json]

    Shows the cluster id, this node's id and role, and the Raft leader, term and commit index.
    """

    static let joinToken = """
    Usage:  swarmctl join-token [-q] [--rotate] worker|manager

    Prints the command that joins a node with the given role; -q prints only the token, and
    --rotate replaces the token first (the old one stops working).
    """

    static let leave = """
    Usage:  swarmctl leave [--force]

    Makes the node leave the swarm; a manager needs --force.
    """

    static let version = """
    Usage:  swarmctl version

    Shows the version.
    """

    static func printVersion(_ arguments: [String]) throws -> Int32 {
        let parsed = try CommandLineArguments(arguments, switches: [])
        try parsed.finish(command: "version")
        guard parsed.positionals.isEmpty else { throw UsageError(message: "version takes no arguments") }
        print("swarmctl version \(Swarmctl.version)")
        print("raft: prevote, checkquorum, readindex, learners, leadership transfer, chunked snapshots")
        return 0
    }

    static let image = [
        CommandEntry(name: "import", usage: """
        Usage:  swarmctl image import NAME[:TAG] ROOTFS_TAR_OR_DIR --data-dir DIR

        Imports a root file system (a tar or a directory) as an image of the node in DIR.
        """),
        CommandEntry(name: "load", usage: """
        Usage:  swarmctl image load ARCHIVE --data-dir DIR

        Loads the images of a 'docker save' or OCI layout tar into the node in DIR.
        """),
        CommandEntry(name: "ls", aliases: ["list"], usage: """
        Usage:  swarmctl image ls [-q] [--format json] --data-dir DIR

        Lists the images of the node in DIR.
        """),
        CommandEntry(name: "rm", aliases: ["remove"], usage: """
        Usage:  swarmctl image rm NAME[:TAG]|ID... --data-dir DIR

        Removes images from the node in DIR.
        """),
        CommandEntry(name: "pull", usage: """
        Usage:  swarmctl image pull HOST:PORT/NAME[:TAG] [--username U --password-stdin] --data-dir DIR

        Pulls an image from a registry over plain HTTP into the node in DIR.
        """),
    ]

    static let testbed = """
    Usage:  swarmctl testbed COMMAND [--dir DIR]

    A local cluster of real node processes with chaos enabled, left running for scripts.

    Commands:
      up [--managers N] [--workers N] [--netns] [--executor process|oci] [--default-addr-pool CIDR]
                                        Start it and write DIR/testbed.env (--netns: each node in
                                        its own network namespace on 192.0.2.0/24, OCI tasks; root)
      down [--keep]                     Stop every node (and remove DIR unless --keep)
      ls                                List the nodes and their state
      kill|stop|cont|restart NODE       SIGKILL, SIGSTOP, SIGCONT or restart one node
    """

    static let testbedSubcommands = [
        CommandEntry(name: "up", usage: """
        Usage:  swarmctl testbed up [--managers N] [--workers N] [--netns] [--executor process|oci]
                                    [--default-addr-pool CIDR [--default-addr-pool-mask-length N]] [--dir DIR]

        Starts a local cluster with chaos enabled and records it in DIR/testbed.env.
        --netns (root): each node runs in its own network namespace on an underlay bridge
        (192.0.2.1, .2, … listening on port 2377), with a client namespace at 192.0.2.200 for
        outside requests ($TESTBED_CLIENT_NETNS). 'testbed down' removes every namespace, also
        after a crash (their prefix is kept in DIR/netns-prefix).
        --executor: how tasks run (default: oci with --netns, which needs runc and a static
        busybox; process otherwise). An OCI testbed imports the image swarmctl/testbed:latest
        into every node: busybox httpd on port 80 answering 'host=HOSTNAME client=ADDRESS addrs=…',
        with wget, nslookup, nc and getent for clients.
        --default-addr-pool, --default-addr-pool-mask-length: passed to init (with --netns the
        default is 198.51.100.0/25 in /27s, so every address stays in documentation ranges).
        """),
        CommandEntry(name: "down", usage: """
        Usage:  swarmctl testbed down [--keep] [--dir DIR]

        Stops every node of the testbed and removes its network namespaces; removes DIR unless --keep.
        """),
        CommandEntry(name: "ls", usage: """
        Usage:  swarmctl testbed ls [--dir DIR]

        Lists the testbed's nodes, their pids and addresses.
        """),
    ] + [("kill", "SIGKILLs a node and its tasks (a machine crash)"), ("stop", "Freezes a node with SIGSTOP"),
         ("cont", "Resumes a stopped node with SIGCONT"), ("restart", "Restarts a node from its data directory")].map { name, what in
        CommandEntry(name: name, usage: "Usage:  swarmctl testbed \(name) NODE [--dir DIR]\n\n\(what).")
    }
}
