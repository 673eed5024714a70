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
      ca          Show or rotate the root CA, set the node certificate expiry
      leave       Leave the cluster
      node        Manage nodes (ls, inspect, update, promote, demote, rm, ps)
      service     Manage services (create, ls, ps, inspect, scale, update, rollback, logs, rm)
      network     Manage overlay networks (create, ls, inspect, rm)
      secret      Manage secrets (create, ls, inspect, rm, update: a new revision that rolls the services using it)
      config      Manage configs (create, ls, inspect, rm)
      image       Manage node-local images (import, load, pull, ls, rm)
      client-cert Get an API client certificate from the cluster CA (--out DIR: ca.pem cert.pem key.pem)
      events      Stream service, node and task-container events (--since, --until, --filter)
      swarm       Swarm settings and autolock (update --autolock, unlock, unlock-key --rotate)

    Testing:
      simulate    Run the deterministic cluster simulator over seeded fault schedules
      testbed     Local cluster with chaos enabled for scripts (up, down, ls, kill, stop, cont, restart)
      chaos       Inject faults into a running testbed (partition, delay, loss, kill-node, fsync-fail …)
      check       Check a recorded history: check linearizable --history FILE

    Other:
      version     Show the version

    Global options (before COMMAND), as the docker CLI:
      -H ADDR                  unix:PATH or tcp:HOST:PORT (default $SWARMCTL_HOST, else unix:/var/run/swarmctl.sock)
      --tlsverify              Use TLS and verify the node (also DOCKER_TLS_VERIFY=1)
      --tlscacert FILE --tlscert FILE --tlskey FILE
                               Default: ca.pem, cert.pem, key.pem in $DOCKER_CERT_PATH (else ~/.docker)

    Run 'swarmctl COMMAND --help' for more information on a command.
    Exit codes: 0 success, 1 failure, 2 usage error.
    """

    static let service = """
    Usage:
      swarmctl service create [OPTIONS] IMAGE [COMMAND [ARG...]]
      swarmctl service ls [-q] [--filter K=V]... [--format json]
      swarmctl service ps [-q] [--filter K=V]... [--format json] [--no-trunc] SERVICE...
      swarmctl service inspect SERVICE... [--pretty]
      swarmctl service scale SERVICE=REPLICAS... [--detach]
      swarmctl service update [OPTIONS] [--image IMAGE] [--force] [--args "CMD ARGS"] SERVICE
      swarmctl service rollback SERVICE [--detach]
      swarmctl service logs [--follow] [--tail N] [--timestamps] SERVICE
      swarmctl service rebalance SERVICE [--detach]   spread tasks evenly again after nodes rejoined
      swarmctl service rm SERVICE...

    Options of create and update:
      --name NAME  --mode replicated|global  --replicas N  --env K=V (update: --env-add, --env-rm)
      --label K=V  --constraint EXPR (update: --constraint-add, --constraint-rm)
      --placement-pref spread=node.labels.K  --replicas-max-per-node N
      --reserve-cpu C  --reserve-memory M  --limit-cpu C  --limit-memory M  --limit-pids N
      --restart-condition any|on-failure|none  --restart-delay D  --restart-max-attempts N  --restart-window D
      --update-parallelism N  --update-delay D  --update-failure-action pause|continue|rollback
      --update-monitor D  --update-max-failure-ratio R  --update-order stop-first|start-first
      --rollback-parallelism N ... (the same keys as --update-*)
      --health-cmd CMD  --health-interval D  --health-timeout D  --health-retries N  --health-start-period D
      --stop-grace-period D  --stop-signal SIG  --workdir DIR  --user U  --hostname H  --entrypoint "CMD ARGS"
      --detach     Return at once instead of showing per-slot progress until the service converged

    Without --detach, create, update, scale and rollback exit 0 once the service's tasks have run
    for the update monitor period (default 5s), and 1 with the reason when an update pauses or is
    rolled back, or every task is rejected. Run 'swarmctl service COMMAND --help' for a command's options.
    """

    static let chaos = """
    Usage: swarmctl chaos SUBCOMMAND [--dir TESTBED_DIR]     (default: $TESTBED_DIR, else the default testbed)

    Faults on a running testbed ('swarmctl testbed up'; its nodes run with --enable-chaos):
      partition --nodes A,B [--one-way] [--bridge C]   cut A,B off from the rest (one-way: A,B cannot send)
      heal                                             remove every fault from every node
      delay --from A --to B 200ms [--jitter 50ms]      delay what A sends to B
      loss --from A --to B 20%                         drop a share of what A sends to B
      duplicate --from A --to B 10%                    send a share of A's frames to B twice
      kill-node NODE                                   SIGKILL a node and its tasks (a machine crash)
      pause-node NODE --for 10s                        freeze a node's event loop
      kill-task SERVICE [--count N]                    SIGKILL running tasks of a service
      pause-task SERVICE [--count N]                   SIGSTOP running tasks of a service
      fsync-fail NODE --for 10s                        fsync fails (the node stops rather than acknowledge)
      fsync-slow NODE --for 10s [--by 500ms]           every fsync takes longer
      disk-full NODE --for 10s                         writes fail with ENOSPC
      skew NODE +3s                                    shift the node's wall clock
      run [--schedule FILE | --random --seed S] --duration D [--workload register|services] [--out DIR]
          a nemesis schedule against the testbed while a workload runs; heals everything at the end,
          checks the history, writes DIR/report.md and DIR/timeline.svg; exit 1 on an anomaly or a
          lost acknowledged write. Schedule lines: SECONDS COMMAND [ARGS…], e.g. '5 partition --nodes manager-1'.
    """

    static let simulate = """
    Usage:  swarmctl simulate [--seed S | --seeds N] [--nodes N] [--duration D] [--faults LIST]
            swarmctl simulate --control-plane [--seed S | --seeds N] [--workers M] [--duration D]
                              [--faults LIST] [--managers-run-tasks] [--ack-timeout D|off]
                              [--workers-without-networking K] [--trace] [--allow-slot-twice]

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
    state, the leader's heartbeat monitor, orchestrator and dispatcher) and M workers (default 7) whose agents
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
      --managers-run-tasks The managers are active nodes that run tasks too (default: drained)
      --ack-timeout D|off  The dispatcher's acknowledgement guard bound (default 5s); 'off'
                           shows what the assignment stream alone does
      --workers-without-networking K
                           The last K workers run no task networking (as with the process
                           executor) and must never get a task with network attachments (default 1)
      --trace              Print the run's timeline (commits, task starts and stops, faults)
      --allow-slot-twice   Do not fail on a slot running twice after the heal (to see how
                           such a run ends)
    """
}
