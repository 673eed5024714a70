#!/usr/bin/env bash
# Certificate renewal (and a root CA rotation) under a running register workload (issue 14's
# acceptance), not in CI:
#   bash Benchmarks/soak/cert-renewal.sh [SWARMCTL_BINARY]        (DURATION=150 by default, seconds)
# Starts a 3-manager, 2-worker testbed (its nodes run with --enable-chaos: a test cluster, where
# node certificates may last as little as a minute) with a 4-replica service, sets node
# certificates to 1 minute (`ca --cert-expiry 1m`), runs `chaos run --workload register` (no faults)
# for DURATION seconds and rotates the root CA 10 s in, which moves every node to a 1-minute
# certificate from the new root; from then on each node renews at 50-80% of its certificate's
# life (every 30-48 s). Checks at the end: the history is linearizable with 0 anomalies, the
# service's tasks are the same ones (none restarted), every node renewed at least twice after
# the rotation (log lines "the certificate reached its renewal time"), and every node's
# current certificate is unexpired and verifies against the new root. Everything it starts is
# stopped and its directory removed.
set -euo pipefail
S=${1:-.build/debug/swarmctl}
DURATION=${DURATION:-150}
DIR=$(mktemp -d /tmp/swarmctl-cert-renewal-XXXXXX)
trap '"$S" testbed down --dir "$DIR/tb" >/dev/null 2>&1 || true; rm -rf --one-file-system "$DIR"' EXIT
"$S" testbed up --managers 3 --workers 2 --dir "$DIR/tb" >/dev/null
set -a; . "$DIR/tb/testbed.env"; set +a
"$S" service create --name web --replicas 4 --update-monitor 1s busybox sleep 100000 >/dev/null
tasks() { "$S" service ps web --format json | python3 -c 'import json,sys; print(" ".join(sorted(t["ID"] for t in json.load(sys.stdin) if t["Status"]["State"] == "running")))'; }
renewals() { grep -c "the certificate reached its renewal time" "$DIR/tb/$1.log" || true; }
before=$(tasks)
"$S" ca --cert-expiry 1m -q >/dev/null
: > "$DIR/schedule"
"$S" chaos run --schedule "$DIR/schedule" --duration "${DURATION}s" --workload register --out "$DIR/out" --dir "$DIR/tb" > "$DIR/chaos.log" 2>&1 &
chaos=$!
sleep 10
start=$(date +%s.%N)
"$S" ca --rotate -q > "$DIR/rotated.pem"
echo "rotation finished in $(python3 -c "print(round($(date +%s.%N) - $start, 2))") s"
declare -A at_rotation
for node in $TESTBED_NODES; do at_rotation[$node]=$(renewals "$node"); done
status=0
wait "$chaos" || status=$?
grep -E "PASS|FAIL|anomalies" "$DIR/chaos.log"
[ "$status" -eq 0 ] || { echo "FAIL: chaos run exited $status"; exit 1; }
after=$(tasks)
[ "$before" = "$after" ] && echo "tasks unchanged: $after" || { echo "FAIL: tasks changed: $before -> $after"; exit 1; }
"$S" ca -q > "$DIR/root.pem"
failed=0
for node in $TESTBED_NODES; do
  cert="$DIR/tb/$node/certificates/node-cert.pem"
  count=$(( $(renewals "$node") - ${at_rotation[$node]} ))
  serial=$(openssl x509 -in "$cert" -noout -serial | cut -d= -f2)
  end=$(openssl x509 -in "$cert" -noout -enddate | cut -d= -f2)
  if ! openssl verify -CAfile "$DIR/root.pem" "$cert" >/dev/null 2>&1; then
    echo "FAIL: $node's certificate (serial $serial) does not verify against the new root now"; failed=1
  elif [ "$count" -lt 2 ]; then
    echo "FAIL: $node renewed $count times after the rotation (expected at least 2)"; failed=1
  else
    echo "$node: renewed $count times after the rotation; now serial $serial, valid until $end, from the new root"
  fi
done
[ "$failed" -eq 0 ] || exit 1
echo PASS
