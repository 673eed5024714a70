#!/usr/bin/env bash
# Chaos soak (issue 19; not run by CI): random nemesis schedules against a fresh 3-manager,
# 2-worker testbed each, with the services workload for SERVICES_SEEDS seeds and the register
# workload for REGISTER_SEEDS seeds. Prints one line per run (seed, PASS/FAIL, operations, worst
# "full replicas after" of its report, the dispatcher's repair counters summed over the nodes)
# and a summary; exits 1 if any run failed.
#
#   bash Benchmarks/soak/chaos-soak.sh                       # 20 services + 10 register seeds, 120 s each
#   SERVICES_SEEDS=3 REGISTER_SEEDS=1 DURATION=60s bash Benchmarks/soak/chaos-soak.sh   # a short check
#
# Settings (environment): SERVICES_SEEDS (20), REGISTER_SEEDS (10), DURATION (120s), FIRST_SEED (1),
# OUT (reports kept there, default a new /tmp/swarmctl-soak-* directory), BIN (default: a release
# build of swarmctl, built first).
set -euo pipefail
cd "$(dirname "$0")/../.."
SERVICES_SEEDS=${SERVICES_SEEDS:-20}
REGISTER_SEEDS=${REGISTER_SEEDS:-10}
DURATION=${DURATION:-120s}
FIRST_SEED=${FIRST_SEED:-1}
OUT=${OUT:-$(mktemp -d /tmp/swarmctl-soak-XXXXXX)}
if [[ -z "${BIN:-}" ]]; then
  flock /tmp/swift-build.lock swift build -c release --static-swift-stdlib --product swarmctl >/dev/null
  BIN=$PWD/.build/release/swarmctl
fi
TESTBED=$(mktemp -d /tmp/swarmctl-soak-testbed-XXXXXX)
rmdir "$TESTBED"
cleanup() { "$BIN" testbed down --dir "$TESTBED" >/dev/null 2>&1 || true; }
trap cleanup EXIT

# The dispatcher's repair counters summed over the testbed's nodes (swarmctl info, Swarm.Dispatcher):
# holes seen / full resyncs / unacknowledged resends / tasks failed unacknowledged.
dispatcher_counters() {
  local total="0 0 0 0" api
  for api in $(grep -o "_API='[^']*'" "$TESTBED/testbed.env" | sed "s/_API='//; s/'$//"); do
    total=$("$BIN" -H "$api" info --format json 2>/dev/null | python3 -c '
import json, sys
a = [int(x) for x in sys.argv[1].split()]
try:
    d = json.load(sys.stdin).get("Swarm", {}).get("Dispatcher", {})
except ValueError:
    d = {}
keys = ["GapsSeen", "Resyncs", "UnacknowledgedResends", "UnacknowledgedFailures"]
print(" ".join(str(a[i] + int(d.get(k, 0))) for i, k in enumerate(keys)))' "$total" || echo "$total")
  done
  echo "$total" | tr ' ' '/'
}

# The worst "full replicas after s" of a report: the largest number, or "never" if any row says so.
worst_replicas() {
  awk -F'|' '/^\| [0-9]+ \|/ { v = $7; gsub(/ /, "", v); if (v == "never") never = 1; else if (v != "–" && v + 0 > worst) worst = v + 0 }
             END { if (never) print "never"; else printf "%.1f\n", worst }' "$1"
}

failed=()
worst_all=0
worst_never=0
printf '%-9s %5s  %-4s %10s  %-13s  %s\n' workload seed verdict operations "worst repl. (s)" "dispatcher holes/resyncs/unack-resends/unack-failed"
run_one() {
  local workload=$1 seed=$2 report="$OUT/$1-seed$2"
  mkdir -p "$report"
  cleanup
  "$BIN" testbed up --managers 3 --workers 2 --dir "$TESTBED" >"$report/testbed.log" 2>&1
  local status=0
  "$BIN" chaos run --dir "$TESTBED" --random --seed "$seed" --duration "$DURATION" --workload "$workload" --out "$report" \
    >"$report/run.log" 2>&1 || status=$?
  local repairs
  repairs=$(dispatcher_counters)
  cleanup
  local verdict=PASS
  [[ $status -eq 0 ]] || verdict=FAIL
  local operations worst="–"
  operations=$(grep -o 'operations [0-9]*' "$report/run.log" | head -1 | awk '{print $2}')
  if [[ $workload == services && -f "$report/report.md" ]]; then
    worst=$(worst_replicas "$report/report.md")
    if [[ $worst == never ]]; then worst_never=1; else worst_all=$(awk -v a="$worst_all" -v b="$worst" 'BEGIN { print (b > a ? b : a) }'); fi
  fi
  printf '%-9s %5s  %-4s %10s  %-13s  %s\n' "$workload" "$seed" "$verdict" "${operations:-?}" "$worst" "$repairs"
  [[ $verdict == PASS ]] || failed+=("$workload seed $seed: $(head -1 "$report/run.log" 2>/dev/null; grep -m1 -E '^(PASS|FAIL)' "$report/run.log" || true)")
}

for ((i = 0; i < SERVICES_SEEDS; i++)); do run_one services $((FIRST_SEED + i)); done
for ((i = 0; i < REGISTER_SEEDS; i++)); do run_one register $((FIRST_SEED + i)); done

echo
seeds() { (($1 > 0)) && echo "$FIRST_SEED..$((FIRST_SEED + $1 - 1))" || echo none; }
echo "runs: $((SERVICES_SEEDS + REGISTER_SEEDS)) (services seeds $(seeds "$SERVICES_SEEDS"), register seeds $(seeds "$REGISTER_SEEDS"), $DURATION each)"
echo "worst full replicas after a fault: $([[ $worst_never -eq 1 ]] && echo never || echo "${worst_all} s")"
echo "reports: $OUT"
if ((${#failed[@]})); then
  echo "FAILED: ${#failed[@]}"
  printf '  %s\n' "${failed[@]}"
  exit 1
fi
echo "all PASS"
