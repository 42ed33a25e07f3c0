#!/usr/bin/env bash
# The rendered Kubernetes flags run the real binaries.
#   tests/deploy/k8s_flags_test.sh SOURCE_DIR BUILD_DIR
# For each of base, overlays/dev and overlays/prod (kubectl kustomize):
#  - k8s_extract.js takes the server StatefulSet's and the worker DaemonSet's
#    command + args and the flag files from the rendered ConfigMaps (through
#    the pods' volume mounts), expands $(VAR) with the downward-API values the
#    kubelet would give (limits.memory / limits.cpu of the manifest, a node
#    name), and rewrites only what is environment-specific: listen addresses
#    -> 127.0.0.1:0 (+ --port_file / --metrics_port_file), --data_dir -> a
#    temp dir, --server -> the memmgr-server this test started;
#  - every flag name used must be in the binary's own --help(full);
#  - memmgr-server and memmgr-worker serve start with them, answer the gRPC
#    health service (what the kubelet's grpc probe asks) with SERVING, and
#    show the manifest's values in effect (swap capacity, pool limit, --sync,
#    frame pool = --memory_percent of the container limit, executors = cpu
#    limit, the worker's lease registered under the node name);
#  - SIGTERM stops each within the pod's terminationGracePeriodSeconds, exit
#    0, "stopped cleanly".
# base also restarts the server under a running worker (the upgrade
# procedure: the lease survives, the worker stays SERVING), and shows once
# that a flag the binaries do not know fails both the --help check and the
# start.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

deploy_args "$@"
K8S="$SRC/deploy/k8s"
TESTS="$SRC/tests/deploy"

need_built "$SERVER" "$WORKER" "$CTL"
need_tools kubectl node curl

# KILL on exit: what SIGTERM does is under test here.
deploy_tmpdir k8s_flags KILL
start=$SECONDS

"$SERVER" --helpfull >"$T/server.help" 2>&1 || true
"$WORKER" serve --help >"$T/worker.help" 2>&1 || fail "memmgr-worker serve --help failed"
grep -q -- '--data_dir' "$T/server.help" || fail "memmgr-server --helpfull lists no --data_dir: $(head -3 "$T/server.help")"
grep -q -- '--listen' "$T/worker.help" || fail "memmgr-worker serve --help lists no --listen"

# Every flag name in FLAGS_FILE must appear as --NAME in HELP. Prints the
# unknown ones; returns 1 if there are any.
flags_known() { # HELP FLAGS_FILE
  local name bad=()
  while read -r name; do
    [[ -n $name ]] || continue
    grep -Eq -- "(^|[[:space:]])--${name}([^A-Za-z0-9_]|\$)" "$1" || bad+=("--$name")
  done <"$2"
  if [[ ${#bad[@]} -gt 0 ]]; then
    echo "${bad[*]}"
    return 1
  fi
}

effective() { # DIR NAME -> the flag's value after rewriting
  local line
  line=$(grep -m1 "^$2=" "$1/effective") || fail "$1: flag --$2 not set by the manifest"
  echo "${line#*=}"
}

LAST_PID=
launch() { # BIN ARGV_FILE LOG
  local argv
  mapfile -t argv <"$2"
  [[ $(basename "${argv[0]}") == "$(basename "$1")" ]] ||
    fail "the manifest runs ${argv[0]}, expected $(basename "$1")"
  "$1" "${argv[@]:1}" >"$3" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

stop_clean() { # PID GRACE_S LOG LABEL
  local i rc=0
  kill -TERM "$1"
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$1" 2>/dev/null; then
    cat "$3" >&2
    fail "$4 did not stop within terminationGracePeriodSeconds ($2 s) after SIGTERM"
  fi
  wait "$1" || rc=$?
  [[ $rc -eq 0 ]] || { cat "$3" >&2; fail "$4 exited $rc after SIGTERM"; }
  grep -q "stopped cleanly" "$3" || { cat "$3" >&2; fail "$4 did not log 'stopped cleanly'"; }
}

health() { # HOST:PORT LABEL
  local out
  out=$(node "$TESTS/k8s_grpc_health.js" "$1") || fail "$2: gRPC health check: $out"
  [[ $out == SERVING ]] || fail "$2: gRPC health says $out"
}

metric() { # PORT NAME -> value of the series NAME (exact, labels included)
  local body
  body=$(curl -sf --max-time 5 "http://127.0.0.1:$1/metrics") || fail "GET /metrics on port $1 failed"
  awk -v n="$2" '$1 == n { print $2; exit }' <<<"$body"
}

json_field() { # JSON_FILE EXPR(on o)
  node -e 'const o = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(String(eval(process.argv[2])));' "$1" "$2"
}

bytes_of() { # ByteSize value -> bytes (the server's own rules)
  node -e 'console.log(require(process.argv[1]).parseByteSize(process.argv[2]))' "$TESTS/k8s_lib.js" "$1"
}

# serving BIN NAME LABEL: starts BIN with the manifest's D/NAME/argv (output
# D/NAME.log), waits for D/NAME.port and D/NAME.mport (20 s each) and asks
# its gRPC health service. Sets LAST_PID, PORT and MPORT.
serving() {
  launch "$1" "$D/$2/argv" "$D/$2.log"
  wait_file "$D/$2.port" "$LAST_PID" "$3" "$D/$2.log" 20
  wait_file "$D/$2.mport" "$LAST_PID" "$3 (metrics)" "$D/$2.log" 20
  PORT=$(cat "$D/$2.port")
  MPORT=$(cat "$D/$2.mport")
  health "127.0.0.1:$PORT" "$3"
}

extract_server() { # RENDER DIR [extra k8s_extract options]
  local r=$1 d=$2
  shift 2
  node "$TESTS/k8s_extract.js" "$r" StatefulSet memmgr-server "$d/server" --node=unused \
    --set=listen="${SERVER_LISTEN:-127.0.0.1:0}" --set=metrics_listen=127.0.0.1:0 --set=data_dir="$d/data" \
    --add=port_file="$d/server.port" --add=metrics_port_file="$d/server.mport" "$@"
}
extract_worker() { # RENDER DIR NODE SERVER [extra options]
  local r=$1 d=$2 node=$3 server=$4
  shift 4
  node "$TESTS/k8s_extract.js" "$r" DaemonSet memmgr-worker "$d/worker" --node="$node" \
    --set=listen=127.0.0.1:0 --set=metrics_listen=127.0.0.1:0 --set=server="$server" \
    --add=port_file="$d/worker.port" --add=metrics_port_file="$d/worker.mport" "$@"
}

for r in base dev prod; do
  case $r in
    base) dir="$K8S/base" ;;
    *) dir="$K8S/overlays/$r" ;;
  esac
  D="$T/$r"
  mkdir -p "$D"
  kubectl kustomize "$dir" >"$D/render.yaml" || fail "kubectl kustomize $dir failed"

  # ---- server
  extract_server "$D/render.yaml" "$D" || fail "$r: cannot extract the server's command line"
  unknown=$(flags_known "$T/server.help" "$D/server/flags") ||
    fail "$r: memmgr-server does not know $unknown (used by the manifest)"
  serving "$SERVER" server "$r memmgr-server"
  spid=$LAST_PID sport=$PORT smport=$MPORT
  "$CTL" --server="127.0.0.1:$sport" -o json stats >"$D/stats.json" || fail "$r: memmgrctl stats failed"
  want_cap=$(effective "$D/server" swap_capacity)
  [[ $(json_field "$D/stats.json" o.slots_capacity) == "$want_cap" ]] ||
    fail "$r: server swap capacity $(json_field "$D/stats.json" o.slots_capacity), manifest --swap_capacity=$want_cap"
  want_pool=$(bytes_of "$(effective "$D/server" zswap_max_pool_bytes)")
  [[ $(json_field "$D/stats.json" o.zswap_pool_limit_bytes) == "$want_pool" ]] ||
    fail "$r: server pool limit $(json_field "$D/stats.json" o.zswap_pool_limit_bytes), manifest --zswap_max_pool_bytes=$want_pool bytes"
  want_sync=false
  [[ $(effective "$D/server" sync) == true ]] && want_sync=true
  [[ $(json_field "$D/stats.json" o.sync_writes) == "$want_sync" ]] ||
    fail "$r: server sync_writes $(json_field "$D/stats.json" o.sync_writes), manifest --sync=$want_sync"
  [[ $(metric "$smport" memmgr_swap_slots_capacity) == "$want_cap" ]] ||
    fail "$r: /metrics memmgr_swap_slots_capacity is not $want_cap"
  echo "ok $r memmgr-server: SERVING, swap_capacity $want_cap, pool $want_pool bytes, sync $want_sync"

  # ---- worker
  node_name="k8s-test-$r-node-1"
  extract_worker "$D/render.yaml" "$D" "$node_name" "127.0.0.1:$sport" || fail "$r: cannot extract the worker's command line"
  unknown=$(flags_known "$T/worker.help" "$D/worker/flags") ||
    fail "$r: memmgr-worker serve does not know $unknown (used by the manifest)"
  serving "$WORKER" worker "$r memmgr-worker"
  wpid=$LAST_PID wport=$PORT wmport=$MPORT
  mem=$(grep -m1 '^MEMMGR_CONTAINER_MEMORY=' "$D/worker/env" | cut -d= -f2)
  cpus=$(grep -m1 '^MEMMGR_CPU_LIMIT=' "$D/worker/env" | cut -d= -f2)
  pct=$(effective "$D/worker" memory_percent)
  [[ $(effective "$D/worker" container_memory) == "$mem" && -n $mem ]] ||
    fail "$r: --container_memory is not the downward-API limits.memory ($mem)"
  frames=$(metric "$wmport" memmgr_worker_frames_capacity)
  [[ -n $frames ]] || fail "$r: worker /metrics has no memmgr_worker_frames_capacity"
  want_frames=$((mem * pct / 100 / 4096))
  # The pool is --memory_percent of the container limit (within 1 MiB of rounding).
  diff=$((frames - want_frames))
  [[ ${diff#-} -le 256 ]] ||
    fail "$r: worker frame pool $frames frames, want $pct% of $mem bytes = $want_frames frames"
  [[ $(metric "$wmport" memmgr_worker_executors) == "$cpus" ]] ||
    fail "$r: worker executors $(metric "$wmport" memmgr_worker_executors), want the cpu limit $cpus"
  [[ $(metric "$wmport" 'memmgr_worker_swap_info{mode="server"}') == 1 ]] ||
    fail "$r: the worker does not swap to memmgr-server (memmgr_worker_swap_info)"
  "$CTL" --server="127.0.0.1:$sport" -o json leases >"$D/leases.json" || fail "$r: memmgrctl leases failed"
  [[ $(json_field "$D/leases.json" "o.leases.filter((l) => l.node_name === '$node_name' && Number(l.frame_capacity_pages) === $frames).length") == 1 ]] ||
    fail "$r: no lease of worker $node_name with $frames frames on the server: $(cat "$D/leases.json")"
  echo "ok $r memmgr-worker: SERVING, pool $frames frames = $pct% of $mem bytes, $cpus executors, lease as $node_name"

  if [[ $r == base ]]; then
    # Upgrade/restart: the server restarts on the same data and address while
    # the worker keeps running; the lease is kept (rebuilt from RocksDB).
    stop_clean "$spid" "$(cat "$D/server/grace")" "$D/server.log" "$r memmgr-server (restart)"
    rm -f "$D/server.port" "$D/server.mport"
    SERVER_LISTEN="127.0.0.1:$sport" extract_server "$D/render.yaml" "$D" || fail "re-extract"
    launch "$SERVER" "$D/server/argv" "$D/server2.log"
    spid=$LAST_PID
    wait_file "$D/server.port" "$spid" "$r memmgr-server (restarted)" "$D/server2.log" 20
    health "127.0.0.1:$sport" "$r memmgr-server (restarted)"
    "$CTL" --server="127.0.0.1:$sport" -o json leases >"$D/leases2.json" || fail "memmgrctl leases after restart failed"
    [[ $(json_field "$D/leases2.json" "o.leases.filter((l) => l.node_name === '$node_name').length") == 1 ]] ||
      fail "the worker's lease did not survive the server restart: $(cat "$D/leases2.json")"
    kill -0 "$wpid" 2>/dev/null || fail "the worker died while the server restarted"
    health "127.0.0.1:$wport" "$r memmgr-worker (after the server restart)"
    echo "ok $r server restart under a running worker: lease kept, worker SERVING"
    mv "$D/server2.log" "$D/server.log"
  fi

  stop_clean "$wpid" "$(cat "$D/worker/grace")" "$D/worker.log" "$r memmgr-worker"
  stop_clean "$spid" "$(cat "$D/server/grace")" "$D/server.log" "$r memmgr-server"
  echo "ok $r: both stopped cleanly on SIGTERM within terminationGracePeriodSeconds"
done

# ---- once: a flag the binaries do not know fails the check and the start.
# BIN (memmgr-server or memmgr-worker) started from D/NAME/argv must exit
# within 10 s, non-zero (sets rc), before writing D/NAME.port, and its log
# D/NAME.log must name the flag.
refuses_unknown_flag() { # BIN NAME
  local bin=$1 name=$2 label pid i
  label=$(basename "$bin")
  launch "$bin" "$D/$name/argv" "$D/$name.log"
  pid=$LAST_PID
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && fail "$label kept running with an unknown flag in its flag file"
  rc=0
  wait "$pid" || rc=$?
  [[ $rc -ne 0 && ! -s $D/$name.port ]] || fail "$label accepted an unknown flag (exit $rc)"
  grep -q no_such_flag_for_k8s_test "$D/$name.log" || fail "$label's error does not name the unknown flag"
}
D="$T/unknown"
mkdir -p "$D"
extract_server "$T/base/render.yaml" "$D" --append_to_flagfile=--no_such_flag_for_k8s_test=1 || fail "extract"
grep -q '^--no_such_flag_for_k8s_test=1$' "$D/server/server.flags" || fail "the unknown flag was not added"
flags_known "$T/server.help" "$D/server/flags" >/dev/null && fail "the --help check accepted --no_such_flag_for_k8s_test"
refuses_unknown_flag "$SERVER" server
extract_worker "$T/base/render.yaml" "$D" k8s-test-unknown 127.0.0.1:1 --append_to_flagfile=--no_such_flag_for_k8s_test=1 || fail "extract"
flags_known "$T/worker.help" "$D/worker/flags" >/dev/null && fail "the --help check accepted --no_such_flag_for_k8s_test (worker)"
refuses_unknown_flag "$WORKER" worker
echo "ok an unknown flag in the flag files fails the --help check and both binaries' start (exit $rc: $(head -1 "$D/worker.log"))"

echo "k8s_flags_test: all checks passed in $((SECONDS - start)) s"
