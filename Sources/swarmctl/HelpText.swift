/// The text of `swarmctl --help` and the subcommands' help, following ../shared/CLI.md.
enum HelpText {
    static let main = """
    Usage:  swarmctl COMMAND [OPTIONS]

    A Swarm-mode container orchestrator in one binary: Raft consensus, replicated cluster state,
    scheduler, dispatcher and container executor. Every node runs this binary; manager and worker
    are roles, not programs.

    Running a node:
      init        Start a new cluster with this node as its first manager
      join        Join an existing cluster as a worker or manager
      run         Restart an existing node from its data directory
      dev         Start a local cluster of real processes with a demo service

    Talking to a node (-H ADDR, $SWARMCTL_HOST, or the default socket):
      info        Cluster id, node id, role, raft leader/term/commit
      join-token  Show or rotate the join tokens
      leave       Leave the cluster
      node        Manage nodes (ls, inspect, update, promote, demote, rm)
      service     Manage services (create, ls, ps, inspect, scale, update, rollback, logs, rm)
      image       Manage node-local images (import, load, pull, ls, rm)

    Testing:
      simulate    Run the deterministic cluster simulator over seeded fault schedules
      chaos       Inject faults into a running cluster

    Other:
      version     Show the version

    Run 'swarmctl COMMAND --help' for more information on a command.
    Exit codes: 0 success, 1 failure, 2 usage error.
    """

    static let node = """
    Usage:
      swarmctl init  --data-dir DIR --listen-addr HOST:PORT --api-addr ADDR [--advertise-addr HOST:PORT] [--config FILE]
      swarmctl join  --data-dir DIR --listen-addr HOST:PORT --api-addr ADDR [--advertise-addr HOST:PORT] [--config FILE] --token TOKEN MANAGER_HOST:PORT
      swarmctl run   --data-dir DIR [--config FILE]

    Runs a node in the foreground (logs to stderr; SIGTERM or SIGINT stops it cleanly).
    ADDR is unix:PATH or tcp:HOST:PORT. Every flag is also a key in the config file
    (see cluster.conf.example); flags win.

    Options:
      --executor auto|oci|process   How tasks run (default auto)
      --enable-chaos                Accept fault-injection requests
    """

    static let simulate = """
    Usage:  swarmctl simulate [--seed S | --seeds N] [--nodes N] [--duration D] [--faults LIST]
            swarmctl simulate --control-plane [--seed S | --seeds N] [--workers M] [--duration D]
                              [--faults LIST] [--trace] [--allow-slot-twice]

    Runs a deterministic cluster of Raft nodes in one process on a virtual clock, with a simulated
    network and disk, clients writing and reading linearizably, and a nemesis injecting faults.
    After every step it checks election safety, log matching, leader completeness, state machine
    safety and read linearizability; after the faults heal, that a write commits again.
    The same seed prints the same summary, byte for byte.

    Options:
      --seed S         Run one seed (default 1)
      --seeds N        Run seeds 1..N and print the totals
      --nodes N        Cluster size, 1 to 9 (default 3)
      --duration D     Virtual time with faults active, e.g. 30s, 2m (default 30s)
      --faults LIST    'all', 'none', or a comma-separated list of:
                       \(FaultNames.list)

    On a violated invariant it prints the seed and the command that replays it, and exits 1.

    With --control-plane it runs the whole control plane instead: 3 managers (Raft, the cluster
    state, the leader's heartbeat monitor and orchestrator) and M workers (default 7) whose agents
    run tasks on a fake executor, while a workload creates, scales and rolling-updates services and
    a nemesis isolates and crashes workers and managers. After the heal it checks that every
    service converges (and reports the virtual convergence times), that no slot runs twice for
    longer than a heartbeat period, that restart policies and max replicas per node hold, and
    that rolling updates keep their availability bound. Each failing seed is printed with its
    replay command; the summary gives the median, p99 and maximum virtual convergence times.

    Control-plane options:
      --workers M          Worker nodes, 1 to 64 (default 7)
      --duration D         Virtual time with workload and faults before the heal (default 30s)
      --faults LIST        'all', 'none', or some of: worker-isolated, manager-isolated,
                           worker-crash, manager-crash
      --trace              Print the run's timeline (commits, task starts and stops, faults)
      --allow-slot-twice   Do not fail on a slot running twice after the heal (to see how
                           such a run ends)
    """
}
