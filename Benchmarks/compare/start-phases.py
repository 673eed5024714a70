#!/usr/bin/env python3
"""Where the time of `service create` -> N/N running goes, from a start trace.

    python3 Benchmarks/compare/start-phases.py TRACE [TRACE...]

TRACE is what `cluster-bench converge --trace FILE` leaves: the node's lines
(`SWARMCTL_START_TRACE`: MONOTONIC_NS TASK_ID PHASE, phases assigned, prepare-begin, prepared,
start-begin, started, reported, recorded) and the benchmark's (MONOTONIC_NS service-NAME
create|converged), all on the machine's monotonic clock. For every service the tasks whose
`assigned` falls between its create and its converged are its own. Prints, per service, when
the first and the last task passed each phase (ms after the create) and the median time a task
spent in each step; then the medians of those over all services of the same size.
"""
import statistics
import sys
from collections import defaultdict

PHASES = ["assigned", "prepare-begin", "prepared", "start-begin", "started", "reported", "recorded"]
STEPS = [
    ("create -> assigned (orchestrate, schedule, dispatch)", "create", "assigned"),
    ("assigned -> prepare-begin (worker queue)", "assigned", "prepare-begin"),
    ("prepare (bundle, rootfs, config)", "prepare-begin", "prepared"),
    ("prepared -> start-begin (loop, start slot)", "prepared", "start-begin"),
    ("start (runtime until the pid is known)", "start-begin", "started"),
    ("started -> reported (loop, report)", "started", "reported"),
    ("reported -> recorded (batch, Raft commit)", "reported", "recorded"),
]


def load(paths):
    # Services in the order they were created (a name may repeat across benchmark invocations).
    services, tasks = [], defaultdict(dict)
    for path in paths:
        for line in open(path):
            fields = line.split()
            if len(fields) != 3:
                continue
            ns, name, phase = int(fields[0]), fields[1], fields[2]
            if name.startswith("service-"):
                if phase == "create":
                    services.append((name[len("service-"):], {"create": ns}))
                elif services and services[-1][0] == name[len("service-"):]:
                    services[-1][1][phase] = ns
            elif phase not in tasks[name]:
                tasks[name][phase] = ns  # the first time (reports repeat until recorded)
    return services, tasks


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    services, tasks = load(sys.argv[1:])
    by_size = defaultdict(list)
    for name, marks in sorted(services, key=lambda item: item[1]["create"]):
        if "create" not in marks or "converged" not in marks:
            continue
        create, converged = marks["create"], marks["converged"]
        own = [t for t in tasks.values() if "assigned" in t and create <= t["assigned"] <= converged]
        if not own:
            continue
        total = (converged - create) / 1e6
        row = {"total": total, "n": len(own)}
        print("\n%s: %d tasks, %.0f ms to converged" % (name, len(own), total))
        print("  %-14s %10s %10s" % ("phase", "first ms", "last ms"))
        for phase in PHASES:
            times = [t[phase] for t in own if phase in t]
            if times:
                print("  %-14s %10.0f %10.0f" % (phase, (min(times) - create) / 1e6, (max(times) - create) / 1e6))
                row["last " + phase] = (max(times) - create) / 1e6
        print("  %-54s %8s %8s" % ("step", "median", "max"))
        for label, start, end in STEPS:
            spans = [((t[end] - (create if start == "create" else t[start])) / 1e6) for t in own
                     if end in t and (start == "create" or start in t)]
            if spans:
                print("  %-54s %8.1f %8.1f" % (label, statistics.median(spans), max(spans)))
                row[label] = statistics.median(spans)
        last_recorded = max((t["recorded"] for t in own if "recorded" in t), default=None)
        if last_recorded:
            print("  %-54s %8.1f" % ("last recorded -> converged seen (API poll)", (converged - last_recorded) / 1e6))
        by_size[len(own)].append(row)
    for size, rows in sorted(by_size.items()):
        print("\nN = %d, medians over %d services:" % (size, len(rows)))
        for key in rows[0]:
            if key == "n":
                continue
            values = [r[key] for r in rows if key in r]
            print("  %-58s %8.1f ms" % (key, statistics.median(values)))


if __name__ == "__main__":
    main()
