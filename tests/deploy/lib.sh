# shellcheck shell=bash
# What the tests/deploy/*_test.sh scripts share. Sourced, not executed; each
# script runs under set -euo pipefail and starts with
#   # shellcheck source-path=SCRIPTDIR source=lib.sh
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   deploy_args "$@"

# deploy_args "$@": the invocation NAME_test.sh SOURCE_DIR BUILD_DIR (exit 2
# with a usage line otherwise). Sets SRC and BUILD (absolute) and SERVER,
# WORKER, CTL: memmgr-server, memmgr-worker and memmgrctl of BUILD.
# shellcheck disable=SC2034  # the variables are for the sourcing script
deploy_args() {
  if [[ $# -ne 2 ]]; then
    echo "usage: $0 SOURCE_DIR BUILD_DIR" >&2
    exit 2
  fi
  SRC=$(cd "$1" && pwd)
  BUILD=$(cd "$2" && pwd)
  SERVER=$BUILD/server/memmgr-server
  WORKER=$BUILD/worker/memmgr-worker
  CTL=$BUILD/client/memmgrctl
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# need_tools TOOL...: each is on PATH.
need_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/install-deps installs it)"
  done
}

# need_built FILE...: each is an executable of the build.
need_built() {
  local b
  for b in "$@"; do
    [[ -x $b ]] || fail "$b is not built"
  done
}

# need_node_modules MODULE...: each loads (require) from tests/deploy/node_modules.
need_node_modules() {
  local missing
  missing=$(cd "$SRC/tests/deploy" && node -e '
    for (const m of process.argv.slice(1)) {
      try { require(m); } catch (e) { console.log(m); }
    }' "$@") || fail "node could not check tests/deploy/node_modules"
  [[ -z $missing ]] ||
    fail "tests/deploy/node_modules lacks ${missing//$'\n'/, } (package.json; scripts/install-deps runs npm ci in tests/deploy)"
}

# deploy_tmpdir NAME [SIGNAL]: makes the temp dir T (${TMPDIR:-/tmp}/NAME.XXXXXX)
# and an empty PIDS, and sets the EXIT trap deploy_cleanup: it sends SIGNAL
# (default TERM) to every pid in PIDS and waits for them, shows the tail of
# each T/*.log if the script is failing, and removes T (keeps it and says so
# if KEEP_TMP is set). KILL is for a test of the daemons' own SIGTERM
# handling that starts them itself: it would not reach past start_daemon's
# timeout to the daemon.
deploy_tmpdir() {
  T=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  CLEANUP_SIGNAL=${2:-TERM}
  PIDS=()
  trap deploy_cleanup EXIT
}

deploy_cleanup() {
  local rc=$? pid log
  for pid in "${PIDS[@]}"; do
    kill -s "$CLEANUP_SIGNAL" "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ $rc -ne 0 ]]; then
    for log in "$T"/*.log; do
      if [[ -f $log ]]; then
        echo "--- tail of $(basename "$log")" >&2
        tail -15 "$log" >&2
      fi
    done
  fi
  if [[ -n ${KEEP_TMP:-} ]]; then echo "kept $T"; else rm -rf "$T"; fi
}

# wait_file FILE PID WHAT LOG [SECONDS]: until FILE (a port file) is
# non-empty, for at most SECONDS (default 10). Shows LOG and fails if PID
# exits first or the time runs out.
wait_file() {
  local i s=${5:-10}
  for ((i = 0; i < s * 10; i++)); do
    [[ -s $1 ]] && return 0
    if ! kill -0 "$2" 2>/dev/null; then
      cat "$4" >&2
      fail "$3 exited before it was ready (no $1)"
    fi
    sleep 0.1
  done
  cat "$4" >&2
  fail "$3 not ready after $s s (no $1)"
}

# start_server DIR [FLAG...]: memmgr-server with RocksDB in DIR/server-data
# and the FLAGs, through start_daemon (DIR/server.{log,port,mport}). Sets
# SERVER_PID (in PIDS), SERVER_PORT and SERVER_MPORT.
# shellcheck disable=SC2034  # the ports are for the sourcing script
start_server() {
  local dir=$1
  shift
  start_daemon "$dir" server "$SERVER" --data_dir="$dir/server-data" "$@"
  SERVER_PID=$DAEMON_PID SERVER_PORT=$DAEMON_PORT SERVER_MPORT=$DAEMON_MPORT
}

# start_worker DIR SERVER_PORT [FLAG...]: memmgr-worker serve swapping to the
# memmgr-server on 127.0.0.1:SERVER_PORT, with the FLAGs, through start_daemon
# (DIR/worker.{log,port,mport}). Sets WORKER_PID, WORKER_PORT, WORKER_MPORT.
# shellcheck disable=SC2034  # the ports are for the sourcing script
start_worker() {
  local dir=$1 server_port=$2
  shift 2
  start_daemon "$dir" worker "$WORKER" serve --server="127.0.0.1:$server_port" "$@"
  WORKER_PID=$DAEMON_PID WORKER_PORT=$DAEMON_PORT WORKER_MPORT=$DAEMON_MPORT
}

# start_daemon DIR NAME COMMAND...: COMMAND with gRPC and metrics on 127.0.0.1
# ephemeral ports (port files DIR/NAME.port and DIR/NAME.mport), in the
# background, output in DIR/NAME.log, its pid DAEMON_PID added to PIDS. Waits
# for both port files, START_WAIT_S (default 10) s each; sets DAEMON_PORT and
# DAEMON_MPORT. Under timeout 300: should the script be SIGKILLed (no trap
# runs), the daemon still ends within 5 minutes; timeout passes a TERM on.
start_daemon() {
  local dir=$1 name=$2
  shift 2
  timeout 300 "$@" --listen=127.0.0.1:0 --port_file="$dir/$name.port" \
    --metrics_listen=127.0.0.1:0 --metrics_port_file="$dir/$name.mport" >"$dir/$name.log" 2>&1 &
  DAEMON_PID=$!
  PIDS+=("$DAEMON_PID")
  wait_file "$dir/$name.port" "$DAEMON_PID" "memmgr-$name" "$dir/$name.log" "${START_WAIT_S:-10}"
  wait_file "$dir/$name.mport" "$DAEMON_PID" "memmgr-$name" "$dir/$name.log" "${START_WAIT_S:-10}"
  DAEMON_PORT=$(<"$dir/$name.port")
  DAEMON_MPORT=$(<"$dir/$name.mport")
}
