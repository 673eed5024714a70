#!/usr/bin/env bash
# swarmctl side by side with a 3-member etcd 3.4 cluster (and dockerd for memory), on 127.0.0.1.
#
#   bash Benchmarks/compare/run.sh writes   [--clients 1,16,64] [--seconds 5] [--runs 5] [--value-size 128]
#   bash Benchmarks/compare/run.sh failover [--kills 20] [--stops 10] [--attempt-timeout 250]
#   bash Benchmarks/compare/run.sh memory   [--idle 15] [--samples 5] [--services 100] [--replicas 100]
#   bash Benchmarks/compare/run.sh writes-tls [--clients 16,64] [--seconds 5] [--runs 5]
#        (no etcd: TLS on the cluster port vs the same binary with the benchmark-only
#         SWARMCTL_BENCH_INSECURE_CLUSTER=1; writes Benchmarks/results/writes-tls.json)
#
# Installs etcd (Debian etcd-server/etcd-client) if missing, and docker.io for `memory` (dockerd is
# skipped with a note if it does not install or start), builds swarmctl and compare-bench in
# release mode under the shared build lock, runs the benchmark, and writes
# Benchmarks/results/{writes,failover-etcd,memory}.json. Every process it starts is ended by pid
# (members run under `setpriv --pdeathsig KILL`, so they also die with the benchmark) and its
# temporary directory is removed, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/../.."
. Benchmarks/compare/common.sh
WHAT=${1:-}
case "$WHAT" in
  writes|failover|memory|writes-tls) shift ;;
  *) echo "usage: bash Benchmarks/compare/run.sh writes|failover|memory|writes-tls [options]" >&2; exit 2 ;;
esac

if [ "$WHAT" != writes-tls ]; then
  command -v etcd >/dev/null && command -v etcdctl >/dev/null || apt_install etcd-server etcd-client
fi
if [ "$WHAT" = memory ] && ! command -v dockerd >/dev/null; then
  echo "installing docker.io for the dockerd idle figure" >&2
  apt-get install -y docker.io >/dev/null 2>&1 || echo "docker.io did not install: dockerd will be skipped" >&2
fi

# 2 cores are shared with other builders: builds take the shared lock. The Swift runtime and
# Foundation are linked statically, as a release binary is shipped (see README: about 4.5 MB less
# RSS per node than loading them as shared libraries).
for product in swarmctl compare-bench; do
  flock /tmp/swift-build.lock swift build -c release --static-swift-stdlib --product "$product" 2>&1 | grep -E 'error|warning: unre|Compiling|Build' | tail -3
done

TMP=$(mktemp -d /tmp/compare-bench-XXXXXX)
BENCH_PID=""
cleanup() {
  if [ -n "$BENCH_PID" ] && kill -0 "$BENCH_PID" 2>/dev/null; then kill "$BENCH_PID" 2>/dev/null || true; fi
  [ -n "$BENCH_PID" ] && wait "$BENCH_PID" 2>/dev/null || true
  sleep 0.5
  # Anything dockerd mounted under our directory goes first, then the directory itself.
  grep -o " $TMP[^ ]*" /proc/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf --one-file-system "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

.build/release/compare-bench "$WHAT" --tmp "$TMP" "$@" &
BENCH_PID=$!
wait "$BENCH_PID"
