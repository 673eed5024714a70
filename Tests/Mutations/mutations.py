#!/usr/bin/env python3
"""Mutation check for the simulators: plants one real bug at a time in a copy of the package,
builds it, and reports how many seeds the simulator needed to catch it. Raft bugs are hunted by
`swarmctl simulate` (3 nodes, all faults); agent-core bugs (`--control-plane`) by
`swarmctl simulate --control-plane`, which runs the shipped agent core and dispatcher.

Run from the repository root:
  python3 Tests/Mutations/mutations.py [--seeds 2000] [NAME...]
  python3 Tests/Mutations/mutations.py --control-plane [--in-place] [--seeds 300] [NAME...]
Every planted bug must be caught (the script exits 1 otherwise). The working tree is never
modified: each mutant lives in a temporary copy (one copy reused for all mutants of a run, so
only what a mutation touches is rebuilt). Builds take the shared build lock.
"""
import os, re, shutil, subprocess, sys, tempfile

MUTATIONS = {
    # Figure 8: commit an entry of a previous term by counting replicas.
    "commit-previous-term": ("Sources/Raft/RaftNode+Replication.swift",
        "guard candidate > log.committed, log.term(at: candidate) == term else { return false }",
        "guard candidate > log.committed else { return false }"),
    # Grant a vote without persisting it: the hard state handed to the disk never carries the vote.
    "vote-not-persisted": ("Sources/Raft/RaftNode.swift",
        "public var hardState: HardState { HardState(term: term, vote: vote, commit: log.committed) }",
        "public var hardState: HardState { HardState(term: term, vote: noNode, commit: log.committed) }"),
    # Serve a read at the commit index without the quorum round.
    "read-without-quorum-round": ("Sources/Raft/RaftNode+Reads.swift",
        "if confState.voters == [id] {",
        "if true {"),
    # A new leader serves reads before committing an entry of its own term (etcd #7331).
    "read-before-term-commit": ("Sources/Raft/RaftNode+Reads.swift",
        "guard log.term(at: log.committed) == term else {",
        "guard true else {"),
    # Grant votes without the up-to-date check of §5.4.1.
    "vote-ignores-log": ("Sources/Raft/RaftNode+Election.swift",
        "let granted = canVote && log.isUpToDate(lastIndex: request.index, lastTerm: request.logTerm)",
        "let granted = canVote"),
    # Follower keeps its conflicting suffix instead of truncating it (log matching).
    "no-conflict-truncation": ("Sources/Raft/RaftLog.swift",
        "for entry in incoming where !matchTerm(entry.index, entry.term) {",
        "for entry in incoming where entry.index > lastIndex {"),
}

# Bugs in the agent core (Sources/Agent) and the dispatcher, found by the control-plane simulator.
CONTROL_PLANE_MUTATIONS = {
    # The agent never stops a task whose desired state became shutdown (scale down, update).
    "agent-ignores-stop": ("Sources/Agent/AgentCore.swift",
        "if task.desiredState > .running { requestStop(task.id, now: now, into: &actions) }",
        "if false && task.desiredState > .running { requestStop(task.id, now: now, into: &actions) }"),
    # A container that ends by itself while running is not noticed (the task stays "running").
    "agent-ignores-exit-while-running": ("Sources/Agent/AgentCore.swift",
        "[.starting, .waitingHealthy, .running, .adopting].contains(phase)",
        "[.starting, .waitingHealthy, .adopting].contains(phase)"),
    # Not listed, because the simulator cannot catch it yet: a task dropped from the node's
    # assignments while it runs is forgotten without a stop (`stopFirst: false` in `forget`).
    # The workload never removes a running task from the state directly (no `service rm`),
    # so 300 seeds did not reach that path.
    # A restarted agent reports a container it re-adopted as lost, and leaves it running.
    "agent-readoption-reports-lost": ("Sources/Agent/AgentCore.swift",
        "case let .adopted(id, pid): adopted(id, pid: pid, now: now, into: &actions)",
        "case let .adopted(id, _): lose(id, exit: nil, now: now, reason: \"mutant\", into: &actions)"),
    # Bugs in the dispatcher's delivery of secrets and configs (Sources/Dispatcher), caught by the
    # simulator's secret delivery invariants (`PayloadInvariants`).
    # An increment carries the task but not the new secret it references.
    "dispatcher-drops-new-payloads": ("Sources/Dispatcher/AssignmentStream.swift",
        "PayloadChange(payloads: payloads.filter { !held.contains($0.key) }, forget: held.subtracting(payloads.map(\\.key)).sorted())",
        "PayloadChange(payloads: [], forget: held.subtracting(payloads.map(\\.key)).sorted())"),
    # A node is never told to forget a secret its last task no longer needs.
    "dispatcher-never-forgets": ("Sources/Dispatcher/AssignmentStream.swift",
        "PayloadChange(payloads: payloads.filter { !held.contains($0.key) }, forget: held.subtracting(payloads.map(\\.key)).sorted())",
        "PayloadChange(payloads: payloads.filter { !held.contains($0.key) }, forget: [])"),
}

# Three nodes: the smallest cluster where every planted bug can break safety, and the one where
# leader-crash storms line up the paper's Figure 8 most often.
NODES = 3

def copy_package(root, work):
    for item in ("Package.swift", "Sources", "Benchmarks", "Tests"):
        source, target = os.path.join(root, item), os.path.join(work, item)
        if os.path.isdir(target):
            shutil.rmtree(target)
        (shutil.copytree if os.path.isdir(source) else shutil.copy)(source, target)

def build(work):
    subprocess.run(["flock", "/tmp/swift-build.lock", "swift", "build", "-c", "release", "--product", "swarmctl"],
                   cwd=work, check=True, stdout=subprocess.DEVNULL)

def plant(work, table, name):
    path, old, new = table[name]
    target = os.path.join(work, path)
    text = open(target).read()
    assert text.count(old) == 1, f"{name}: pattern not found exactly once in {path}"
    open(target, "w").write(text.replace(old, new))

def run(name, seeds, root, work):
    copy_package(root, work)
    plant(work, MUTATIONS, name)
    build(work)
    result = subprocess.run([os.path.join(work, ".build/release/swarmctl"), "simulate", "--seeds", str(seeds),
                             "--nodes", str(NODES), "--faults", "all"], cwd=work, capture_output=True, text=True)
    output = result.stdout + result.stderr
    found = re.search(r"VIOLATED \(seed (\d+)\): (.*)", output) or re.search(r"crashed.*--seed (\d+)()", output)
    if result.returncode != 0 and found:
        return int(found.group(1)), found.group(2).strip()[:140] or "core precondition failed"
    return None, "not caught"

def run_control_plane(name, seeds, root, work):
    """Stops at the first seed that fails (or crashes): that seed number is the answer. With
    work == root (--in-place) the mutation is planted in the working tree and always undone."""
    if work != root:
        copy_package(root, work)
    path = os.path.join(work, CONTROL_PLANE_MUTATIONS[name][0])
    original = open(path).read()
    try:
        plant(work, CONTROL_PLANE_MUTATIONS, name)
        build(work)
    finally:
        if work == root:
            open(path, "w").write(original)
    process = subprocess.Popen([os.path.join(work, ".build/release/swarmctl"), "simulate", "--control-plane",
                                "--seeds", str(seeds)], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in process.stdout:
            failed = re.search(r"FAILED seed (\d+): (.*)", line) or re.search(r"crashed.*--seed (\d+)()", line)
            if failed:
                return int(failed.group(1)), failed.group(2).strip()[:140] or "core precondition failed"
        return None, "not caught"
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()

def main():
    args = sys.argv[1:]
    control_plane = "--control-plane" in args
    if control_plane:
        args.remove("--control-plane")
    # Plants each control-plane mutation in the working tree itself (restored after the build),
    # so only the modules it touches are rebuilt in the tree's own .build.
    in_place = "--in-place" in args
    if in_place:
        args.remove("--in-place")
        assert control_plane, "--in-place is for --control-plane mutations"
    seeds = 300 if control_plane else 2000
    if "--seeds" in args:
        position = args.index("--seeds")
        seeds = int(args[position + 1])
        del args[position:position + 2]
    table = CONTROL_PLANE_MUTATIONS if control_plane else MUTATIONS
    names = args or list(table)
    root = os.getcwd()
    missed = 0
    if control_plane:
        print(f"| planted bug (agent core, dispatcher) | seeds needed (of {seeds}, swarmctl simulate --control-plane) | first violation |")
    else:
        print(f"| planted bug | seeds needed (of {seeds}, {NODES} nodes, all faults) | first violation |")
    print("|---|---|---|")
    work = root if in_place else tempfile.mkdtemp(prefix="mutant-")
    try:
        for name in names:
            seed, what = (run_control_plane if control_plane else run)(name, seeds, root, work)
            missed += seed is None
            print(f"| {name} | {seed if seed is not None else 'NOT CAUGHT'} | {what} |", flush=True)
    finally:
        if not in_place:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if missed else 0)

if __name__ == "__main__":
    main()
