#!/usr/bin/env bash
# The real prometheus scraping a real memmgr-server and memmgr-worker.
#   tests/deploy/prometheus_scrape_test.sh SOURCE_DIR BUILD_DIR
# Starts memmgr-server (RocksDB in a temp dir, --swap_capacity=1024) and
# memmgr-worker serve swapping to it on 127.0.0.1 ephemeral ports, then
# /usr/bin/prometheus (Debian package) on a free 127.0.0.1 port with its own
# TSDB and a config derived from deploy/k8s/base/prometheus/prometheus.yml by
# prometheus_lib.js derive: the same jobs and relabeling, rule_files -> the
# repo's memmgr-rules.yml, intervals 1 s, and kubernetes_sd_configs replaced
# by static targets carrying the __meta_kubernetes_* labels pod discovery
# would give (namespace, pod, node, app.kubernetes.io/name, container port
# name, phase), plus decoys (port grpc, the other app, a finished pod) the
# relabeling must drop. Through the HTTP API it checks:
#   before traffic: both targets up with namespace/pod/node from the
#     relabeling, the decoys dropped, memmgr_swap_out_pages_total == 0;
#   after memmgrctl swap-test --pages=1000 --keep and a sandbox OOM-killed
#     over its memory limit: the counter == 1000, slots used == 1000,
#     memmgr_leases == 3 (the worker's swap device, its cluster
#     membership, and swap-test's), memmgr_cluster_members == 1,
#     memmgr:swap_slots_used:ratio == 1000/1024, the worker's recording rules
#     evaluate, MemmgrSwapCapacityHigh is pending (> 90 %),
#     memmgr_worker_oom_kills_total{scope="memcg"} == 1 and MemmgrOomKills
#     firing for the worker's pod, every rule group of the file loaded with
#     every rule healthy, no down alert.
# Everything is killed and removed on exit.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

deploy_args "$@"
PROMDIR="$SRC/deploy/k8s/base/prometheus"
RULES="$PROMDIR/memmgr-rules.yml"
PROMYML="$PROMDIR/prometheus.yml"
LIB="$SRC/tests/deploy/prometheus_lib.js"
# The worker service test's guest; "probe hog" touches 1 MiB after 1 MiB
# until its memory limit OOM-kills it.
HOG="$BUILD/tests/worker_service_testdata/worker_probe"
PROMETHEUS=${PROMETHEUS:-/usr/bin/prometheus}
PAGES=1000
CAPACITY=1024

need_tools node curl python3
[[ -x "$PROMETHEUS" ]] || fail "$PROMETHEUS is missing (Debian package prometheus; scripts/install-deps)"
need_built "$SERVER" "$WORKER" "$CTL" "$HOG"
need_node_modules @prometheus-io/lezer-promql yaml

deploy_tmpdir prometheus_scrape

start=$SECONDS
step() { echo "--- $* ($((SECONDS - start)) s)"; }

step "starting memmgr-server and memmgr-worker"
start_server "$T" --swap_capacity=$CAPACITY --lease_ttl=10m
# No sandbox runs on the worker, so it swaps nothing out: the server's
# swap-out counter is exactly what swap-test sends.
start_worker "$T" "$SERVER_PORT" --memory=64M --worker_id=prometheus-scrape-test

SERVER_POD=memmgr-server-0
WORKER_POD=memmgr-worker-t3st1
NODE=test-node-a
cat >"$T/expect_targets.json" <<EOF
{
  "memmgr-server": {"address": "127.0.0.1:$SERVER_MPORT", "namespace": "memmgr", "pod": "$SERVER_POD", "node": "$NODE"},
  "memmgr-worker": {"address": "127.0.0.1:$WORKER_MPORT", "namespace": "memmgr", "pod": "$WORKER_POD", "node": "$NODE"}
}
EOF
expect() { # PHASE
  cat <<EOF
{"phase": "$1", "timeout_s": 30, "targets": $(cat "$T/expect_targets.json"),
 "dropped_targets": 6, "swap_out_pages": $PAGES, "swap_capacity": $CAPACITY,
 "leases": 3, "cluster_members": 1, "worker_frames_used_ratio": 0,
 "oom_kills_memcg": 1}
EOF
}
expect before >"$T/expect_before.json"
expect after >"$T/expect_after.json"

step "deriving the config from $PROMYML"
node "$LIB" derive "$PROMYML" "$T/prometheus.yml" "$RULES" \
  "memmgr-server=127.0.0.1:$SERVER_MPORT,$SERVER_POD,$NODE" \
  "memmgr-worker=127.0.0.1:$WORKER_MPORT,$WORKER_POD,$NODE"
if command -v promtool >/dev/null; then
  promtool check config "$T/prometheus.yml" >"$T/check_config.out" 2>&1 ||
    { cat "$T/check_config.out" >&2; fail "promtool check config of the derived config"; }
fi

step "starting prometheus"
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
PROM_PID=
for attempt in 1 2 3 4 5; do
  PPORT=$(free_port)
  rm -rf "$T/tsdb"
  "$PROMETHEUS" --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
    --web.listen-address="127.0.0.1:$PPORT" >"$T/prometheus.log" 2>&1 &
  PROM_PID=$!
  PIDS+=("$PROM_PID")
  ready=0
  for ((i = 0; i < 150; i++)); do # 30 s
    if curl -sf "http://127.0.0.1:$PPORT/-/ready" >/dev/null 2>&1; then
      ready=1
      break
    fi
    kill -0 "$PROM_PID" 2>/dev/null || break
    sleep 0.2
  done
  [[ $ready -eq 1 ]] && break
  if kill -0 "$PROM_PID" 2>/dev/null; then
    fail "prometheus not ready after 30 s"
  fi
  grep -q 'address already in use' "$T/prometheus.log" ||
    { tail -20 "$T/prometheus.log" >&2; fail "prometheus exited at start"; }
  echo "port $PPORT taken meanwhile (attempt $attempt), retrying"
done
[[ $ready -eq 1 ]] || fail "prometheus could not bind a free port in 5 attempts"
BASE="http://127.0.0.1:$PPORT"

step "prometheus on port $PPORT: waiting for the first scrapes"
node "$LIB" scrape-check "$BASE" "$RULES" "$T/expect_before.json"

step "swap-test --pages=$PAGES --keep"
"$CTL" --server="127.0.0.1:$SERVER_PORT" swap-test --pages=$PAGES --keep --state_file="$T/swap.state" \
  >"$T/swap_test.log" 2>&1 || fail "memmgrctl swap-test failed"

step "a sandbox over its 8M memory limit (OOM kill, scope memcg)"
SB=$("$CTL" --worker="127.0.0.1:$WORKER_PORT" create --elf="$HOG" --memory=8M --start -- probe hog) ||
  fail "memmgrctl create failed"
"$CTL" --worker="127.0.0.1:$WORKER_PORT" wait --wait_timeout=30s "$SB" >"$T/hog_wait.log" 2>&1 ||
  { cat "$T/hog_wait.log" >&2; fail "memmgrctl wait $SB"; }
grep -q 'OOM_KILLED (memcg' "$T/hog_wait.log" || fail "the hog was not OOM-killed for its memory limit: $(cat "$T/hog_wait.log")"

step "checking the series"
node "$LIB" scrape-check "$BASE" "$RULES" "$T/expect_after.json"

# The processes must still be the ones started here (nothing restarted).
for pid in "$SERVER_PID" "$WORKER_PID" "$PROM_PID"; do
  kill -0 "$pid" 2>/dev/null || fail "process $pid exited during the test"
done
echo "PASS prometheus_scrape_test ($((SECONDS - start)) s)"
