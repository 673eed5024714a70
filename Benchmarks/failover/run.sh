#!/usr/bin/env bash
# Failover benchmark: 3 managers on 127.0.0.1 with fsync. Kills the leader with SIGKILL 20 times
# and freezes it with SIGSTOP 10 times; measures the time from the signal to the first write that
# succeeds through a surviving manager, and to the new leader. Prints a table and writes
# Benchmarks/results/failover.json.   Run: bash Benchmarks/failover/run.sh [KILLS] [STOPS]
set -euo pipefail
cd "$(dirname "$0")/../.."
KILLS=${1:-20}
STOPS=${2:-10}
swift build -c release --static-swift-stdlib --product swarmctl >/dev/null
BIN=$PWD/.build/release/swarmctl
DIR=$(mktemp -d /tmp/swarmctl-failover-XXXXXX)
declare -A PID ADDR API
cleanup() {
  for n in "${!PID[@]}"; do kill -CONT "${PID[$n]}" 2>/dev/null || true; kill -9 "${PID[$n]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }
cli() { "$BIN" -H "${API[$1]}" "${@:2}"; }

for n in m1 m2 m3; do ADDR[$n]=127.0.0.1:$(port); API[$n]=unix:$DIR/$n.sock; done
"$BIN" init --data-dir "$DIR/m1" --listen-addr "${ADDR[m1]}" --api-addr "${API[m1]}" >"$DIR/m1.out" 2>>"$DIR/m1.log" &
PID[m1]=$!
until cli m1 info >/dev/null 2>&1; do sleep 0.1; done
TOKEN=$(cli m1 join-token manager -q)
for n in m2 m3; do
  "$BIN" join --data-dir "$DIR/$n" --listen-addr "${ADDR[$n]}" --api-addr "${API[$n]}" --token "$TOKEN" "${ADDR[m1]}" >/dev/null 2>>"$DIR/$n.log" &
  PID[$n]=$!
  until cli "$n" info >/dev/null 2>&1; do sleep 0.1; done
done

leader() {  # prints the name of the current leader as seen by any live manager
  for n in m1 m2 m3; do
    addr=$(cli "$n" node ls --format json 2>/dev/null | python3 -c 'import json,sys
for x in json.load(sys.stdin):
    m=x.get("ManagerStatus") or {}
    if m.get("Leader"): print(m["Addr"])' 2>/dev/null) || continue
    [ -n "$addr" ] || continue
    for m in m1 m2 m3; do [ "${ADDR[$m]}" = "$addr" ] && { echo "$m"; return; }; done
  done
}
healthy() {  # all three managers are voters, reachable, with one leader, seen from $1
  cli "$1" info --format json 2>/dev/null | python3 -c 'import json,sys
r=json.load(sys.stdin)["Swarm"].get("Raft") or {}
sys.exit(0 if len(r.get("Voters",[]))==3 and not r.get("Learners") and r.get("Leader") else 1)' 2>/dev/null || return 1
  cli "$1" node ls --format json 2>/dev/null | python3 -c 'import json,sys
n=[x for x in json.load(sys.stdin) if x.get("ManagerStatus")]
sys.exit(0 if len(n)==3 and all(x["ManagerStatus"].get("Reachability")=="reachable" for x in n) and sum(1 for x in n if x["ManagerStatus"].get("Leader"))==1 else 1)' 2>/dev/null
}
wait_healthy() { local deadline=$(( $(now_ms) + 30000 )); until healthy m1 || healthy m2 || healthy m3; do [ "$(now_ms)" -lt $deadline ] || { echo "cluster did not recover" >&2; exit 1; }; sleep 0.1; done; }
node_id() { cli "$1" info --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["Swarm"]["NodeID"])'; }

measure() {  # $1 = KILL or STOP; sets RESULT to the ms from the signal to the first write
  local victim survivor start t_write=""
  wait_healthy
  victim=$(leader)
  for s in m1 m2 m3; do [ "$s" != "$victim" ] && survivor=$s && break; done
  local target; target=$(node_id "$survivor")
  start=$(now_ms)
  kill -"$1" "${PID[$victim]}"
  local deadline=$(( start + 20000 ))
  while [ "$(now_ms)" -lt $deadline ]; do
    if cli "$survivor" node update --label-add "bench=$start" "$target" >/dev/null 2>&1; then t_write=$(( $(now_ms) - start )); break; fi
  done
  if [ "$1" = KILL ]; then
    wait "${PID[$victim]}" 2>/dev/null || true
    "$BIN" run --data-dir "$DIR/$victim" >/dev/null 2>>"$DIR/$victim.log" &
    PID[$victim]=$!
  else
    kill -CONT "${PID[$victim]}"
  fi
  RESULT=${t_write:-20000}
}

KILL_MS=(); STOP_MS=()
for i in $(seq 1 "$KILLS"); do measure KILL; KILL_MS+=("$RESULT"); echo "kill -9 leader #$i: first write after ${RESULT} ms" >&2; done
for i in $(seq 1 "$STOPS"); do measure STOP; STOP_MS+=("$RESULT"); echo "SIGSTOP leader #$i: first write after ${RESULT} ms" >&2; done

python3 - "$DIR" "${KILL_MS[*]}" "${STOP_MS[*]}" <<'PY'
import json, os, statistics, subprocess, sys, datetime
kill = [int(x) for x in sys.argv[2].split()]
stop = [int(x) for x in sys.argv[3].split()]
def p99(v): s = sorted(v); return s[min(len(s) - 1, int(round(0.99 * (len(s) - 1))))]
def sh(c): return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
result = {
  "benchmark": "failover", "managers": 3, "raft_tick_ms": 100, "election_ticks": 5,
  "kill9_to_first_write_ms": {"runs": kill, "median": statistics.median(kill), "p99": p99(kill), "target_median": 250, "target_p99": 1000},
  "sigstop_to_first_write_ms": {"runs": stop, "median": statistics.median(stop), "target_median": 1200},
  "peer_etcd_reference_median_s": 1.39,
  "machine": {"nproc": sh("nproc"), "memory": sh("grep MemTotal /proc/meminfo"), "kernel": sh("uname -r"),
              "date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")},
}
os.makedirs("Benchmarks/results", exist_ok=True)
json.dump(result, open("Benchmarks/results/failover.json", "w"), indent=2)
print("| failure | runs | median ms | p99 ms | target |")
print("|---|---|---|---|---|")
print(f"| kill -9 leader → first write | {len(kill)} | {statistics.median(kill):.0f} | {p99(kill)} | median ≤ 250, p99 ≤ 1000 |")
print(f"| SIGSTOP leader → first write | {len(stop)} | {statistics.median(stop):.0f} | {p99(stop)} | median ≤ 1200 |")
print("etcd 3-member reference on this machine (issue text): median 1.39 s to first write after kill -9")
PY
