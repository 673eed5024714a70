#!/usr/bin/env bash
# Registry acceptance (issue 7): Debian's docker-registry on 127.0.0.1, an OCI image built from
# busybox-static pushed with skopeo, pulled by `swarmctl image pull`; a layer whose bytes no longer
# match its digest is refused; ten simultaneous pulls of a missing image download it once.
# Usage: registry_acceptance.sh SWARMCTL_BINARY. Exit 0 on success; 77 when a tool is missing.
set -euo pipefail
BIN=$1
for tool in docker-registry skopeo /bin/busybox sha256sum python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install docker-registry skopeo busybox-static"; exit 77; }
done
TMP=$(mktemp -d /tmp/registry-acceptance-XXXXXX)
REG_PID=""
cleanup() {
  set +e
  if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
  # Overlay roots of containers still mounted if the script stopped early.
  grep " $TMP/" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$TMP/config.yml" <<YML
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $TMP/data
http:
  addr: 127.0.0.1:$PORT
YML
docker-registry serve "$TMP/config.yml" >"$TMP/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/v2/" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$PORT/v2/" >/dev/null || { echo "registry did not start"; cat "$TMP/registry.log"; exit 1; }

# An OCI image layout: one layer holding busybox-static and a few applet links.
mkdir -p "$TMP/rootfs/bin" "$TMP/oci/blobs/sha256"
cp /bin/busybox "$TMP/rootfs/bin/busybox"
for applet in sh echo cat sleep true; do ln -s busybox "$TMP/rootfs/bin/$applet"; done
tar -C "$TMP/rootfs" -cf "$TMP/layer.tar" .
blob() { local digest; digest=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$TMP/oci/blobs/sha256/$digest"; echo "$digest"; }
LAYER=$(blob "$TMP/layer.tar"); LAYER_SIZE=$(stat -c %s "$TMP/layer.tar")
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$LAYER" >"$TMP/config.json"
CONFIG=$(blob "$TMP/config.json"); CONFIG_SIZE=$(stat -c %s "$TMP/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
  "$CONFIG" "$CONFIG_SIZE" "$LAYER" "$LAYER_SIZE" >"$TMP/manifest.json"
MANIFEST=$(blob "$TMP/manifest.json"); MANIFEST_SIZE=$(stat -c %s "$TMP/manifest.json")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"1"}}]}' \
  "$MANIFEST" "$MANIFEST_SIZE" >"$TMP/oci/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$TMP/oci/oci-layout"
skopeo copy -q --dest-tls-verify=false "oci:$TMP/oci:1" "docker://127.0.0.1:$PORT/test/busybox:1"
echo "pushed sha256:$LAYER"

# 1. The node pulls it and lists it.
"$BIN" image pull "127.0.0.1:$PORT/test/busybox:1" --data-dir "$TMP/node1"
"$BIN" image ls --data-dir "$TMP/node1" | grep -q "test/busybox" || { echo "pulled image not listed"; exit 1; }
echo "pull ok"

# 2. A node with the OCI executor runs 10 replicas of the image it does not have: the ten tasks
#    start at once and the layer is downloaded once.
NODE_PID=""
stop_node() { if [ -n "$NODE_PID" ]; then kill "$NODE_PID" 2>/dev/null || true; wait "$NODE_PID" 2>/dev/null || true; fi; NODE_PID=""; }
trap 'stop_node; cleanup' EXIT
# skopeo compresses the layer on push, so count the registry's blob downloads (config + layer).
blob_gets() { grep -c '^127.0.0.1 .*"GET /v2/test/busybox/blobs/' "$TMP/registry.log" || true; }
BEFORE=$(blob_gets)
NODE_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" init --data-dir "$TMP/node2" --listen-addr "127.0.0.1:$NODE_PORT" --api-addr "unix:$TMP/node2.sock" --executor oci >/dev/null 2>"$TMP/node2.log" &
NODE_PID=$!
for _ in $(seq 1 100); do "$BIN" -H "unix:$TMP/node2.sock" info >/dev/null 2>&1 && break; sleep 0.1; done
"$BIN" -H "unix:$TMP/node2.sock" service create --detach --name pulled --replicas 10 "127.0.0.1:$PORT/test/busybox:1" sleep 60 >/dev/null
RUNNING=0
for _ in $(seq 1 300); do
  RUNNING=$("$BIN" -H "unix:$TMP/node2.sock" service ls | awk '$2=="pulled"{print $4}')
  [ "$RUNNING" = "10/10" ] && break
  sleep 0.1
done
[ "$RUNNING" = "10/10" ] || { echo "replicas: $RUNNING"; "$BIN" -H "unix:$TMP/node2.sock" service ps pulled --no-trunc | head; tail -20 "$TMP/node2.log"; exit 1; }
AFTER=$(blob_gets)
[ $((AFTER - BEFORE)) -eq 2 ] || { echo "10 tasks made $((AFTER - BEFORE)) blob downloads (one config and one layer expected)"; exit 1; }
grep -q "executor: OCIExecutor" "$TMP/node2.log" || { echo "the node did not use the OCI executor"; exit 1; }
echo "10/10 running with the OCI executor; config and layer downloaded once each"
"$BIN" -H "unix:$TMP/node2.sock" service rm pulled >/dev/null
# The agent stops and removes the containers (and unmounts their roots) before the node stops.
for _ in $(seq 1 300); do grep -q " $TMP/node2/" /proc/mounts || break; sleep 0.1; done
grep -q " $TMP/node2/" /proc/mounts && { echo "containers were not removed after service rm"; exit 1; }
stop_node

# 3. A layer whose stored bytes no longer match its digest is refused, and nothing is kept.
DATA=$(find "$TMP/data" -path "*blobs/sha256/*/data" -size +100k | head -1)
printf 'tampered' | dd of="$DATA" bs=1 seek=1000 conv=notrunc status=none
if "$BIN" image pull "127.0.0.1:$PORT/test/busybox:1" --data-dir "$TMP/node3" >"$TMP/tampered.out" 2>&1; then
  echo "a tampered layer was accepted"; exit 1
fi
grep -qi "sha256\|digest\|tamper" "$TMP/tampered.out" || { echo "unclear error:"; cat "$TMP/tampered.out"; exit 1; }
"$BIN" image ls --data-dir "$TMP/node3" 2>/dev/null | grep -q "test/busybox" && { echo "tampered image kept"; exit 1; }
echo "tampered layer refused: $(head -c 300 "$TMP/tampered.out")"
echo "registry acceptance: ok"
exit 0
