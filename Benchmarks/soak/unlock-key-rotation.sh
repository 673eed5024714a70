#!/usr/bin/env bash
# Autolock unlock-key rotation under a running register workload (issue 17's acceptance), not in CI:
#   bash Benchmarks/soak/unlock-key-rotation.sh [SWARMCTL_BINARY]
# Starts a 3-manager, 2-worker testbed, turns autolock on, runs `chaos run --workload register`
# (no faults) for 40 s and rotates the unlock key three times while it runs (10, 20, 30 s in), then
# checks: the history is linearizable with 0 anomalies, and every manager's KEK is wrapped under
# the last key (a locked file that changed at each rotation, no plaintext KEK left). Everything it
# starts is stopped and its directory removed.
set -euo pipefail
S=${1:-.build/debug/swarmctl}
DIR=$(mktemp -d /tmp/swarmctl-unlock-rotation-XXXXXX)
trap '"$S" testbed down --dir "$DIR/tb" >/dev/null 2>&1 || true; rm -rf --one-file-system "$DIR"' EXIT
"$S" testbed up --managers 3 --workers 2 --dir "$DIR/tb" >/dev/null
set -a; . "$DIR/tb/testbed.env"; set +a
"$S" swarm update --autolock=true > "$DIR/autolock.txt"
first=$(grep -o 'SWMKEY-1-[0-9A-F]*' "$DIR/autolock.txt")
echo "autolock on (key ${first:0:14}…)"
managers=$(for node in $TESTBED_NODES; do if [ -d "$DIR/tb/$node/keys" ]; then echo "$node"; fi; done)
wrapped() {
  for node in $managers; do
    f="$DIR/tb/$node/keys/raft-kek.locked"
    if [ -f "$f" ]; then sha256sum "$f" | cut -c1-16; else echo missing; fi
  done | tr '\n' ' '
}
for _ in $(seq 100); do [[ "$(wrapped)" != *missing* ]] && break; sleep 0.1; done
echo "wrapped KEKs: $(wrapped)"
: > "$DIR/schedule"
"$S" chaos run --schedule "$DIR/schedule" --duration 40s --workload register --out "$DIR/out" --dir "$DIR/tb" > "$DIR/chaos.log" 2>&1 &
chaos=$!
key=$first
for round in 1 2 3; do
  sleep 10
  before=$(wrapped)
  start=$(date +%s.%N)
  key=$("$S" swarm unlock-key --rotate -q)
  for _ in $(seq 100); do [ "$(wrapped)" != "$before" ] && [[ "$(wrapped)" != *missing* ]] && break; sleep 0.1; done
  echo "rotation $round: key ${key:0:14}…, every manager rewrapped in $(python3 -c "print(round($(date +%s.%N) - $start, 2))") s: $(wrapped)"
done
status=0
wait "$chaos" || status=$?
grep -E "PASS|FAIL|anomalies|operations" "$DIR/chaos.log" || true
[ "$status" -eq 0 ] || { echo "FAIL: chaos run exited $status"; cat "$DIR/chaos.log"; exit 1; }
[ "$("$S" swarm unlock-key -q)" = "$key" ] || { echo "FAIL: the cluster's key is not the last rotated one"; exit 1; }
for node in $managers; do
  [ -f "$DIR/tb/$node/keys/raft-kek.locked" ] && [ ! -f "$DIR/tb/$node/keys/raft-kek" ] \
    && echo "$node: KEK wrapped, no plaintext KEK" || { echo "FAIL: $node's KEK is not wrapped"; exit 1; }
done
echo PASS
