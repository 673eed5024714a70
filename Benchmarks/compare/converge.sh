#!/usr/bin/env bash
# converge: `service create --replicas N` to N/N running, swarmctl with the process executor and
# with the OCI executor (runc, and crun where installed) side by side with Docker 20.10 swarm mode
# (Debian docker.io), same run, interleaved.
#
#   bash Benchmarks/compare/converge.sh [--replicas 1,10,50,100] [--runs 5] [--poll-ms 50] [--sides process,oci,crun,docker] [--trace] [--no-build]
#
# --no-build: use the release binaries already in $BUILD_PATH (default .build) as they are.
# --trace: our OCI sides write per-task start phases (SWARMCTL_START_TRACE) to
# Benchmarks/results/converge-trace-{oci,crun}.txt; summed up by Benchmarks/compare/start-phases.py.
#
# crun (1.8, Debian 12) refuses a hybrid cgroup layout whose v2 tree owns a controller ("cgroups
# in hybrid mode not supported"; this VM: hugetlb has no v1 hierarchy). The node itself handles
# that (OCIRuntime.cgroupViewPrefix: crun's run and exec go through a mount namespace of their
# own where /sys/fs/cgroup/unified is unmounted), so the crun side runs as the others do.
# SWARMCTL_COMPILED_SECCOMP=0 in the environment makes the crun side compile the seccomp profile
# per container again (crun's default), for an A/B of the node's once-per-profile compilation.
#
# Installs docker.io, runc and busybox-static if missing; builds swarmctl and cluster-bench
# (release, under the shared build lock, scratch path $BUILD_PATH, default .build); starts a
# private dockerd as a child (own --data-root, --exec-root, --pidfile and unix socket in a temp
# dir, --bridge=none --iptables=false --ip-masq=false, DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1),
# makes it a one-node swarm on 127.0.0.1 and imports a
# busybox image built from /bin/busybox (no registry, nothing beyond loopback).
# Per repetition and N, the three sides run once each, rotating which goes first, each after a
# `sync` and a 1 s pause (untimed) so one side's write-back does not land on the next:
#   process: cluster-bench converge --executor process --replicas N --runs 1 (one fresh manager
#            node, POST /services/create to N running tasks, polled every --poll-ms)
#   oci:     the same with --executor oci: each task a runc container on an overlay of the image
#            `busybox` (cluster-bench imports it from /bin/busybox into the node's store)
#   crun:    the same with --executor oci --runtime crun
#   docker: `docker service create --detach --no-resolve-image --replicas N` timed from the
#           command start until the API's ServiceStatus says N running (polled every --poll-ms),
#           then `docker service rm` and wait until its containers are gone.
# Prints a table and writes Benchmarks/results/converge.json. Cleans up on exit, also on failure:
# swarm leave, dockerd stopped by its pid, leftovers (processes naming our temp dir: shims,
# cluster-bench's nodes, which run with TMPDIR inside it) killed by pid with their children,
# mounts under the temp dir unmounted, the dir removed. A system dockerd is never touched.
set -euo pipefail
cd "$(dirname "$0")/../.."
. Benchmarks/compare/common.sh
REPLICAS=1,10,50,100
RUNS=5
POLL_MS=50
SIDES_OPTION=""
TRACE=0
NO_BUILD=0
BUILD=${BUILD_PATH:-.build}
USAGE="usage: bash Benchmarks/compare/converge.sh [--replicas 1,10,50,100] [--runs 5] [--poll-ms 50] [--sides process,oci,crun,docker] [--trace] [--no-build]"
while [ $# -gt 0 ]; do
  case "$1" in
    --replicas) REPLICAS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --poll-ms) POLL_MS=$2; shift 2 ;;
    --sides) SIDES_OPTION=$2; shift 2 ;;
    --trace) TRACE=1; shift ;;
    --no-build) NO_BUILD=1; shift ;;
    *) echo "$USAGE" >&2; exit 2 ;;
  esac
done
# Default: crun too where it is installed.
if [ -z "$SIDES_OPTION" ]; then
  SIDES_OPTION=process,oci,docker
  command -v crun >/dev/null && SIDES_OPTION=process,oci,crun,docker
fi
IFS=, read -r -a SIDES <<<"$SIDES_OPTION"
for side in "${SIDES[@]}"; do
  case "$side" in process|oci|crun|docker) ;; *) echo "unknown side $side; $USAGE" >&2; exit 2 ;; esac
done
has_side() { [[ ",$SIDES_OPTION," == *",$1,"* ]]; }
POLL_S=$(printf '0.%03d' "$POLL_MS")

has_side docker && { command -v dockerd >/dev/null || apt_install docker.io; }
[ -x /bin/busybox ] || apt_install busybox-static
command -v runc >/dev/null || apt_install runc
has_side crun && { command -v crun >/dev/null || apt_install crun; }
command -v jq >/dev/null || apt_install jq
[ "$(id -u)" -eq 0 ] || { echo "the OCI executor and dockerd need root" >&2; exit 1; }
# Debian's client (20.10) goes with Debian's daemon; another docker on PATH may be newer.
DOCKER_BIN=/usr/bin/docker
[ -x "$DOCKER_BIN" ] || DOCKER_BIN=$(command -v docker)

for product in swarmctl cluster-bench; do
  [ "$NO_BUILD" = 1 ] && break
  flock /tmp/swift-build.lock swift build -c release --scratch-path "$BUILD" --product "$product" 2>&1 | grep -E 'error|Compiling|Build' | tail -3
done
BENCH="$BUILD/release/cluster-bench"
[ -x "$BENCH" ] || { echo "no $BENCH after the build" >&2; exit 1; }

TMP=$(mktemp -d /tmp/converge-bench-XXXXXX)
SOCK="$TMP/docker.sock"
DOCKERD_PID=""
BENCH_PID=""
docker_() { "$DOCKER_BIN" -H "unix://$SOCK" "$@"; }
api() { curl -sf --unix-socket "$SOCK" "http://docker/v1.41$1"; }

cleanup() {
  set +e
  if [ -n "$BENCH_PID" ] && kill -0 "$BENCH_PID" 2>/dev/null; then kill "$BENCH_PID"; wait "$BENCH_PID"; fi
  if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
    ids=$(docker_ ps -aq 2>/dev/null)
    [ -n "$ids" ] && docker_ rm -f $ids >/dev/null 2>&1
    docker_ swarm leave --force >/dev/null 2>&1
    kill "$DOCKERD_PID"
    for _ in $(seq 200); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$DOCKERD_PID" 2>/dev/null && kill -9 "$DOCKERD_PID"
    wait "$DOCKERD_PID" 2>/dev/null
  fi
  leftovers=$(processes_naming "$TMP/")
  [ -n "$leftovers" ] && { echo "killing leftover pids: $leftovers" >&2; kill -9 $leftovers 2>/dev/null; sleep 0.3; }
  grep -o " $TMP[^ ]*" /proc/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf --one-file-system "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

DOCKER_VERSION="(not run)"
start_dockerd() {
# A private dockerd, a child of this script.
DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 /usr/sbin/dockerd --data-root "$TMP/data" --exec-root "$TMP/exec" \
  --pidfile "$TMP/docker.pid" -H "unix://$SOCK" --bridge=none --iptables=false --ip-masq=false \
  >"$TMP/dockerd.log" 2>&1 &
DOCKERD_PID=$!
deadline=$((SECONDS + 60))
until curl -sf --unix-socket "$SOCK" http://docker/_ping >/dev/null 2>&1; do
  kill -0 "$DOCKERD_PID" 2>/dev/null || { echo "dockerd exited:" >&2; tail -20 "$TMP/dockerd.log" >&2; exit 1; }
  [ $SECONDS -lt $deadline ] || { echo "dockerd did not answer within 60 s:" >&2; tail -20 "$TMP/dockerd.log" >&2; exit 1; }
  sleep 0.1
done
docker_ swarm init --advertise-addr 127.0.0.1 >/dev/null
mkdir -p "$TMP/rootfs/bin"
cp /bin/busybox "$TMP/rootfs/bin/busybox"
ln -s busybox "$TMP/rootfs/bin/sleep"
ln -s busybox "$TMP/rootfs/bin/sh"
tar -C "$TMP/rootfs" -c . | docker_ import - localbusybox:1 >/dev/null
DOCKER_VERSION=$(docker_ version --format '{{.Server.Version}}')
echo "dockerd $DOCKER_VERSION (pid $DOCKERD_PID) in $TMP; swarm on 127.0.0.1; image localbusybox:1 imported" >&2
}
has_side docker && start_dockerd

now_ns() { date +%s%N; }
RESULTS="$TMP/results.tsv"   # side (process, oci, docker) N run seconds
: >"$RESULTS"

run_docker() {
  local n=$1 run=$2 name="c$n-$2" start end body
  start=$(now_ns)
  # --stop-signal KILL: sleep as pid 1 ignores TERM, so removal would wait out the 10 s grace period.
  docker_ service create --detach --no-resolve-image --stop-signal KILL --replicas "$n" --name "$name" \
    localbusybox:1 sleep 3600 >/dev/null
  local deadline=$((SECONDS + 120))
  while :; do
    body=$(api "/services?status=true&filters=%7B%22name%22%3A%5B%22$name%22%5D%7D" || true)
    if [[ $body =~ \"RunningTasks\":([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -ge "$n" ]; then end=$(now_ns); break; fi
    [ $SECONDS -lt $deadline ] || { echo "docker: $name not converged in 120 s" >&2; exit 1; }
    sleep "$POLL_S"
  done
  printf 'docker\t%d\t%d\t%s\n' "$n" "$run" "$(awk -v d=$((end - start)) 'BEGIN{printf "%.4f", d / 1e9}')" >>"$RESULTS"
  docker_ service rm "$name" >/dev/null
  deadline=$((SECONDS + 120))
  until [ "$(api "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22com.docker.swarm.service.name%3D$name%22%5D%7D")" = "[]" ]; do
    [ $SECONDS -lt $deadline ] || { echo "docker: $name's containers not gone in 120 s" >&2; exit 1; }
    sleep 0.1
  done
}

mkdir -p "$TMP/ours"
run_ours() {
  local side=$1 n=$2 run=$3 arguments
  case "$side" in
    process) arguments=(--executor process) ;;
    oci) arguments=(--executor oci --runtime runc) ;;
    crun) arguments=(--executor oci --runtime crun) ;;
  esac
  [ "$TRACE" = 1 ] && [ "$side" != process ] && arguments+=(--trace "$PWD/Benchmarks/results/converge-trace-$side.txt")
  TMPDIR="$TMP/ours" "$BENCH" converge "${arguments[@]}" --replicas "$n" --runs 1 --poll-ms "$POLL_MS" \
    --json "$TMP/ours.json" >"$TMP/ours.out" 2>&1 &
  BENCH_PID=$!
  wait "$BENCH_PID" || { echo "cluster-bench ($side) failed:" >&2; cat "$TMP/ours.out" >&2; exit 1; }
  BENCH_PID=""
  printf '%s\t%d\t%d\t%s\n' "$side" "$n" "$run" "$(jq -r '.results[0].seconds_median' "$TMP/ours.json")" >>"$RESULTS"
}

run_side() {
  case "$1" in
    docker) run_docker "$2" "$3" ;;
    *) run_ours "$1" "$2" "$3" ;;
  esac
}

IFS=, read -r -a COUNTS <<<"$REPLICAS"
if [ "$TRACE" = 1 ]; then mkdir -p Benchmarks/results; for side in oci crun; do : >"Benchmarks/results/converge-trace-$side.txt"; done; fi
index=0
for run in $(seq 1 "$RUNS"); do
  for n in "${COUNTS[@]}"; do
    # Rotate who goes first (and second) so a drift in the machine's load hits all sides alike.
    count=${#SIDES[@]}
    first=$(((run + index) % count))
    for k in $(seq 0 $((count - 1))); do
      # Untimed: flush what the previous side left to write back (container removal, logs), so
      # it does not land on the next side's fsyncs.
      sync; sleep 1
      run_side "${SIDES[$(((first + k) % count))]}" "$n" "$run"
    done
    index=$((index + 1))
    line="run $run  N=$n "
    for side in "${SIDES[@]}"; do
      line+=" $side $(awk -v s="$side" -v n="$n" -v r="$run" '$1==s&&$2==n&&$3==r{print $4}' "$RESULTS") s"
    done
    echo "$line" >&2
  done
done

CRUN_VERSION=$(command -v crun >/dev/null && crun --version | head -1 || echo "(not installed)")
python3 - "$RESULTS" "$RUNS" "$POLL_MS" "$DOCKER_VERSION" "$(runc --version | head -1)" "$CRUN_VERSION" "$SIDES_OPTION" <<'EOF'
import json, os, platform, sys, datetime
path, runs, poll_ms, docker_version, runc_version, crun_version, sides = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7].split(",")
labels = {"process": "ours, process", "oci": "ours, OCI (runc)", "crun": "ours, OCI (crun)", "docker": "docker 20.10"}
data = {}
for line in open(path):
    side, n, run, seconds = line.split("\t")
    data.setdefault(int(n), {}).setdefault(side, []).append(float(seconds))
def stats(values):
    s = sorted(values)
    return {"median": s[len(s) // 2], "min": s[0], "max": s[-1], "runs": values}
def cell(st):
    return "%.3f (%.3f–%.3f)" % (st["median"], st["min"], st["max"])
rows = []
print("\nseconds to N/N running, median (min–max) of %d runs" % runs)
ours = [s for s in sides if s != "docker"]
header = "%5s  " % "N" + "  ".join("%-22s" % labels[s] for s in sides)
if "docker" in sides:
    header += "  " + "  ".join("%-14s" % ("docker/" + s) for s in ours)
print(header)
for n in sorted(data):
    st = {s: stats(data[n][s]) for s in sides if s in data[n]}
    line = "%5d  " % n + "  ".join("%-22s" % cell(st[s]) for s in sides if s in st)
    row = {"replicas": n}
    for s in st:
        row["%s_seconds" % s] = st[s]
    if "docker" in st:
        for s in ours:
            if s in st:
                ratio = st["docker"]["median"] / st[s]["median"]
                row["ratio_docker_over_%s" % s] = ratio
                line += "  %-14s" % ("%.2f×" % ratio)
    print(line)
    rows.append(row)
goal = next((r for r in rows if r["replicas"] == 50), None)
met = {}
if goal:
    for s in ours:
        if "%s_seconds" % s in goal:
            median = goal["%s_seconds" % s]["median"]
            met[s] = median <= 1
            print("goal: 50 replicas converge in ≤ 1 s: %s median %.3f s — %s" % (labels[s], median, "met" if median <= 1 else "NOT met"))
mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
doc = {
    "benchmark": "converge: service create --replicas N to N/N running on one node; sides %s, same run, interleaved (order rotating)" % ", ".join(labels[s] for s in sides),
    "runs": runs, "poll_ms": poll_ms,
    "sides": {
        "process": "cluster-bench converge --executor process --runs 1 per repetition: fresh one-node swarmctl manager, POST /services/create to N tasks running (host processes, no isolation)",
        "oci": "cluster-bench converge --executor oci --runtime runc --runs 1 per repetition: the same, each task a container run by %s (overlay root of the image `busybox` imported from /bin/busybox, namespaces, cgroup)" % runc_version,
        "crun": "the same with --runtime crun (%s); on a hybrid cgroup layout whose v2 tree owns controllers, those were mounted as v1 hierarchies for the run" % crun_version,
        "docker": "dockerd %s, --bridge=none --iptables=false --ip-masq=false, DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1; docker service create --detach --no-resolve-image --stop-signal KILL, from command start to ServiceStatus.RunningTasks == N; image imported from /bin/busybox" % docker_version,
    },
    "results": rows,
    "goal": {"converge_50_replicas_seconds_max": 1.0, "met": met},
    "machine": {"nproc": os.cpu_count(), "memory_bytes": mem, "kernel": platform.release(),
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "loadavg": open("/proc/loadavg").read().split()[:3]},
}
os.makedirs("Benchmarks/results", exist_ok=True)
out = os.environ.get("CONVERGE_JSON", "Benchmarks/results/converge.json")
json.dump(doc, open(out, "w"), indent=2, ensure_ascii=False)
print("wrote " + out)
EOF
