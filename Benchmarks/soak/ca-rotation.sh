#!/usr/bin/env bash
# Root CA rotation under a running register workload (issue 14's acceptance), not in CI:
#   bash Benchmarks/soak/ca-rotation.sh [SWARMCTL_BINARY]
# Starts a 3-manager, 2-worker testbed with a 4-replica service, runs `chaos run --workload register`
# (no faults) for 40 s, rotates the root CA 10 s in, then checks: the history is linearizable with 0
# anomalies, the service's tasks are the same ones (none restarted), and every node's certificate
# verifies against the new root. Everything it starts is stopped and its directory removed.
set -euo pipefail
S=${1:-.build/debug/swarmctl}
DIR=$(mktemp -d /tmp/swarmctl-ca-rotation-XXXXXX)
trap '"$S" testbed down --dir "$DIR/tb" >/dev/null 2>&1 || true; rm -rf --one-file-system "$DIR"' EXIT
"$S" testbed up --managers 3 --workers 2 --dir "$DIR/tb" >/dev/null
set -a; . "$DIR/tb/testbed.env"; set +a
"$S" service create --name web --replicas 4 --update-monitor 1s busybox sleep 100000 >/dev/null
tasks() { "$S" service ps web --format json | python3 -c 'import json,sys; print(" ".join(sorted(t["ID"] for t in json.load(sys.stdin) if t["Status"]["State"] == "running")))'; }
before=$(tasks)
: > "$DIR/schedule"
"$S" chaos run --schedule "$DIR/schedule" --duration 40s --workload register --out "$DIR/out" --dir "$DIR/tb" > "$DIR/chaos.log" 2>&1 &
chaos=$!
sleep 10
start=$(date +%s.%N)
"$S" ca --rotate -q > "$DIR/rotated.pem"
echo "rotation finished in $(python3 -c "print(round($(date +%s.%N) - $start, 2))") s"
status=0
wait "$chaos" || status=$?
grep -E "PASS|FAIL|anomalies" "$DIR/chaos.log"
[ "$status" -eq 0 ] || { echo "FAIL: chaos run exited $status"; exit 1; }
after=$(tasks)
[ "$before" = "$after" ] && echo "tasks unchanged: $after" || { echo "FAIL: tasks changed: $before -> $after"; exit 1; }
"$S" ca -q > "$DIR/root.pem"
for node in $TESTBED_NODES; do
  openssl verify -CAfile "$DIR/root.pem" "$DIR/tb/$node/certificates/node-cert.pem" >/dev/null \
    && echo "$node: certificate issued by the new root" || { echo "FAIL: $node's certificate is not from the new root"; exit 1; }
done
echo PASS
