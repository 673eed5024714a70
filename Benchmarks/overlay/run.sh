#!/usr/bin/env bash
# Issue 16 benchmarks on a real cluster: `swarmctl testbed up --netns` (3 managers, each in its own
# network namespace on the 192.0.2.0/24 underlay, OCI tasks on the testbed image, overlays from
# 198.51.100.0/25), driven with the docker CLI. Not a test: it measures, it checks nothing.
#   1. mesh vs direct: from manager-1's namespace, requests to manager-2's published port 8080
#      (DNAT there to any of 3 tasks over the ingress overlay) against the same requests straight
#      to the tasks' ingress addresses in turn; interleaved request by request, a new TCP
#      connection each, the static /ok file (3 bytes); requests/s, p50, p99, mesh/direct ratio.
#   2. DNS: sequential A lookups of `web` from inside a task's namespace to 127.0.0.11:53.
#   3. scale 3→4: time from the new task's running timestamp to the first reply it serves
#      through the mesh (a client in the client namespace requests manager-1:8080 back to back).
#   4. scale 4→3: time from the scale-down command to the start of the last request the removed
#      task answered.
# Medians over RUNS runs. Needs root, runc, nft, a static busybox, the docker CLI.
# Run: bash Benchmarks/overlay/run.sh [RUNS]   (BIN=path/to/swarmctl; default .build/debug/swarmctl)
# Writes Benchmarks/results/overlay-cluster.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-5}
REQUESTS=${REQUESTS:-2000}
LOOKUPS=${LOOKUPS:-10000}
BIN=${BIN:-$PWD/.build/debug/swarmctl}
[ -x "$BIN" ] || swift build --product swarmctl >/dev/null
PROBE=$PWD/Benchmarks/overlay/probe.py
DIR=$(mktemp -u /tmp/swarmctl-overlay-bench-XXXXXX)
WORK=$(mktemp -d /tmp/swarmctl-overlay-work-XXXXXX)
cleanup() {
  touch "$WORK/stop"
  "$BIN" testbed down --dir "$DIR" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN" testbed up --netns --managers 3 --workers 0 --dir "$DIR" >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log"; exit 1; }
set -a; . "$DIR/testbed.env"; set +a
export DOCKER_CONFIG=$WORK/docker-config DOCKER_CLI_HINTS=false
docker() { /usr/local/bin/docker "$@"; }
now_ns() { date +%s%N; }

# tasks SERVICE: one line per task: ID STATE DESIRED PID RUNNING_TIMESTAMP_NS INGRESS_ADDR BENCH_ADDR
tasks() {
  curl -sf --unix-socket "${SWARMCTL_HOST#unix:}" "http://localhost/v1.41/tasks?filters=%7B%22service%22%3A%5B%22$1%22%5D%7D" | python3 -c '
import json, sys, calendar
def ns(ts):
    date, _, frac = ts.rstrip("Z").partition(".")
    seconds = calendar.timegm(__import__("time").strptime(date, "%Y-%m-%dT%H:%M:%S"))
    return seconds * 10**9 + int((frac + "000000000")[:9])
for t in json.load(sys.stdin):
    s = t.get("Status", {})
    nets = {a.get("Network", {}).get("Spec", {}).get("Name"): a["Addresses"][0].split("/")[0] for a in t.get("NetworksAttachments") or []}
    print(t["ID"], s.get("State"), t.get("DesiredState"), (s.get("ContainerStatus") or {}).get("PID", 0), ns(s.get("Timestamp", "1970-01-01T00:00:00Z")),
          nets.get("ingress", "-"), nets.get("bench", "-"))'
}
running() { tasks "$1" | awk '$2 == "running" && $3 == "running" && $4 > 0'; }
wait_running() {  # SERVICE COUNT
  for _ in $(seq 600); do [ "$(running "$1" | wc -l)" -eq "$2" ] && return 0; sleep 0.2; done
  echo "timed out waiting for $2 running tasks of $1" >&2; tail -n 20 "$DIR"/*.log >&2; exit 1
}

docker network create -d overlay bench >/dev/null
docker service create -d --no-resolve-image --name web --network bench --replicas 3 -p 8080:80 swarmctl/testbed:latest >/dev/null
docker service create -d --no-resolve-image --name probe --network bench swarmctl/testbed:latest sleep 100000 >/dev/null
wait_running web 3
wait_running probe 1
DIRECT=$(running web | awk '{print $6 ":80/ok"}' | paste -sd, -)
PROBE_PID=$(running probe | awk '{print $4; exit}')
echo "testbed in $DIR; web tasks (ingress): $DIRECT" >&2

: > "$WORK/requests.jsonl"; : > "$WORK/dns.jsonl"; : > "$WORK/scale.jsonl"
for run in $(seq "$RUNS"); do
  nsenter --net="$MANAGER_1_NETNS" python3 "$PROBE" requests "$REQUESTS" "$MANAGER_2_UNDERLAY:8080/ok" "$DIRECT" | tee -a "$WORK/requests.jsonl" >&2
  nsenter --net="/proc/$PROBE_PID/ns/net" python3 "$PROBE" dns "$LOOKUPS" web | tee -a "$WORK/dns.jsonl" >&2

  # Scale up and down while a client requests manager-1's published port back to back.
  rm -f "$WORK/stop"
  ip netns exec "$TESTBED_CLIENT_NETNS" python3 "$PROBE" watch "$MANAGER_1_UNDERLAY:8080/" "$WORK/stop" "$WORK/watch-$run" &
  WATCH=$!
  sleep 1
  before=$(running web | awk '{print $1}' | sort)
  docker service scale -d web=4 >/dev/null
  wait_running web 4
  new=$(running web | awk '{print $1}' | sort | comm -13 <(echo "$before") -)
  new_line=$(running web | awk -v id="$new" '$1 == id')
  sleep 2
  up_set=$(running web | awk '{print $1}' | sort)
  down_at=$(now_ns)
  docker service scale -d web=3 >/dev/null
  wait_running web 3
  gone=$(running web | awk '{print $1}' | sort | comm -23 <(echo "$up_set") -)
  gone_line=$(tasks web | awk -v id="$gone" '$1 == id')
  sleep 2
  touch "$WORK/stop"; wait "$WATCH"
  python3 - "$WORK/watch-$run" "$new_line" "$gone_line" "$down_at" >> "$WORK/scale.jsonl" <<'PY'
import json, sys
log, new, gone, down_at = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), int(sys.argv[4])
rows = [line.split() for line in open(log)]
replies = [(int(r[0]), set(r[2].strip(",").split(","))) for r in rows if len(r) == 3 and r[1] == "0"]
failures = sum(1 for r in rows if len(r) >= 2 and r[1] != "0")
running_at, new_addr = int(new[4]), new[5]
first = min((t for t, a in replies if new_addr in a and t >= running_at - 10**9), default=None)
gone_addr = gone[5] if len(gone) > 5 else "?"
last = max((t for t, a in replies if gone_addr in a), default=None)
print(json.dumps({"running_to_first_request_s": None if first is None else (first - running_at) / 1e9,
                  "scale_down_to_last_request_s": None if last is None else (last - down_at) / 1e9,
                  "requests": len(rows), "failed_requests": failures}))
PY
  tail -n 1 "$WORK/scale.jsonl" >&2
  # The next run starts from the same 3 tasks' addresses.
  DIRECT=$(running web | awk '{print $6 ":80/ok"}' | paste -sd, -)
  echo "run $run done" >&2
done

mkdir -p Benchmarks/results
python3 - "$WORK" "$RUNS" "$REQUESTS" "$LOOKUPS" > Benchmarks/results/overlay-cluster.json <<'PY'
import json, statistics, sys, time
work, runs, requests, lookups = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
load = lambda name: [json.loads(l) for l in open("%s/%s.jsonl" % (work, name)) if l.strip()]
req, dns, scale = load("requests"), load("dns"), load("scale")
med = lambda xs: statistics.median(xs) if xs else None
vals = lambda rows, *path: [r for r in (__import__("functools").reduce(lambda d, k: d.get(k) if d else None, path, row) for row in rows) if r is not None]
print(json.dumps({
  "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "runs": runs, "requests_per_side": requests, "lookups": lookups,
  "mesh_over_direct": {"median": med(vals(req, "ratio")), "runs": vals(req, "ratio")},
  "mesh": {k: med(vals(req, "mesh", k)) for k in ("per_second", "p50_ms", "p99_ms")},
  "direct": {k: med(vals(req, "direct", k)) for k in ("per_second", "p50_ms", "p99_ms")},
  "dns": {k: med(vals(dns, k)) for k in ("per_second", "p50_ms", "p99_ms")} | {"failures": sum(vals(dns, "failures"))},
  "running_to_first_request_s": {"median": med(vals(scale, "running_to_first_request_s")), "runs": vals(scale, "running_to_first_request_s")},
  "scale_down_to_last_request_s": {"median": med(vals(scale, "scale_down_to_last_request_s")), "runs": vals(scale, "scale_down_to_last_request_s")},
  "failed_requests_during_scaling": sum(vals(scale, "failed_requests")),
}, indent=2))
PY
cat Benchmarks/results/overlay-cluster.json
