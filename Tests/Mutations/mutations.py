#!/usr/bin/env python3
"""Mutation check for the simulator: plants one real Raft bug at a time in a copy of the
package, builds it, and reports how many seeds `swarmctl simulate` needed to catch it.

Run from the repository root:  python3 Tests/Mutations/mutations.py [--seeds 2000] [NAME...]
Every planted bug must be caught (the script exits 1 otherwise). The working tree is never
modified: each mutant lives in its own temporary copy.
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

# Three nodes: the smallest cluster where every planted bug can break safety, and the one where
# leader-crash storms line up the paper's Figure 8 most often.
NODES = 3

def run(name, seeds, root):
    path, old, new = MUTATIONS[name]
    work = tempfile.mkdtemp(prefix=f"mutant-{name}-")
    try:
        for item in ("Package.swift", "Sources", "Benchmarks", "Tests"):
            source = os.path.join(root, item)
            (shutil.copytree if os.path.isdir(source) else shutil.copy)(source, os.path.join(work, item))
        target = os.path.join(work, path)
        text = open(target).read()
        assert text.count(old) == 1, f"{name}: pattern not found exactly once in {path}"
        open(target, "w").write(text.replace(old, new))
        subprocess.run(["swift", "build", "-c", "release", "--product", "swarmctl"], cwd=work, check=True,
                       stdout=subprocess.DEVNULL)
        result = subprocess.run([os.path.join(work, ".build/release/swarmctl"), "simulate", "--seeds", str(seeds),
                                 "--nodes", str(NODES), "--faults", "all"], cwd=work, capture_output=True, text=True)
        output = result.stdout + result.stderr
        found = re.search(r"VIOLATED \(seed (\d+)\): (.*)", output) or re.search(r"crashed.*--seed (\d+)()", output)
        if result.returncode != 0 and found:
            return int(found.group(1)), found.group(2).strip()[:140] or "core precondition failed"
        return None, "not caught"
    finally:
        shutil.rmtree(work, ignore_errors=True)

def main():
    args = sys.argv[1:]
    seeds = 2000
    if "--seeds" in args:
        position = args.index("--seeds")
        seeds = int(args[position + 1])
        del args[position:position + 2]
    names = args or list(MUTATIONS)
    root = os.getcwd()
    missed = 0
    print(f"| planted bug | seeds needed (of {seeds}, {NODES} nodes, all faults) | first violation |")
    print("|---|---|---|")
    for name in names:
        seed, what = run(name, seeds, root)
        missed += seed is None
        print(f"| {name} | {seed if seed is not None else 'NOT CAUGHT'} | {what} |", flush=True)
    sys.exit(1 if missed else 0)

if __name__ == "__main__":
    main()
